"""Read-side use cases: market data, signal preview, portfolio status, decisions, audit, health.

None of these changes state (the signal preview computes what the next cycle would see without
saving the ratchet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from application.ports.clock import Clock
from application.ports.market import MarketDataSource, SourceHealth, SourceStatus
from application.ports.persistence import EMERGENCY_STOP, OperatorFlag, UnitOfWorkFactory
from application.ports.treasury import PortfolioReader
from domain.audit import AuditEntry
from domain.decisions import Decision, DecisionStatus
from domain.execution import ExecutedTransaction
from domain.market import MarketData
from domain.planner import PlannerConfig, allocations_counting_sweep
from domain.portfolio import AllocationLine, PortfolioState
from domain.signals import AllocationSignal, SignalConfig, generate_signal


class GetMarketData:
    """Current market data (cached by the adapter)."""

    def __init__(self, *, market: MarketDataSource) -> None:
        self._market = market

    async def execute(self) -> MarketData:
        """Fetch market data.

        Raises:
            MarketDataUnavailable: no source answered and nothing was cached.
        """
        return await self._market.fetch()


class PreviewSignal:
    """The allocation signal the next cycle would compute now, without saving anything."""

    def __init__(
        self,
        *,
        clock: Clock,
        market: MarketDataSource,
        uow: UnitOfWorkFactory,
        config: SignalConfig | None = None,
    ) -> None:
        self._clock = clock
        self._market = market
        self._uow = uow
        self._config = config or SignalConfig()

    async def execute(self) -> AllocationSignal:
        """Compute the signal from live market data and the saved ratchet."""
        market = await self._market.fetch()
        async with self._uow() as uow:
            ratchet = await uow.strategy.ratchet()
        signal, _ = generate_signal(market, ratchet, self._clock.now(), self._config)
        return signal


class GetPortfolioStatus:
    """The treasury now: positions from chain, allocations against the latest signal's targets,
    and time-weighted performance over 24 h, 7 d and 30 d from stored snapshots."""

    def __init__(
        self,
        *,
        clock: Clock,
        portfolio: PortfolioReader,
        uow: UnitOfWorkFactory,
        planner: PlannerConfig | None = None,
    ) -> None:
        self._clock = clock
        self._portfolio = portfolio
        self._uow = uow
        self._planner = planner

    async def execute(self) -> PortfolioState:
        """Read the portfolio and decorate it with targets, last rebalance and performance."""
        return await self.decorate(await self._portfolio.read())

    async def decorate(self, state: PortfolioState) -> PortfolioState:
        """A portfolio reading with targets, last rebalance and performance added; `as_of`
        stays when the chain was read (now when the reading has none)."""
        from domain.performance import EquityPoint, standard_windows

        now = self._clock.now()
        async with self._uow() as uow:
            signal = await uow.signals.latest()
            points = await uow.snapshots.equity_between(now - timedelta(days=31), now)
            executed = await uow.decisions.list_by_status(DecisionStatus.EXECUTED, limit=1000)
        points.append(EquityPoint(at=now, value_usd=state.total_value_usd))
        windows = standard_windows(points, now)
        allocations = dict(state.allocations)
        if signal is not None:
            # Cash the sweep put into the base venues counts as cash, as the planner and the
            # drift rule count it (`domain.planner.allocations_counting_sweep`).
            current = (
                allocations_counting_sweep(state, signal.target_allocations, self._planner)
                if self._planner is not None
                else {b: line.current for b, line in state.allocations.items()}
            )
            allocations = {
                b: AllocationLine(
                    current=current.get(b, line.current), target=signal.target_allocations.of(b)
                )
                for b, line in state.allocations.items()
            }
        last = max((d.decided_at for d in executed if d.decided_at is not None), default=None)
        return replace(
            state,
            allocations=allocations,
            last_rebalance=last,
            performance_24h=windows.day,
            performance_7d=windows.week,
            performance_30d=windows.month,
            as_of=state.as_of or now,
        )


class ListDecisions:
    """Pending decisions (oldest first) and decision history (newest first)."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def pending(self) -> list[Decision]:
        """Decisions awaiting a human."""
        async with self._uow() as uow:
            return await uow.decisions.list_by_status(DecisionStatus.PENDING)

    async def history(self, limit: int = 50) -> list[Decision]:
        """The newest decisions."""
        async with self._uow() as uow:
            return await uow.decisions.recent(limit)

    async def get(self, decision_id: str) -> Decision:
        """One decision.

        Raises:
            NotFound: no such decision.
        """
        async with self._uow() as uow:
            return await uow.decisions.get(decision_id)


