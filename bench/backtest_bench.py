"""Backtest speed: ten years of daily data through the live decision code, on one core.

Runs the simulated full-cycle market (BTC, ETH, MVRV, funding, Fear & Greed) for 3,653 days,
and the real BTC history in ../shared/data/btc.csv (2016-2025) when it is there. The budget is
2 s per ten-year replay (the replay loop plus its performance figures, without file reading
or charts).

The whole command as a person runs it, `treasury backtest --data ../shared/data/btc.csv` (the
file's every day, 2010-2026; start-up, file reading and the printed report included), is timed
under `/usr/bin/time -v` (see `measure.py`); its budget is 3 s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from adapters.history.coinmetrics import load_history
from adapters.market.simulated import Scenario, SimulatedMarket
from application.backtest import run_and_summarise
from bench.cli_bench import cli_environment
from bench.measure import record, time_command
from domain.backtest import BacktestConfig
from domain.history import DailyObservation

TEN_YEARS = 3_653
BUDGET_S = 2.0
COMMAND_BUDGET_S = 3.0
REAL_HISTORY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "btc.csv"


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


def _time(name: str, observations: Sequence[DailyObservation]) -> bool:
    config = BacktestConfig(capital=Decimal(400_000))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run = run_and_summarise(observations, config)
        best = min(best, time.perf_counter() - started)
    ok = best < BUDGET_S
    print(
        f"   {name}: {len(observations)} days in {best:.3f} s "
        f"({best / len(observations) * 1e6:.0f} us/day, {run.summary.fills} fills) "
        f"{'ok' if ok else 'OVER'} budget {BUDGET_S:.1f} s"
    )
    return ok


def main() -> int:
    """Time the replays (best of three) and return 1 if one is over budget."""
    market = SimulatedMarket(clock=_Clock(), scenario=Scenario.FULL_CYCLE, seed=7)
    results = [_time("simulated full cycle, BTC+ETH", market.history(TEN_YEARS))]
    if REAL_HISTORY.exists():
        real = load_history(REAL_HISTORY, start=date(2016, 1, 1), end=date(2025, 12, 31))
        results.append(_time("real BTC 2016-2025", real))
    else:
        print(f"   real history not found at {REAL_HISTORY.resolve()}: skipped")
    if not REAL_HISTORY.exists():
        return 0 if all(results) else 1
    env = cli_environment()
    command = time_command(
        [
            sys.executable,
            "-m",
            "entrypoints.cli.main",
            "backtest",
            "--data",
            str(REAL_HISTORY.resolve()),
        ],
        env,
    )
    within = command.wall_s <= COMMAND_BUDGET_S
    print(
        f"   treasury backtest --data btc.csv (whole command, every day of the file): {command}; "
        f"budget {COMMAND_BUDGET_S:.0f} s: {'within' if within else 'OVER'}"
    )
    record(
        "backtest, whole command wall (start-up included; btc.csv, 2010-2026)",
        f"{command.wall_s:.2f} s, CPU {command.cpu_s:.2f} s, {command.rss_mib:.0f} MiB",
        f"<= {COMMAND_BUDGET_S:.0f} s",
        within,
    )
    return 0 if all(results) else 1
