"""Backtest use case: replay history (domain.backtest) and measure it (domain.performance).

The replay itself is the pure domain loop; this module runs it and turns its equity curves into
the figures the report shows, with the spec's two claims tested on them: 24 % to 44 % in six
months, and 2-3x the static yield.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from domain.backtest import (
    LIVE_DECISIONS,
    SIX_MONTHS_DAYS,
    BacktestConfig,
    BacktestResult,
    DayCallback,
    DecisionFunctions,
    OrderOutcome,
    run_backtest,
)
from domain.history import DailyObservation
from domain.market import MarketPhase
from domain.money import ZERO
from domain.performance import (
    EquityPoint,
    PerformanceReport,
    RiskAdjustedReturn,
    TradeRecord,
    flow_free_returns,
    performance_report,
    risk_adjusted,
)
from domain.precision import in_maths_context

SPEC_SIX_MONTH_LOW = Decimal("0.24")
SPEC_SIX_MONTH_HIGH = Decimal("0.44")
SPEC_MULTIPLE_LOW = Decimal(2)
SPEC_MULTIPLE_HIGH = Decimal(3)
CLAIM_HELD_SHARE = Decimal("0.5")
"""A claim about six months holds when at least this share of six-month windows bears it out."""
STRATEGY = "strategy"
STATIC_YIELD = "static_yield"


@dataclass(frozen=True, slots=True, kw_only=True)
class SixMonthWindows:
    """Returns over every rolling six-month (182-day) window of a curve.

    `share_in_spec_range` counts windows whose return lies inside the spec's 24 % to 44 %
    (both ends included); `share_above_spec_range` those above 44 %.
    """

    count: int
    best: Decimal | None
    worst: Decimal | None
    median: Decimal | None
    share_in_spec_range: Decimal | None
    share_above_spec_range: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MultipleWindows:
    """The strategy's six-month return as a multiple of the static yield's, window by window.

    `share_in_claimed_range` counts windows at 2x to 3x the static yield's return (both ends
    included), `share_at_least_low` those at 2x or more, `share_below_static` those where the
    strategy earned less than the static yield.
    """

    count: int
    share_in_claimed_range: Decimal | None
    share_at_least_low: Decimal | None
    share_below_static: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CurveSummary:
    """One equity curve (the strategy or a baseline) measured.

    `performance` is at a zero risk-free rate; `at_static_yield` gives Sharpe and Sortino with
    the static yield's annualised return as the risk-free rate, the treasury's alternative.
    """

    name: str
    performance: PerformanceReport
    at_static_yield: RiskAdjustedReturn
    six_months: SixMonthWindows


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecVerdict:
    """Whether the spec's claims held on this run, with the figures they were judged on.

    Both claims are about the spec's six-month horizon, so each holds when at least half of the
    six-month windows fall inside the claimed range (`CLAIM_HELD_SHARE`). The full-period
    multiple of the static yield's annualised return is reported beside it, with whether it
    lies inside 2x to 3x, but does not decide the verdict.
    """

    six_month_median: Decimal | None
    six_month_share_in_range: Decimal | None
    six_month_share_above_range: Decimal | None
    six_month_claim_held: bool
    apy_multiple_of_static: Decimal | None
    full_period_multiple_in_range: bool
    multiple_windows: MultipleWindows
    multiple_claim_held: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestSummary:
    """Everything a report shows about one run."""

    first_day: date
    last_day: date
    capital: Decimal
    static_yield_rate: Decimal
    curves: tuple[CurveSummary, ...]
    fills: int
    decisions_by_outcome: dict[OrderOutcome, int]
    gas_paid_usd: Decimal
    slippage_paid_usd: Decimal
    phase_days: dict[MarketPhase, int]
    tactical_assets: tuple[str, ...]
    verdict: SpecVerdict

    def curve(self, name: str) -> CurveSummary:
        """The summary of one curve by name.

        Raises:
            KeyError: no curve has that name.
        """
        for curve in self.curves:
            if curve.name == name:
                return curve
        raise KeyError(name)


def judge_claims(
    strategy: SixMonthWindows, multiple: MultipleWindows, full_period_multiple: Decimal | None
) -> SpecVerdict:
    """Judge the spec's two claims on the strategy's six-month windows."""
    in_range = strategy.share_in_spec_range
    windows_in_range = multiple.share_in_claimed_range
    return SpecVerdict(
        six_month_median=strategy.median,
        six_month_share_in_range=in_range,
        six_month_share_above_range=strategy.share_above_spec_range,
        six_month_claim_held=in_range is not None and in_range >= CLAIM_HELD_SHARE,
        apy_multiple_of_static=full_period_multiple,
        full_period_multiple_in_range=full_period_multiple is not None
        and SPEC_MULTIPLE_LOW <= full_period_multiple <= SPEC_MULTIPLE_HIGH,
        multiple_windows=multiple,
        multiple_claim_held=windows_in_range is not None and windows_in_range >= CLAIM_HELD_SHARE,
    )


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _window_pairs(days: Sequence[date]) -> list[tuple[int, int]]:
    """(start, end) indices of every window from a day to the day 182 days later."""
    index = {d: i for i, d in enumerate(days)}
    pairs = []
    for i, day in enumerate(days):
        j = index.get(day + timedelta(days=SIX_MONTHS_DAYS))
        if j is not None:
            pairs.append((i, j))
    return pairs


def _share(hits: int, count: int) -> Decimal:
    return Decimal(hits) / Decimal(count)


@in_maths_context
def six_month_windows(days: Sequence[date], values: Sequence[Decimal]) -> SixMonthWindows:
    """Time-weighted return over each window from a day to the day 182 days later."""
    returns = flow_free_returns(
        (values[i], values[j]) for i, j in _window_pairs(days) if values[i] > 0
    )
    if not returns:
        return SixMonthWindows(
            count=0,
            best=None,
            worst=None,
            median=None,
            share_in_spec_range=None,
            share_above_spec_range=None,
        )
    ordered = sorted(returns)
    middle = len(ordered) // 2
    median = (
        ordered[middle]
        if len(ordered) % 2
        else (ordered[middle - 1] + ordered[middle]) / Decimal(2)
    )
    inside = sum(1 for r in ordered if SPEC_SIX_MONTH_LOW <= r <= SPEC_SIX_MONTH_HIGH)
    above = sum(1 for r in ordered if r > SPEC_SIX_MONTH_HIGH)
    return SixMonthWindows(
        count=len(ordered),
        best=ordered[-1],
        worst=ordered[0],
        median=median,
        share_in_spec_range=_share(inside, len(ordered)),
        share_above_spec_range=_share(above, len(ordered)),
    )


@in_maths_context
def multiple_of_static_windows(
    days: Sequence[date], strategy: Sequence[Decimal], static: Sequence[Decimal]
) -> MultipleWindows:
    """How the strategy's six-month returns compare with the static yield's, window by window.

    Windows where the static yield earned nothing (or its curve starts at zero) have no
    multiple and are left out.
    """
    inside = at_least = below = count = 0
    kept = [(i, j) for i, j in _window_pairs(days) if strategy[i] > 0 and static[i] > 0]
    static_returns = flow_free_returns((static[i], static[j]) for i, j in kept)
    strategy_returns = flow_free_returns((strategy[i], strategy[j]) for i, j in kept)
    for theirs, ours in zip(static_returns, strategy_returns, strict=True):
        if theirs <= 0:
            continue
        multiple = ours / theirs
        count += 1
        inside += SPEC_MULTIPLE_LOW <= multiple <= SPEC_MULTIPLE_HIGH
        at_least += multiple >= SPEC_MULTIPLE_LOW
        below += multiple < 1
    if count == 0:
        return MultipleWindows(
            count=0, share_in_claimed_range=None, share_at_least_low=None, share_below_static=None
        )
    return MultipleWindows(
        count=count,
        share_in_claimed_range=_share(inside, count),
        share_at_least_low=_share(at_least, count),
        share_below_static=_share(below, count),
    )


def _points(days: Sequence[date], values: Sequence[Decimal]) -> list[EquityPoint]:
    return [EquityPoint(at=_at(d), value_usd=v) for d, v in zip(days, values, strict=True)]


def _static_yield_rate(days: Sequence[date], values: Sequence[Decimal]) -> Decimal:
    """The static yield curve's annualised return: the risk-free rate of its alternative."""
    report = performance_report(_points(days, values), (), _at(days[0]), _at(days[-1]))
    return report.apy if report.apy is not None else ZERO


