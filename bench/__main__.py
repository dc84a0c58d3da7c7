"""Run every benchmark module (`bench/*_bench.py`), each printing its own figures, then the
must-show figures as one Markdown table (the README's benchmark table is copied from it).

It refuses to start when a tool it needs (GNU time, wrk) is missing, naming how to get it."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

from bench.measure import FIGURES, figures_table, machine_load, machine_speed, missing_tools


def main() -> int:
    """Import each `*_bench.py` beside this file and call its `main()`; return a shell status."""
    here = Path(__file__).resolve().parent
    modules = sorted(p.stem for p in here.glob("*_bench.py"))
    if not modules:
        print("no benchmarks found")
        return 1
    missing = missing_tools()
    if missing:
        for line in missing:
            print(f"make bench: {line}", file=sys.stderr)
        return 2
    only = set(sys.argv[1:])
    failures = 0
    print(
        f"== machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{machine_load()}; {machine_speed()}"
    )
    for name in modules:
        if only and name not in only:
            continue
        print(f"== {name}")
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        status = module.main()
        print(f"   ({time.perf_counter() - started:.1f} s)")
        failures += 1 if status else 0
    if FIGURES:
        print(f"== must-show figures ({machine_load()}; {machine_speed()} at the end)")
        print(figures_table())
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
