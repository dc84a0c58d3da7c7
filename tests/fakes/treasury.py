"""Fakes for application tests: same ports, same errors, realistic numbers.

`Book` is an in-memory treasury whose holdings change only when `FakeRunner` executes a plan,
the way the chain changes only when transactions confirm.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from application.errors import CycleBusy, ExecutionRefused, MarketDataUnavailable
from application.execution import ExecutionReport
from application.ports.market import SourceHealth, SourceStatus
from application.ports.persistence import UnitOfWorkFactory
from application.queries import Health, ProbeResult
from domain.execution import ExecutedTransaction, StepStatus
from domain.market import MarketData
from domain.phases import classify_phase
from domain.plans import RebalancingPlan
from domain.portfolio import WALLET, PortfolioState, Position
from domain.projection import project

D = Decimal


class FixedClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 2, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class SequentialIds:
    """Predictable ids: dec-1, plan-2, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._counter)}"


class FakeMarket:
    """Serves the MarketData it is given; fails when told to, like a source that is down."""

    def __init__(self, data: MarketData) -> None:
        self.data = data
        self.down = False
        self.calls = 0

    async def fetch(self) -> MarketData:
        self.calls += 1
        if self.down:
            raise MarketDataUnavailable("fake", "every source is down")
        return self.data

    async def health(self) -> list[SourceHealth]:
        status = SourceStatus.DOWN if self.down else SourceStatus.OK
        return [
            SourceHealth(
                source="fake", status=status, last_success=self.data.timestamp, last_error=None
            )
        ]

    def set(self, **changes: object) -> None:
        """Change fields (prices, MVRV...) and recompute the phase."""
        values = {f: getattr(self.data, f) for f in self.data.__dataclass_fields__}
        values.update(changes)
        values["market_phase"] = classify_phase(
            values["mvrv_z_score"],
            values["fear_greed_index"],
            values["funding_rate"],  # type: ignore[arg-type]
        )
        self.data = MarketData(**values)  # type: ignore[arg-type]


@dataclass
class Book:
    """Holdings: USD value per (protocol, asset) plus idle cash, repriced from the market."""

    values: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    cash: Decimal = field(default_factory=Decimal)
    units: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    market: FakeMarket | None = None
    clock: FixedClock | None = None

    def unit_price(self, key: tuple[str, str]) -> Decimal:
        if self.market is not None and key[0] == WALLET:
            price = self.market.data.price_of(key[1])
            if price is not None:
                return price
        return D(1)

    def state(self) -> PortfolioState:
        now = self.clock.now() if self.clock else datetime(2026, 3, 2, 12, tzinfo=UTC)
        positions = []
        for key in sorted(self.units):
            units = self.units[key]
            if units <= 0:
                continue
            positions.append(
                Position(
                    protocol=key[0],
                    asset=key[1],
                    amount=units,
                    value_usd=units * self.unit_price(key),
                    apy=D("0.05") if key[0] != WALLET else D(0),
                    entered_at=now,
                )
            )
        return PortfolioState.build(positions=tuple(positions), cash_balance=self.cash, as_of=now)

    def apply(self, plan: RebalancingPlan) -> None:
        after = project(self.state(), plan)
        self.cash = after.cash
        self.units = {k: v / self.unit_price(k) for k, v in after.values.items() if v > 0}


class FakePortfolio:
    """PortfolioReader over a Book; counts its chain reads, and fails them with `failure`."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.reads = 0
        self.failure: Exception | None = None
        self.extra: dict[str, str] = {}
        """Merged into every reading's `extra` (e.g. the chain reader's stale-position flags)."""

    async def read(self) -> PortfolioState:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        state = self.book.state()
        return replace(state, extra={**state.extra, **self.extra}) if self.extra else state

    async def unit_prices(self) -> Mapping[str, Decimal]:
        return {}


class FakeConditions:
    """ChainConditions with settable fees and TVL."""

    def __init__(self) -> None:
        self.base_fee: Decimal | None = D(20)
        self.tvl: dict[str, Decimal] = {"aave": D(12e9), "curve": D(2e9), "pendle": D(4e9)}

    async def base_fee_gwei(self) -> Decimal | None:
        return self.base_fee

    async def gas_price_gwei(self) -> Decimal:
        return (self.base_fee or D(20)) + D(1)

    async def protocol_tvl_usd(self) -> Mapping[str, Decimal]:
        return dict(self.tvl)


class FakeRunner:
    """A plan runner that records steps through the unit of work like the real engine, and
    applies the plan to the Book; `fail_at` makes that step revert."""

    def __init__(self, book: Book, uow: UnitOfWorkFactory, clock: FixedClock) -> None:
        self.book = book
        self.uow = uow
        self.clock = clock
        self.fail_at: int | None = None
        self.executed: list[str] = []
        self._nonce = itertools.count(0)

    async def execute(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        if plan.plan_id in self.executed:
            raise ExecutionRefused(plan.plan_id, ("already executed",))
        self.executed.append(plan.plan_id)
        now = self.clock.now()
        steps: list[ExecutedTransaction] = []
        for index, tx in enumerate(plan.required_transactions):
            step = ExecutedTransaction(
                id=f"{plan.plan_id}:{index}",
                plan_id=plan.plan_id,
                step_index=index,
                chain_id=31337,
                kind=tx.tx_type.value,
                description=tx.describe(),
                status=StepStatus.PLANNED,
                amount_usd=tx.amount_usd,
                created_at=now,
                updated_at=now,
            )
            async with self.uow() as uow:
                await uow.executions.add(step)
                await uow.commit()
            nonce = next(self._nonce)
            failed = self.fail_at == index
            done = step.advance(
                StepStatus.FAILED if failed else StepStatus.CONFIRMED,
                now,
                nonce=nonce,
                tx_hash=f"0x{nonce:064x}",
                gas_used=120_000,
                gas_cost_usd=tx.estimated_gas_usd,
                error="execution reverted: slippage" if failed else None,
            )
            async with self.uow() as uow:
                await uow.executions.update(done)
                await uow.commit()
            steps.append(done)
            if failed:
                return ExecutionReport(
                    plan_id=plan.plan_id, succeeded=False, steps=tuple(steps), error=done.error
                )
        self.book.apply(plan)
        return ExecutionReport(plan_id=plan.plan_id, succeeded=True, steps=tuple(steps))

    async def reconcile(self) -> list[ExecutedTransaction]:
        return []


class FakeLock:
    """CycleLock: an asyncio lock; `busy` simulates another process holding it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.busy = False

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        if self.busy:
            raise CycleBusy("test")
        async with self._lock:
            yield

    def hold(self):  # type: ignore[no-untyped-def]
        return self._held()


class FakeStateFile:
    """Keeps the last state written."""

    def __init__(self) -> None:
        self.written: list[PortfolioState] = []

    async def write(self, state: PortfolioState) -> None:
        self.written.append(state)


class StaticProbe:
    """A health probe with a fixed answer."""

    def __init__(self, name: str, status: Health = Health.HEALTHY) -> None:
        self.name = name
        self.status = status

    async def check(self) -> ProbeResult:
        return ProbeResult(name=self.name, status=self.status)