def _curve(
    name: str,
    days: Sequence[date],
    values: Sequence[Decimal],
    trades: Sequence[TradeRecord],
    static_yield_rate: Decimal,
) -> CurveSummary:
    points = _points(days, values)
    report = performance_report(points, trades, _at(days[0]), _at(days[-1]))
    return CurveSummary(
        name=name,
        performance=report,
        at_static_yield=risk_adjusted(points, static_yield_rate),
        six_months=six_month_windows(days, values),
    )


@in_maths_context
def summarise(result: BacktestResult, config: BacktestConfig) -> BacktestSummary:
    """Measure the strategy and every baseline, and judge the spec's claims."""
    trades = [
        TradeRecord(
            at=_at(f.day),
            amount_usd=f.amount_usd,
            gas_usd=f.gas_usd,
            slippage_usd=f.slippage_usd,
            succeeded=True,
        )
        for f in result.fills
    ]
    rate = _static_yield_rate(result.days, result.baselines[STATIC_YIELD])
    curves = [_curve(STRATEGY, result.days, result.equity, trades, rate)]
    curves += [
        _curve(name, result.days, values, [], rate) for name, values in result.baselines.items()
    ]
    strategy = curves[0]
    static = next(c for c in curves if c.name == STATIC_YIELD)
    ours, theirs = strategy.performance.apy, static.performance.apy
    multiple = ours / theirs if ours is not None and theirs is not None and theirs > 0 else None
    windows = multiple_of_static_windows(result.days, result.equity, result.baselines[STATIC_YIELD])
    outcomes = {o: 0 for o in OrderOutcome}
    for decision in result.decisions:
        outcomes[decision.outcome] += 1
    return BacktestSummary(
        first_day=result.days[0],
        last_day=result.days[-1],
        capital=config.capital,
        static_yield_rate=rate,
        curves=tuple(curves),
        fills=len(result.fills),
        decisions_by_outcome=outcomes,
        gas_paid_usd=result.gas_paid_usd,
        slippage_paid_usd=result.slippage_paid_usd,
        phase_days=result.phase_days(),
        tactical_assets=result.tactical_assets,
        verdict=judge_claims(strategy.six_months, windows, multiple),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRun:
    """A replay and its measurements."""

    result: BacktestResult
    summary: BacktestSummary


def run_and_summarise(
    observations: Sequence[DailyObservation],
    config: BacktestConfig,
    *,
    functions: DecisionFunctions = LIVE_DECISIONS,
    on_day: DayCallback | None = None,
) -> BacktestRun:
    """Replay the history through the live decision code and measure the outcome.

    Raises:
        InvalidValue: the history has fewer than two days or is out of order.
    """
    result = run_backtest(observations, config, functions=functions, on_day=on_day)
    return BacktestRun(result=result, summary=summarise(result, config))
