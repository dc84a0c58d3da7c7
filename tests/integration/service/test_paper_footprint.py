"""The paper service's footprint: what a started service holds in memory.

A paper service with the rules advisor never talks to Claude, and its contracts are compiled
once, by a child process, into a cache under the data dir: neither the anthropic SDK (about
75 MiB and 3,400 modules) nor the Vyper compiler (about 20 MiB) belongs in its memory, nor the
report's charting library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(seconds=60)

SRC = Path(__file__).resolve().parents[3] / "src"
HEAVY = ("anthropic", "vyper", "matplotlib")

_START = """
import asyncio, json, sys
from entrypoints.container import AppSettings, bootstrap

async def main() -> None:
    runtime = await bootstrap(AppSettings.load())
    try:
        loaded = sorted(name for name in {heavy!r} if name in sys.modules)
    finally:
        await runtime.aclose()
    print(json.dumps(loaded))

asyncio.run(main())
"""


def _start_paper_service(data_dir: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    env.update(
        PYTHONPATH=str(SRC),
        TREASURY_MODE="paper",
        TREASURY_DATA_DIR=str(data_dir),
        TREASURY_API_TOKENS="footprint-operator-token-01:approver",
        TREASURY_LOG_LEVEL="WARNING",
    )
    done = subprocess.run(
        [sys.executable, "-c", _START.format(heavy=HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_a_paper_service_loads_neither_claude_nor_the_vyper_compiler(tmp_path: Path) -> None:
    # A first start: its contracts are compiled (into the cache under the data dir) by a
    # child process, so not even this start keeps the compiler.
    assert _start_paper_service(tmp_path) == []
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "devchain" / "compiled").glob("*.json"))
