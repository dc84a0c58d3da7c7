"""Walk-forward use case: tune a policy variant on one window, judge it on a later one.

Every variant of the declared grid (domain.walk_forward) is replayed on the tuning window and
on the test window, so the report shows the whole grid on both and nobody can cherry-pick. The
choice reads the tuning figures only; the spec's policy stays the default unless the chosen
variant wins on the test window (domain.walk_forward.wins_out_of_sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from application.backtest import BacktestSummary, run_and_summarise
from domain.backtest import BacktestConfig
from domain.errors import InvalidValue
from domain.history import DailyObservation
from domain.walk_forward import (
    PolicyVariant,
    VariantScore,
    apply_variant,
    choose,
    policy_grid,
    wins_out_of_sample,
)

STRATEGY = "strategy"
VariantCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkForwardWindows:
    """The tuning window and the later test window (first and last days, inclusive)."""

    tune_from: date
    tune_to: date
    test_from: date
    test_to: date

    def __post_init__(self) -> None:
        if self.tune_to < self.tune_from:
            raise InvalidValue("tune_to", self.tune_to, "must not be before tune_from")
        if self.test_to < self.test_from:
            raise InvalidValue("test_to", self.test_to, "must not be before test_from")
        if self.test_from <= self.tune_to:
            raise InvalidValue("test_from", self.test_from, "must be after the tuning window")


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantRun:
    """One variant replayed on both windows."""

    variant: PolicyVariant
    is_default: bool
    tuning: BacktestSummary
    test: BacktestSummary


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkForwardResult:
    """The grid on both windows, the variant chosen on the tuning window, and the verdict."""

    windows: WalkForwardWindows
    runs: tuple[VariantRun, ...]
    chosen: VariantRun
    default: VariantRun
    adopted: bool


def _score(run: VariantRun, summary: BacktestSummary) -> VariantScore:
    curve = summary.curve(STRATEGY)
    return VariantScore(
        variant=run.variant,
        sharpe=curve.at_static_yield.sharpe,
        max_drawdown=curve.performance.max_drawdown.depth,
    )


def score_on_tuning(run: VariantRun) -> VariantScore:
    """The run's figures on the tuning window."""
    return _score(run, run.tuning)


def score_on_test(run: VariantRun) -> VariantScore:
    """The run's figures on the test window."""
    return _score(run, run.test)


def _between(
    observations: Sequence[DailyObservation], first: date, last: date
) -> list[DailyObservation]:
    return [o for o in observations if first <= o.day <= last]


def run_walk_forward(
    observations: Sequence[DailyObservation],
    config: BacktestConfig,
    windows: WalkForwardWindows,
    *,
    grid: Sequence[PolicyVariant] | None = None,
    on_variant: VariantCallback | None = None,
) -> WalkForwardResult:
    """Replay every variant on both windows, choose on the tuning window, judge on the test.

    The first variant of the grid is the default (`policy_grid` puts the configured policy
    first).

    Raises:
        InvalidValue: a window holds fewer than two days, or the grid is empty.
    """
    variants = tuple(grid) if grid is not None else policy_grid(config.strategy)
    if not variants:
        raise InvalidValue("grid", 0, "the grid is empty")
    tuning = _between(observations, windows.tune_from, windows.tune_to)
    test = _between(observations, windows.test_from, windows.test_to)
    runs: list[VariantRun] = []
    for number, variant in enumerate(variants):
        varied = replace(config, strategy=apply_variant(config.strategy, variant))
        runs.append(
            VariantRun(
                variant=variant,
                is_default=number == 0,
                tuning=run_and_summarise(tuning, varied).summary,
                test=run_and_summarise(test, varied).summary,
            )
        )
        if on_variant is not None:
            on_variant(number + 1, len(variants))
    best = choose([score_on_tuning(r) for r in runs])
    chosen = next(r for r in runs if r.variant == best.variant)
    default = runs[0]
    return WalkForwardResult(
        windows=windows,
        runs=tuple(runs),
        chosen=chosen,
        default=default,
        adopted=wins_out_of_sample(score_on_test(chosen), score_on_test(default)),
    )
