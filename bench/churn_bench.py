"""Backtest churn: how many plans the strategy makes in each market phase, and what they cost.

Replays the real BTC history in ../shared/data/btc.csv from 2015-01-01 to its last day with
$400,000 (BTC only, so the tactical sleeve is WBTC, clamped by the 25 % single-position cap)
and prints plans per phase against days per phase, fills, gas, fees and slippage, and the
annualised return. Run it on two commits to compare them:

    python -m bench churn_bench
    python -m bench.churn_bench [PATH-TO-BTC.CSV]
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

from adapters.history.coinmetrics import load_history
from application.backtest import STRATEGY, run_and_summarise
from domain.backtest import BacktestConfig
from domain.market import MarketPhase

REAL_HISTORY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "btc.csv"
START = date(2015, 1, 1)
CAPITAL = Decimal(400_000)


def measure(path: Path) -> None:
    """Print plans per phase, costs and the annualised return of the replay of `path`."""
    observations = load_history(path, start=START)
    run = run_and_summarise(observations, BacktestConfig(capital=CAPITAL))
    result, summary = run.result, run.summary
    phase_of = dict(zip(result.days, result.phases, strict=True))
    plans = Counter(phase_of[d.day] for d in result.decisions)
    days = result.phase_days()
    print(f"   {result.days[0]} to {result.days[-1]}, ${CAPITAL:,.0f}, BTC only")
    for phase in MarketPhase:
        print(f"   {phase.value:>12}: {plans[phase]:>4} plans on {days[phase]:>5} days")
    apy = summary.curve(STRATEGY).performance.apy
    print(
        f"   {len(result.decisions)} plans, {summary.fills} fills, "
        f"gas ${result.gas_paid_usd:,.0f}, fees and slippage ${result.slippage_paid_usd:,.0f}, "
        f"annualised {'n/a' if apy is None else f'{apy * 100:.2f} %'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Measure the history at the path given, or at ../shared/data/btc.csv; skip if absent."""
    path = Path(argv[0]) if argv else REAL_HISTORY
    if not path.is_file():
        print(f"   history not found at {path.resolve()}: skipped")
        return 0
    measure(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
