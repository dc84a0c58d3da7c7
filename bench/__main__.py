"""Run every benchmark module (`bench/*_bench.py`), each printing its own figures."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main() -> int:
    """Import each `*_bench.py` beside this file and call its `main()`; return a shell status."""
    here = Path(__file__).resolve().parent
    modules = sorted(p.stem for p in here.glob("*_bench.py"))
    if not modules:
        print("no benchmarks found")
        return 1
    only = set(sys.argv[1:])
    failures = 0
    for name in modules:
        if only and name not in only:
            continue
        print(f"== {name}")
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        status = module.main()
        print(f"   ({time.perf_counter() - started:.1f} s)")
        failures += 1 if status else 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