class ListTransactions:
    """The newest on-chain steps, for operators and the dashboard."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, limit: int = 50) -> list[ExecutedTransaction]:
        """The newest steps, newest first."""
        async with self._uow() as uow:
            return await uow.executions.recent(limit)


class ReadAudit:
    """The audit log's tail, and whether its hash chain is intact."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def tail(self, count: int = 50) -> list[AuditEntry]:
        """The newest entries, oldest first."""
        async with self._uow() as uow:
            return await uow.audit.tail(count)

    async def verify(self) -> int | None:
        """The seq of the first broken entry, or None when the chain is intact."""
        async with self._uow() as uow:
            return await uow.audit.verify()


class Health(StrEnum):
    """Overall or per-part health."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One part's health."""

    name: str
    status: Health
    detail: str = ""


class HealthProbe(Protocol):
    """Something whose health `/health` reports (advisor, a protocol, a notifier...)."""

    name: str

    async def check(self) -> ProbeResult:
        """Probe the part; never raises."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    """The spec's health answer plus database, market sources and the emergency stop."""

    status: Health
    ai_status: ProbeResult
    protocols_status: tuple[ProbeResult, ...]
    database: ProbeResult
    market_sources: tuple[SourceHealth, ...]
    emergency_stop: OperatorFlag | None
    others: tuple[ProbeResult, ...] = field(default=())
    checked_at: datetime | None = None
    # This instance's part when several share a database: "leader" or "follower".
    role: ProbeResult | None = None


class CheckHealth:
    """Probe every part and summarise: unhealthy if the database is down, degraded if any
    other part is not healthy."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        market: MarketDataSource,
        advisor: HealthProbe,
        protocols: Sequence[HealthProbe],
        others: Sequence[HealthProbe] = (),
        role: HealthProbe | None = None,
    ) -> None:
        self._clock = clock
        self._role = role
        self._uow = uow
        self._market = market
        self._advisor = advisor
        self._protocols = tuple(protocols)
        self._others = tuple(others)

    async def execute(self) -> HealthReport:
        """Probe everything; never raises."""
        flag: OperatorFlag | None = None
        try:
            async with self._uow() as uow:
                flag = await uow.flags.get(EMERGENCY_STOP)
            database = ProbeResult(name="database", status=Health.HEALTHY)
        except Exception as exc:
            database = ProbeResult(
                name="database", status=Health.UNHEALTHY, detail=type(exc).__name__
            )
        sources = tuple(await self._market.health())
        ai = await self._advisor.check()
        protocols = tuple([await p.check() for p in self._protocols])
        others = tuple([await p.check() for p in self._others])
        parts = [ai, *protocols, *others]
        if database.status is not Health.HEALTHY:
            overall = Health.UNHEALTHY
        elif any(p.status is not Health.HEALTHY for p in parts) or any(
            s.status is not SourceStatus.OK for s in sources
        ):
            overall = Health.DEGRADED
        else:
            overall = Health.HEALTHY
        return HealthReport(
            status=overall,
            ai_status=ai,
            protocols_status=protocols,
            database=database,
            market_sources=sources,
            emergency_stop=flag,
            others=others,
            checked_at=self._clock.now(),
            role=await self._role.check() if self._role is not None else None,
        )


class GetLimitsInForce:
    """The strategy's limits this service runs with, by setting name (for `GET /config`)."""

    def __init__(self, *, limits: Mapping[str, str]) -> None:
        self._limits = dict(limits)

    async def execute(self) -> dict[str, str]:
        """Every limit, as text."""
        return dict(self._limits)
