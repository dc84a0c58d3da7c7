"""The `treasury` command's start-up: `treasury --help` wall time and memory, beside the bare
interpreter's start-up (`python -c pass`) as the peer.

`treasury status --json` against a running service is measured by `service_bench.py`, which
has the service up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.measure import gnu_time_available, machine_load, record, time_command

ROOT = Path(__file__).resolve().parents[1]
HELP_BUDGET_S = 0.5


def cli_environment() -> dict[str, str]:
    """This checkout's sources first, no `TREASURY_*` settings from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    env["PYTHONPATH"] = f"{ROOT}/src"
    return env


def main() -> int:
    """Print the figures; return 0."""
    env = cli_environment()
    print(f"   conditions: {machine_load()}")
    if not gnu_time_available():
        print("   treasury --help: not measured, GNU time is missing (apt-get install time)")
        return 1
    bare = time_command([sys.executable, "-c", "pass"], env)
    help_ = time_command([sys.executable, "-m", "entrypoints.cli.main", "--help"], env)
    print(f"   python -c pass (the interpreter alone): {bare}")
    print(
        f"   treasury --help: {help_}; {help_.wall_s / bare.wall_s:.1f}x the bare interpreter; "
        f"budget {HELP_BUDGET_S} s: {'within' if help_.wall_s <= HELP_BUDGET_S else 'OVER'}"
    )
    record(
        "`treasury --help` wall",
        f"{help_.wall_s:.2f} s ({help_.wall_s / bare.wall_s:.1f}x `python -c pass`), "
        f"CPU {help_.cpu_s:.2f} s, {help_.rss_mib:.0f} MiB",
        f"<= {HELP_BUDGET_S} s",
        help_.wall_s <= HELP_BUDGET_S,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
