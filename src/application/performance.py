"""Performance analytics over a time range (`GET /performance/metrics`).

The equity curve is the stored portfolio snapshots: the last one at or before the start of the
range (so the whole range is measured), then every one after it up to now. Each snapshot's
`net_flow_usd` (outside money, not performance) keeps the returns time-weighted. Beside the
curve: its drawdown, the static 6.5 % yield and BTC buy-and-hold on the same timestamps (both
starting from the first value and receiving the same flows), the figures of
`domain.performance.performance_report`, the gas the treasury spent and its recent on-chain
trades.

When the history begins after the start of the range (or has no snapshot within `lookback`
before it), the curve begins at the first snapshot in the range and the result says so
(`covers_range` False, `measured_from` later than `requested_from`).
Fewer than two snapshots cannot make a curve: `PerformanceHistoryTooShort`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from application.errors import PermanentError
from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from domain.baselines import STATIC_YIELD_APY, PricePoint, buy_and_hold_curve, static_yield_curve
from domain.errors import InvalidValue
from domain.execution import ExecutedTransaction, StepStatus
from domain.market import MarketData
from domain.money import ZERO
from domain.performance import (
    DrawdownPoint,
    EquityPoint,
    MaxDrawdown,
    TradeRecord,
    drawdown_curve,
    performance_report,
    risk_adjusted,
    trade_statistics,
)
from domain.portfolio import PortfolioState

STATIC_YIELD = "static_yield"
BTC_HOLD = "btc_hold"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeRange(StrEnum):
    """The ranges the endpoint offers."""

    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"
    YEAR = "1y"
    ALL = "all"

    @property
    def span(self) -> timedelta | None:
        """How far back the range reaches from now; None for the whole history."""
        return _SPANS.get(self)


_SPANS: Mapping[TimeRange, timedelta] = MappingProxyType(
    {
        TimeRange.DAY: timedelta(days=1),
        TimeRange.WEEK: timedelta(days=7),
        TimeRange.MONTH: timedelta(days=30),
        TimeRange.QUARTER: timedelta(days=90),
        TimeRange.YEAR: timedelta(days=365),
    }
)


class PerformanceHistoryTooShort(PermanentError):
    """The range holds fewer than two portfolio snapshots, so there is no curve to measure."""

    def __init__(self, time_range: TimeRange, points: int, first_at: datetime | None) -> None:
        self.time_range = time_range
        self.points = points
        self.first_at = first_at
        found = "no portfolio snapshot" if points == 0 else f"{points} portfolio snapshot"
        where = f" (at {first_at.isoformat()})" if first_at is not None else ""
        super().__init__(
            f"not enough history for performance over {time_range.value}: {found}{where} "
            "in the range, and at least 2 are needed; snapshots are taken every decision cycle"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceMetrics:
    """Performance over one range.

    `requested_from` is where the range asked to start (None for the whole history);
    `measured_from`/`measured_to` are the first and last snapshots used and `points` how many.
    `covers_range` is False when the history begins after `requested_from`. Returns, APY,
    volatility and drawdowns are fractions; Sharpe and Sortino are annualised ratios over daily
    returns (None with fewer than two daily returns): `sharpe_ratio` and `sortino` at
    `risk_free_rate` (the setting), and side by side at a zero rate and at the static yield, the
    treasury's alternative, which a zero rate flatters. `baselines` maps a name to a curve on the
    equity curve's timestamps; BTC buy-and-hold is missing when no BTC price was recorded at
    or before the first snapshot. Trade figures count on-chain steps in
    (`measured_from`, `measured_to`]; `gas_spent_usd` includes approvals, `trade_count`,
    `trade_volume_usd` and `trade_history` (newest first) do not. `trades_complete` is False
    when older steps in the range were beyond the scan limit.
    """

    time_range: TimeRange
    requested_from: datetime | None
    measured_from: datetime
    measured_to: datetime
    points: int
    covers_range: bool
    equity_curve: tuple[EquityPoint, ...]
    drawdown: tuple[DrawdownPoint, ...]
    baselines: Mapping[str, tuple[EquityPoint, ...]]
    start_value_usd: Decimal
    end_value_usd: Decimal
    net_flows_usd: Decimal
    pnl_usd: Decimal
    time_weighted_return: Decimal
    apy: Decimal | None
    volatility: Decimal | None
    sharpe_ratio: Decimal | None
    sortino: Decimal | None
    sharpe_at_zero_rate: Decimal | None
    sortino_at_zero_rate: Decimal | None
    sharpe_at_static_yield: Decimal | None
    sortino_at_static_yield: Decimal | None
    max_drawdown: MaxDrawdown
    risk_free_rate: Decimal
    static_yield_apy: Decimal
    gas_spent_usd: Decimal
    trade_count: int
    trade_volume_usd: Decimal
    trade_history: tuple[ExecutedTransaction, ...]
    trades_complete: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "baselines", MappingProxyType(dict(self.baselines)))


def _trade_record(step: ExecutedTransaction) -> TradeRecord:
    """A mined step as a trade: its USD amount and the gas it paid (slippage is not recorded)."""
    return TradeRecord(
        at=step.created_at,
        amount_usd=step.amount_usd,
        gas_usd=step.gas_cost_usd or ZERO,
        slippage_usd=ZERO,
        succeeded=step.status is StepStatus.CONFIRMED,
    )


def _on_chain(step: ExecutedTransaction) -> bool:
    """Whether a step reached the chain (mined, succeeded or reverted), so it spent gas."""
    return step.tx_hash is not None and step.status in (StepStatus.CONFIRMED, StepStatus.FAILED)


class GetPerformanceMetrics:
    """Performance analytics over a time range, from stored snapshots, market data and steps."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        risk_free_rate: Decimal,
        static_yield_apy: Decimal = STATIC_YIELD_APY,
        lookback: timedelta = timedelta(days=1),
        trade_history_limit: int = 50,
        trade_scan_limit: int = 5_000,
    ) -> None:
        """`lookback` is how far before the start of a range to look for the snapshot (and
        BTC price) that the range is measured from.

        Raises:
            InvalidValue: the risk-free rate or static yield is not above -1, or a limit or the
                lookback is not positive.
        """
        for name, rate in (("risk_free_rate", risk_free_rate), ("static_yield", static_yield_apy)):
            if not rate.is_finite() or rate <= -1:
                raise InvalidValue(name, rate, "must be a finite rate above -1")
        if lookback <= timedelta(0):
            raise InvalidValue("lookback", lookback, "must be positive")
        if trade_history_limit < 1 or trade_scan_limit < 1:
            raise InvalidValue(
                "trade limits", (trade_history_limit, trade_scan_limit), "must be 1 or more"
            )
        self._uow = uow_factory
        self._clock = clock
        self._risk_free_rate = risk_free_rate
        self._static_yield = static_yield_apy
        self._lookback = lookback
        self._history_limit = trade_history_limit
        self._scan_limit = trade_scan_limit

    @property
    def risk_free_rate(self) -> Decimal:
        """The annual risk-free rate the Sharpe and Sortino ratios use."""
        return self._risk_free_rate

    @property
    def static_yield_apy(self) -> Decimal:
        """The static yield the treasury is compared with."""
        return self._static_yield

    async def execute(self, time_range: TimeRange = TimeRange.MONTH) -> PerformanceMetrics:
        """Measure the range ending now.

        Raises:
            PerformanceHistoryTooShort: fewer than two snapshots in the range.
        """
        now = self._clock.now()
        span = time_range.span
        requested_from = None if span is None else now - span
        read_from = _EPOCH if requested_from is None else requested_from - self._lookback
        async with self._uow() as uow:
            snapshots = await uow.snapshots.between(read_from, now)
            markets = await uow.market_data.between(read_from - self._lookback, now)
            steps = await uow.executions.recent(self._scan_limit)
        points, covers_range = equity_points(snapshots, requested_from)
        if len(points) < 2:
            raise PerformanceHistoryTooShort(
                time_range, len(points), points[0].at if points else None
            )
        first, last = points[0], points[-1]
        report = performance_report(points, (), first.at, last.at, self._risk_free_rate)
        at_zero = risk_adjusted(points, ZERO)
        at_static = risk_adjusted(points, self._static_yield)
        trades = self._trades(steps, first.at, last.at)
        return PerformanceMetrics(
            time_range=time_range,
            requested_from=requested_from,
            measured_from=first.at,
            measured_to=last.at,
            points=len(points),
            covers_range=covers_range,
            equity_curve=tuple(points),
            drawdown=drawdown_curve(points),
            baselines=self._baselines(points, markets),
            start_value_usd=report.start_value_usd,
            end_value_usd=report.end_value_usd,
            net_flows_usd=report.net_flows_usd,
            pnl_usd=report.pnl_usd,
            time_weighted_return=report.time_weighted_return,
            apy=report.apy,
            volatility=report.volatility,
            sharpe_ratio=report.sharpe,
            sortino=report.sortino,
            sharpe_at_zero_rate=at_zero.sharpe,
            sortino_at_zero_rate=at_zero.sortino,
            sharpe_at_static_yield=at_static.sharpe,
            sortino_at_static_yield=at_static.sortino,
            max_drawdown=report.max_drawdown,
            risk_free_rate=report.risk_free_rate,
            static_yield_apy=self._static_yield,
            gas_spent_usd=trades.gas_spent_usd,
            trade_count=trades.count,
            trade_volume_usd=trades.volume_usd,
            trade_history=trades.history,
            trades_complete=trades.complete,
        )

    def _baselines(
        self, points: Sequence[EquityPoint], markets: Iterable[MarketData]
    ) -> dict[str, tuple[EquityPoint, ...]]:
        """The static yield and, when a BTC price is known at the start, BTC buy-and-hold, on
        the equity curve's timestamps."""
        baselines = {STATIC_YIELD: static_yield_curve(points, self._static_yield)}
        btc = buy_and_hold_curve(
            points,
            (
                PricePoint(at=m.timestamp, price=m.btc_price)
                for m in markets
                if m.btc_price is not None
            ),
        )
        if btc is not None:
            baselines[BTC_HOLD] = btc
        return baselines

    def _trades(
        self, steps: Sequence[ExecutedTransaction], start: datetime, end: datetime
    ) -> _Trades:
        """The on-chain steps in (`start`, `end`]: gas over all of them, count, volume and
        history (newest first, up to the limit) over the trades."""
        in_range = [s for s in steps if _on_chain(s) and start < s.created_at <= end]
        trades = [s for s in in_range if s.is_trade]
        return _Trades(
            gas_spent_usd=trade_statistics(map(_trade_record, in_range)).gas_usd,
            count=len(trades),
            volume_usd=trade_statistics(map(_trade_record, trades)).volume_usd,
            history=tuple(trades[: self._history_limit]),
            complete=len(steps) < self._scan_limit or min(s.created_at for s in steps) <= start,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trades:
    """The trade figures of one range."""

    gas_spent_usd: Decimal
    count: int
    volume_usd: Decimal
    history: tuple[ExecutedTransaction, ...]
    complete: bool


def equity_points(
    snapshots: Iterable[PortfolioState], requested_from: datetime | None
) -> tuple[list[EquityPoint], bool]:
    """The equity curve from stored snapshots: the last one at or before `requested_from`, then
    every later one (all of them for the whole history); and whether the curve covers the
    range (a snapshot at or before its start was found)."""
    points = [
        EquityPoint(at=s.as_of, value_usd=s.total_value_usd, net_flow_usd=s.net_flow_usd)
        for s in snapshots
        if s.as_of is not None  # always set on stored snapshots
    ]
    if requested_from is None:
        return points, True
    before = [p for p in points if p.at <= requested_from]
    return before[-1:] + [p for p in points if p.at > requested_from], bool(before)
