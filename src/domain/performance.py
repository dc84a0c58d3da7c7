"""Performance mathematics: time-weighted returns, APY, risk ratios, drawdown and trade costs.

The input is an equity series: `EquityPoint`s giving the treasury's value at a moment and the
external money (deposit +, withdrawal -) that arrived at that moment and is already included in
the value. Points may be irregular (hourly snapshots, gaps) and arrive in any order; every function
takes them in time order, and points sharing a timestamp keep their given order.

Time-weighted return (TWR). Between consecutive points i-1 and i the growth factor is

    g_i = (V_i - F_i) / V_{i-1}

so money that arrives is never counted as performance. A sub-period that starts from a value of
zero has no return to measure and counts as g_i = 1. The TWR over a run of points is
prod(g_i) - 1; the flow at the first point of a run is part of its starting value, not a return.

Precision. Nothing here rounds on purpose: sums and products of terminating decimals are exact,
and divisions, powers and square roots are rounded to `domain.precision.MATHS_CONTEXT` (28
significant digits), which every public function here sets, so no figure depends on the
process's ambient context. Chains of growth factors run with 12 guard digits and are
rounded once, so the TWR stays accurate to the context's precision however many points it spans.
Round for display at the edge (`domain.money.round_usd`, or `quantize` for fractions and ratios).

Annualisation uses 365 days a year, since crypto markets trade every day.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, Overflow, localcontext
from itertools import pairwise

from domain.errors import DomainError, InvalidValue
from domain.money import ONE, ZERO, require_aware, require_fraction, require_non_negative
from domain.precision import in_maths_context

DAYS_PER_YEAR = Decimal(365)
BASIS_POINTS = Decimal(10_000)
_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)
_GUARD_DIGITS = 12
# A standard window is measured from the last point at or before its start only when that point
# is no further before the start than this fraction of the window (2.4 h for 24 h): otherwise
# the "24 h" return of sparse snapshots would silently span days.
WINDOW_START_TOLERANCE = Decimal("0.1")


class InsufficientHistory(DomainError):
    """The equity series has no point at or before the start of the requested range."""

    def __init__(self, start: datetime, earliest: datetime | None) -> None:
        self.start = start
        self.earliest = earliest
        where = f"history begins at {earliest.isoformat()}" if earliest else "there is no history"
        super().__init__(f"no equity point at or before {start.isoformat()}; {where}")


def _require_decimal(value: object, field: str) -> Decimal:
    """Return `value` if it is a finite Decimal.

    Raises:
        InvalidValue: the value is not a Decimal (a float, say) or not finite.
    """
    if not isinstance(value, Decimal):
        raise InvalidValue(field, value, "must be a Decimal (build it from str or int)")
    if not value.is_finite():
        raise InvalidValue(field, value, "must be finite")
    return value


def _require_rate(value: object, field: str) -> Decimal:
    """Return `value` if it is a finite Decimal above -1 (a rate that leaves something).

    Raises:
        InvalidValue: the rate is not a finite Decimal, or is -1 or below.
    """
    rate = _require_decimal(value, field)
    if rate <= -ONE:
        raise InvalidValue(field, rate, "must be above -1")
    return rate


@dataclass(frozen=True, slots=True, kw_only=True)
class EquityPoint:
    """The treasury's value at one moment, and the external money that arrived then.

    `net_flow_usd` is a deposit (+) or withdrawal (-) that arrived at `at`; `value_usd` already
    includes it, so `value_usd - net_flow_usd` is the value just before the flow.
    """

    at: datetime
    value_usd: Decimal
    net_flow_usd: Decimal = ZERO

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_non_negative(_require_decimal(self.value_usd, "value_usd"), "value_usd")
        _require_decimal(self.net_flow_usd, "net_flow_usd")
        if self.value_usd - self.net_flow_usd < ZERO:
            raise InvalidValue(
                "net_flow_usd",
                self.net_flow_usd,
                f"a deposit cannot exceed the value {self.value_usd} that includes it",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeRecord:
    """One executed (or reverted) trade with what it cost.

    `slippage_usd` may be negative: a fill better than quoted is a saving. A reverted trade
    moves nothing but its gas is still spent.
    """

    at: datetime
    amount_usd: Decimal
    gas_usd: Decimal
    slippage_usd: Decimal
    succeeded: bool

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_non_negative(_require_decimal(self.amount_usd, "amount_usd"), "amount_usd")
        require_non_negative(_require_decimal(self.gas_usd, "gas_usd"), "gas_usd")
        _require_decimal(self.slippage_usd, "slippage_usd")


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeStatistics:
    """Counts, volume and costs of a set of trades.

    Volume counts succeeded trades only (a reverted trade moves nothing); gas and slippage count
    every trade. `average_cost_bps` is total cost over volume in basis points, None without volume.
    """

    count: int
    succeeded: int
    failed: int
    volume_usd: Decimal
    gas_usd: Decimal
    slippage_usd: Decimal
    total_cost_usd: Decimal
    average_cost_bps: Decimal | None

    def __post_init__(self) -> None:
        if self.succeeded < 0 or self.failed < 0 or self.count != self.succeeded + self.failed:
            raise InvalidValue(
                "count", (self.count, self.succeeded, self.failed), "must be succeeded + failed"
            )
        require_non_negative(self.volume_usd, "volume_usd")
        require_non_negative(self.gas_usd, "gas_usd")
        if self.total_cost_usd != self.gas_usd + self.slippage_usd:
            raise InvalidValue("total_cost_usd", self.total_cost_usd, "must be gas + slippage")


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyReturn:
    """The time-weighted return of one UTC calendar day, close to close."""

    day: date
    value: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxDrawdown:
    """The deepest fall of the time-weighted index from a running peak.

    `depth` is a fraction in [0, 1] (0.25 = the index fell 25 % below its peak). `recovered_at`
    is the first point after the trough where the index is back at the peak, or None if it has
    not recovered. A series that never falls has depth 0, with peak and trough at its first
    point and no recovery.
    """

    depth: Decimal
    peak_at: datetime
    trough_at: datetime
    recovered_at: datetime | None = None

    def __post_init__(self) -> None:
        require_fraction(self.depth, "depth")
        require_aware(self.peak_at, "peak_at")
        require_aware(self.trough_at, "trough_at")
        if self.trough_at < self.peak_at:
            raise InvalidValue("trough_at", self.trough_at, "must not be before the peak")
        if self.recovered_at is not None:
            require_aware(self.recovered_at, "recovered_at")
            if self.recovered_at <= self.trough_at:
                raise InvalidValue("recovered_at", self.recovered_at, "must be after the trough")


@dataclass(frozen=True, slots=True, kw_only=True)
class StandardWindows:
    """Time-weighted returns over the last 24 hours, 7 days and 30 days; None where the
    history has no point near the start of the window (see `standard_windows`)."""

    day: Decimal | None
    week: Decimal | None
    month: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceReport:
    """Performance over a requested range.

    `start`/`end` are the range asked for; `measured_from`/`measured_to` are the times of the
    points actually used (the last point at or before each bound). Values and flows are in USD;
    returns, APY and volatility are fractions; Sharpe and Sortino are annualised ratios.
    `pnl_usd` is the dollar gain: end value minus start value minus net flows.
    """

    start: datetime
    end: datetime
    measured_from: datetime
    measured_to: datetime
    start_value_usd: Decimal
    end_value_usd: Decimal
    net_flows_usd: Decimal
    pnl_usd: Decimal
    time_weighted_return: Decimal
    apy: Decimal | None
    volatility: Decimal | None
    sharpe: Decimal | None
    sortino: Decimal | None
    risk_free_rate: Decimal
    daily_return_count: int
    max_drawdown: MaxDrawdown
    trades: TradeStatistics

    def __post_init__(self) -> None:
        for field in ("start", "end", "measured_from", "measured_to"):
            require_aware(getattr(self, field), field)
        if self.end < self.start:
            raise InvalidValue("end", self.end, "must not be before start")
        if self.measured_to < self.measured_from:
            raise InvalidValue("measured_to", self.measured_to, "must not be before measured_from")
        require_non_negative(self.start_value_usd, "start_value_usd")
        require_non_negative(self.end_value_usd, "end_value_usd")
        if self.time_weighted_return < -ONE:
            raise InvalidValue("time_weighted_return", self.time_weighted_return, "below -100 %")
        _require_rate(self.risk_free_rate, "risk_free_rate")
        if self.daily_return_count < 0:
            raise InvalidValue("daily_return_count", self.daily_return_count, "must be >= 0")


# ---------------------------------------------------------------------------------------------
# Returns


def _ordered(series: Iterable[EquityPoint]) -> list[EquityPoint]:
    """The points in time order; a stable sort keeps the given order of equal timestamps."""
    return sorted(series, key=lambda point: point.at)


def _growth(previous: EquityPoint, point: EquityPoint) -> Decimal:
    """The growth factor of the sub-period ending at `point`; 1 when it starts from zero."""
    if previous.value_usd == ZERO:
        return ONE
    return (point.value_usd - point.net_flow_usd) / previous.value_usd


def _chain(points: Sequence[EquityPoint]) -> Decimal:
    """The product of the growth factors across consecutive points (1 for one point).

    The chain runs with guard digits and is rounded once to the active context, so long runs of
    hourly factors do not pile up rounding and flow-free runs telescope to V_end / V_start.
    """
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        factor = ONE
        for previous, point in pairwise(points):
            factor *= _growth(previous, point)
    return +factor


@in_maths_context
def time_weighted_return(series: Iterable[EquityPoint]) -> Decimal | None:
    """The time-weighted return from the first point to the last.

    Deposits and withdrawals are not performance; see the module docstring for the formula.
    Returns 0 for a single point and None for an empty series.
    """
    points = _ordered(series)
    if not points:
        return None
    return _chain(points) - ONE


@in_maths_context
def flow_free_returns(periods: Iterable[tuple[Decimal, Decimal]]) -> list[Decimal]:
    """For each (start value, end value), the time-weighted return from a point worth the
    first to a later one worth the second with no flow at either: exactly what
    `time_weighted_return` gives for those two points, without building them (a backtest
    measures tens of thousands of such windows).

    Raises:
        InvalidValue: a value is not a finite Decimal, or is negative.
    """
    factors: list[Decimal] = []
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        for start, end in periods:
            require_non_negative(_require_decimal(start, "start_value"), "start_value")
            require_non_negative(_require_decimal(end, "end_value"), "end_value")
            # As `_chain` computes it: ONE times the one growth factor, with guard digits.
            factors.append(ONE * (ONE if start == ZERO else (end - ZERO) / start))
    return [+factor - ONE for factor in factors]


def flow_free_return(start_value: Decimal, end_value: Decimal) -> Decimal:
    """One period of `flow_free_returns`.

    Raises:
        InvalidValue: a value is not a finite Decimal, or is negative.
    """
    return flow_free_returns([(start_value, end_value)])[0]


def _last_at_or_before(points: Sequence[EquityPoint], moment: datetime) -> int:
    """The index of the last point at or before `moment` in time-ordered points; -1 if none."""
    return bisect_right(points, moment, key=lambda point: point.at) - 1


def _window(
    points: Sequence[EquityPoint], start: datetime, end: datetime
) -> Sequence[EquityPoint] | None:
    """The points from the last at or before `start` to the last at or before `end`.

    Raises:
        NaiveDatetime: a bound has no timezone.
        InvalidValue: `end` is before `start`.
    """
    require_aware(start, "start")
    require_aware(end, "end")
    if end < start:
        raise InvalidValue("end", end, "must not be before start")
    first = _last_at_or_before(points, start)
    if first < 0:
        return None
    return points[first : _last_at_or_before(points, end) + 1]


@in_maths_context
def returns_over(series: Iterable[EquityPoint], start: datetime, end: datetime) -> Decimal | None:
    """The time-weighted return between two moments.

    Each bound is measured at the last point at or before it, so the range is covered by what
    was known at each moment. Flows at points after the start point up to the end point are
    excluded from performance.

    Returns:
        The return as a fraction, 0 when both bounds fall on the same point, or None when no
        point lies at or before `start` (history too short).

    Raises:
        NaiveDatetime: a bound has no timezone.
        InvalidValue: `end` is before `start`.
    """
    window = _window(_ordered(series), start, end)
    if window is None:
        return None
    return _chain(window) - ONE


@in_maths_context
def standard_windows(series: Iterable[EquityPoint], now: datetime) -> StandardWindows:
    """Time-weighted returns over the 24 hours, 7 days and 30 days up to `now`.

    A window is None when no point lies within `WINDOW_START_TOLERANCE` of its length before
    its start: a return is reported only for the window it names.

    Raises:
        NaiveDatetime: `now` has no timezone.
    """
    require_aware(now, "now")
    points = _ordered(series)

    def measured(days: int) -> Decimal | None:
        start = now - timedelta(days=days)
        first = _last_at_or_before(points, start)
        gap = _elapsed_days(start - points[first].at) if first >= 0 else None
        if gap is None or gap > days * WINDOW_START_TOLERANCE:
            return None
        return returns_over(points, start, now)

    return StandardWindows(day=measured(1), week=measured(7), month=measured(30))


def _elapsed_days(elapsed: timedelta) -> Decimal:
    """A timedelta as an exact (possibly fractional) number of days."""
    microseconds = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return Decimal(microseconds) / _MICROSECONDS_PER_DAY


@in_maths_context
def annualise(total_return: Decimal, elapsed: timedelta) -> Decimal | None:
    """The annual percentage yield equivalent to `total_return` earned over `elapsed`.

    APY = (1 + R) ** (365 / days) - 1, with `days` fractional where the time is. A total loss
    (R = -1) annualises to -1.

    Returns:
        The APY as a fraction, or None when no time has elapsed (an instant has no rate) or the
        compounded figure is beyond the decimal range (a large return over seconds).

    Raises:
        InvalidValue: the return is below -1 or `elapsed` is negative.
    """
    _require_decimal(total_return, "total_return")
    if total_return < -ONE:
        raise InvalidValue("total_return", total_return, "cannot lose more than everything")
    if elapsed < timedelta(0):
        raise InvalidValue("elapsed", elapsed, "must not be negative")
    if elapsed == timedelta(0):
        return None
    try:
        grown = (ONE + total_return) ** (DAYS_PER_YEAR / _elapsed_days(elapsed))
    except Overflow:
        return None
    if not grown.is_finite():  # a context with the Overflow trap off returns Infinity
        return None
    return grown - ONE


# ---------------------------------------------------------------------------------------------
# Daily returns and risk


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


@in_maths_context
def daily_returns(series: Iterable[EquityPoint]) -> tuple[DailyReturn, ...]:
    """Time-weighted returns per UTC calendar day, close to close.

    A day's close is its last point. Each day's return chains every sub-period between the
    previous close and this one, so intraday flows are excluded exactly as in the TWR. A day
    with no point carries the last value forward: it returns 0 and the move lands on the day
    it is observed, so the daily returns always chain to the TWR between the first and last
    closes. The first day only provides the opening close, so n days give n - 1 returns.
    """
    points = _ordered(series)
    days = [_utc_day(point.at) for point in points]
    last = len(points) - 1
    closes = [
        index for index in range(len(points)) if index == last or days[index + 1] != days[index]
    ]
    # Each day's factor chains as `_chain` does (guard digits, rounded once after), in one
    # extended context for the whole series rather than one per day.
    factors: list[Decimal] = []
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        for opening, closing in pairwise(closes):
            factor = ONE
            for index in range(opening + 1, closing + 1):
                factor *= _growth(points[index - 1], points[index])
            factors.append(factor)
    result: list[DailyReturn] = []
    for (opening, closing), factor in zip(pairwise(closes), factors, strict=True):
        first_day, last_day = days[opening], days[closing]
        for gap in range(1, (last_day - first_day).days):
            result.append(DailyReturn(day=first_day + timedelta(days=gap), value=ZERO))
        result.append(DailyReturn(day=last_day, value=+factor - ONE))
    return tuple(result)


@in_maths_context
def daily_risk_free(risk_free_rate: Decimal) -> Decimal:
    """The daily rate that compounds to `risk_free_rate` over 365 days: (1 + rf) ** (1/365) - 1.

    Raises:
        InvalidValue: the rate is not a finite Decimal above -1.
    """
    rate = _require_rate(risk_free_rate, "risk_free_rate")
    return (ONE + rate) ** (ONE / DAYS_PER_YEAR) - ONE


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, ZERO) / len(values)


def _sample_stdev(values: Sequence[Decimal]) -> Decimal:
    """The sample standard deviation (n - 1 in the denominator); needs two values or more."""
    mean = _mean(values)
    return (sum(((value - mean) ** 2 for value in values), ZERO) / (len(values) - 1)).sqrt()


@in_maths_context
def annualised_volatility(daily: Sequence[Decimal]) -> Decimal | None:
    """The sample standard deviation of daily returns times sqrt(365); None under 2 returns."""
    if len(daily) < 2:
        return None
    return _sample_stdev(daily) * DAYS_PER_YEAR.sqrt()


@in_maths_context
def sharpe_ratio(daily: Sequence[Decimal], risk_free_rate: Decimal = ZERO) -> Decimal | None:
    """The annualised Sharpe ratio of daily returns.

    Sharpe = mean(r - rf_d) / stdev(r) * sqrt(365), where rf_d = (1 + rf) ** (1/365) - 1 is the
    daily risk-free rate and stdev is the sample standard deviation (n - 1).

    Returns:
        The ratio, or None with fewer than 2 returns or when the returns do not vary.

    Raises:
        InvalidValue: the risk-free rate is not a finite Decimal above -1.
    """
    rf_daily = daily_risk_free(risk_free_rate)
    if len(daily) < 2:
        return None
    deviation = _sample_stdev(daily)
    if deviation == ZERO:
        return None
    excess = _mean(daily) - rf_daily
    return excess / deviation * DAYS_PER_YEAR.sqrt()


@in_maths_context
def sortino_ratio(daily: Sequence[Decimal], risk_free_rate: Decimal = ZERO) -> Decimal | None:
    """The annualised Sortino ratio of daily returns.

    Sortino = mean(r - rf_d) / DD * sqrt(365), with the downside deviation taken over all n days
    (days above the target count as zero):

        DD = sqrt( sum( min(0, r_i - rf_d) ** 2 ) / n )

    and rf_d = (1 + rf) ** (1/365) - 1 the daily risk-free rate, which is also the target.

    Returns:
        The ratio, or None with fewer than 2 returns or when no day fell below the target.

    Raises:
        InvalidValue: the risk-free rate is not a finite Decimal above -1.
    """
    rf_daily = daily_risk_free(risk_free_rate)
    if len(daily) < 2:
        return None
    shortfalls = [min(ZERO, value - rf_daily) ** 2 for value in daily]
    downside = _mean(shortfalls).sqrt()
    if downside == ZERO:
        return None
    excess = _mean(daily) - rf_daily
    return excess / downside * DAYS_PER_YEAR.sqrt()


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAdjustedReturn:
    """The Sharpe and Sortino ratios of a curve at one risk-free rate (None as in the ratios)."""

    risk_free_rate: Decimal
    sharpe: Decimal | None
    sortino: Decimal | None


@in_maths_context
def risk_adjusted(series: Iterable[EquityPoint], risk_free_rate: Decimal) -> RiskAdjustedReturn:
    """Sharpe and Sortino over the daily returns of the whole series at `risk_free_rate`.

    A report gives these at more than one rate side by side: at zero, which flatters anything
    with a positive return, and at the return of the money's alternative (the static yield).

    Raises:
        InvalidValue: the risk-free rate is not a finite Decimal above -1.
    """
    rate = _require_rate(risk_free_rate, "risk_free_rate")
    daily = [item.value for item in daily_returns(series)]
    return RiskAdjustedReturn(
        risk_free_rate=rate, sharpe=sharpe_ratio(daily, rate), sortino=sortino_ratio(daily, rate)
    )


@in_maths_context
def max_drawdown(series: Iterable[EquityPoint]) -> MaxDrawdown | None:
    """The maximum drawdown of the time-weighted index (1 at the first point, times each g_i).

    Measuring the index rather than the value means a withdrawal is not a drawdown and a deposit
    does not hide one. The peak is the latest point at the running high before the trough; on
    equal depths the first trough wins. A total loss leaves the index at 0 for good: depth 1,
    never recovered. Returns None for an empty series.
    """
    points = _ordered(series)
    return _drawdown(points) if points else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawdownPoint:
    """How far the time-weighted index stands below its running peak at one moment.

    `depth` is a fraction in [0, 1]: 0 at a new high, 0.25 when 25 % below the peak so far.
    """

    at: datetime
    depth: Decimal

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_fraction(self.depth, "depth")


@in_maths_context
def drawdown_curve(series: Iterable[EquityPoint]) -> tuple[DrawdownPoint, ...]:
    """The drawdown of the time-weighted index at every point, in time order.

    Like `max_drawdown`, it measures the index (1 at the first point, times each g_i), so a
    withdrawal is not a drawdown; its deepest point is `max_drawdown(series).depth`.
    """
    points = _ordered(series)
    result: list[DrawdownPoint] = []
    index = peak = ONE  # the peak never falls below the index's start, so it is never zero
    for position, point in enumerate(points):
        if position:
            index *= _growth(points[position - 1], point)
        peak = max(peak, index)
        result.append(DrawdownPoint(at=point.at, depth=ONE - index / peak))
    return tuple(result)


def _drawdown(points: Sequence[EquityPoint]) -> MaxDrawdown:
    """The maximum drawdown of a non-empty, time-ordered run of points."""
    index = [ONE]
    for previous, point in pairwise(points):
        index.append(index[-1] * _growth(previous, point))

    peak_i = best_peak_i = best_trough_i = 0
    depth = ZERO
    for i in range(1, len(index)):
        if index[i] >= index[peak_i]:
            peak_i = i
            continue
        fall = ONE - index[i] / index[peak_i]
        if fall > depth:
            depth, best_peak_i, best_trough_i = fall, peak_i, i
    recovered_at = None
    if depth > ZERO:
        recovered_at = next(
            (
                points[i].at
                for i in range(best_trough_i + 1, len(index))
                if index[i] >= index[best_peak_i]
            ),
            None,
        )
    return MaxDrawdown(
        depth=depth,
        peak_at=points[best_peak_i].at,
        trough_at=points[best_trough_i].at,
        recovered_at=recovered_at,
    )


# ---------------------------------------------------------------------------------------------
# Trades and the report


@in_maths_context
def trade_statistics(trades: Iterable[TradeRecord]) -> TradeStatistics:
    """Counts, volume and costs of `trades` (see `TradeStatistics` for what counts where)."""
    count = succeeded = 0
    volume = gas = slippage = ZERO
    for trade in trades:
        count += 1
        gas += trade.gas_usd
        slippage += trade.slippage_usd
        if trade.succeeded:
            succeeded += 1
            volume += trade.amount_usd
    total = gas + slippage
    return TradeStatistics(
        count=count,
        succeeded=succeeded,
        failed=count - succeeded,
        volume_usd=volume,
        gas_usd=gas,
        slippage_usd=slippage,
        total_cost_usd=total,
        average_cost_bps=total / volume * BASIS_POINTS if volume > ZERO else None,
    )


@in_maths_context
def performance_report(
    series: Iterable[EquityPoint],
    trades: Iterable[TradeRecord],
    start: datetime,
    end: datetime,
    risk_free_rate: Decimal = ZERO,
) -> PerformanceReport:
    """Every performance figure for the range from `start` to `end`.

    Each bound is measured at the last point at or before it; the APY annualises over the time
    between those two points. Daily returns, volatility, Sharpe, Sortino and drawdown use the
    points in between. Trades count when `start < at <= end`, as a trade at `start` is already
    in the starting value.

    Raises:
        NaiveDatetime: a bound has no timezone.
        InvalidValue: `end` is before `start`, or the risk-free rate is not above -1.
        InsufficientHistory: no point lies at or before `start`.
    """
    rate = _require_rate(risk_free_rate, "risk_free_rate")
    points = _ordered(series)
    window = _window(points, start, end)
    if window is None:
        raise InsufficientHistory(start, points[0].at if points else None)
    first, last = window[0], window[-1]
    twr = _chain(window) - ONE
    net_flows = sum((point.net_flow_usd for point in window[1:]), ZERO)
    daily = [item.value for item in daily_returns(window)]
    return PerformanceReport(
        start=start,
        end=end,
        measured_from=first.at,
        measured_to=last.at,
        start_value_usd=first.value_usd,
        end_value_usd=last.value_usd,
        net_flows_usd=net_flows,
        pnl_usd=last.value_usd - first.value_usd - net_flows,
        time_weighted_return=twr,
        apy=annualise(twr, last.at - first.at),
        volatility=annualised_volatility(daily),
        sharpe=sharpe_ratio(daily, rate),
        sortino=sortino_ratio(daily, rate),
        risk_free_rate=rate,
        daily_return_count=len(daily),
        max_drawdown=_drawdown(window),
        trades=trade_statistics(t for t in trades if start < t.at <= end),
    )
