"""The backtest runs the live decision code: the domain's signal, propose, planner and policy.

The real functions are wrapped with counters (not replaced), so the run's outcome is the same
with and without the wrappers, and the counts match the hand-worked full cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import domain.planner
import domain.safety
import domain.signals
import domain.strategy
from domain.backtest import DecisionFunctions, run_backtest
from tests.unit.backtest.series import free_config, history
from tests.unit.backtest.test_hand_computed import CYCLE_MVRV


def _counting(calls: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return real(*args, **kwargs)

    return wrapper


def test_every_day_runs_the_domain_signal_and_every_due_rebalance_the_planner_and_policy() -> None:
    calls: Counter[str] = Counter()
    functions = DecisionFunctions(
        signal=_counting(calls, "signal", domain.signals.generate_signal),
        propose=_counting(calls, "propose", domain.strategy.propose),
        planner=_counting(calls, "planner", domain.planner.plan_rebalance),
        policy=_counting(calls, "policy", domain.safety.evaluate),
    )
    rows = history([10_000] * len(CYCLE_MVRV), CYCLE_MVRV)

    counted = run_backtest(rows, free_config(), functions=functions)
    plain = run_backtest(rows, free_config())

    # Signal daily (15). Propose every day but the last (14): each order fills the next
    # morning, before that day's decision, so none is waiting. Plans: deposits (day 1, MVRV
    # still unknown), BTC (day 2), rungs 3.5 / 5 / 7 (days 5, 7, 9) and the buy-back in
    # accumulation (day 14): 6 planner and policy calls. On the way down (days 11, 12, 13) the
    # ratchet holds the exposure, so those crossings force nothing.
    assert calls["signal"] == len(rows)
    assert calls["planner"] == 6
    assert calls["policy"] == 6
    assert calls["propose"] == len(rows) - 1
    assert counted == plain
    assert len(counted.decisions) == 6
