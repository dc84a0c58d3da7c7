"""A treasury wired entirely from fakes and the in-memory unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.approvals import DecideOnApproval, ExecuteApprovedDecision, ExpirePendingDecisions
from application.cycle import RunDecisionCycle
from application.operator import EmergencyStop, Resume, SetManualMvrv
from application.ports.persistence import UnitOfWorkFactory
from tests.fakes.advisor import SignalFollowingAdvisor
from tests.fakes.treasury import (
    Book,
    FakeConditions,
    FakeLock,
    FakeMarket,
    FakePortfolio,
    FakeRunner,
    FakeStateFile,
    FixedClock,
    SequentialIds,
)
from tests.unit.domain.builders import market

D = Decimal


@dataclass
class Treasury:
    clock: FixedClock
    market: FakeMarket
    book: Book
    conditions: FakeConditions
    advisor: SignalFollowingAdvisor
    uow: InMemoryUnitOfWorkFactory
    runner: FakeRunner
    lock: FakeLock
    state_file: FakeStateFile
    cycle: RunDecisionCycle
    approve: DecideOnApproval
    execute_approved: ExecuteApprovedDecision
    expire: ExpirePendingDecisions
    stop: EmergencyStop
    resume: Resume
    manual_mvrv: SetManualMvrv


def build_treasury(
    cash: int = 0,
    holdings: dict[tuple[str, str], Decimal] | None = None,
    uow_factory: Callable[[FixedClock], UnitOfWorkFactory] | None = None,
) -> Treasury:
    """Fakes everywhere; `uow_factory` swaps the in-memory unit of work for another one."""
    clock = FixedClock()
    fake_market = FakeMarket(market(mvrv="2", fng=60, funding="0.0001"))
    book = Book(cash=D(cash), market=fake_market, clock=clock)
    for key, usd in (holdings or {}).items():
        book.units[key] = usd / book.unit_price(key)
    uow = (
        uow_factory(clock)
        if uow_factory is not None
        else InMemoryUnitOfWorkFactory(clock=clock.now)
    )
    conditions = FakeConditions()
    advisor = SignalFollowingAdvisor()
    runner = FakeRunner(book, uow, clock)
    lock = FakeLock()
    state_file = FakeStateFile()
    portfolio = FakePortfolio(book)
    return Treasury(
        clock=clock,
        market=fake_market,
        book=book,
        conditions=conditions,
        advisor=advisor,
        uow=uow,
        runner=runner,
        lock=lock,
        state_file=state_file,
        cycle=RunDecisionCycle(
            clock=clock,
            ids=SequentialIds(),
            market=fake_market,
            portfolio=portfolio,
            conditions=conditions,
            advisor=advisor,
            uow=uow,
            runner=runner,
            lock=lock,
            state_file=state_file,
        ),
        approve=DecideOnApproval(clock=clock, uow=uow),
        execute_approved=ExecuteApprovedDecision(
            clock=clock,
            uow=uow,
            portfolio=portfolio,
            conditions=conditions,
            runner=runner,
            lock=lock,
        ),
        expire=ExpirePendingDecisions(clock=clock, uow=uow),
        stop=EmergencyStop(clock=clock, uow=uow),
        resume=Resume(clock=clock, uow=uow),
        manual_mvrv=SetManualMvrv(clock=clock, uow=uow),
    )


BALANCED = {
    ("aave", "USDC"): D(96_000),
    ("pendle", "PT-USDC"): D(72_000),
    ("curve", "3CRV"): D(72_000),
    ("wallet", "WBTC"): D(48_000),
    ("wallet", "WETH"): D(48_000),
}


# The same treasury once the cash sweep has run: of its 16 % of tactical stablecoins, all but
# $10,000 (the 1 % buffer and what no cap has room for) sits in the base venues, each at 24.5 %
# of the treasury (the 25 % cap less the planner's headroom).
SWEPT = BALANCED | {
    ("aave", "USDC"): D(98_000),
    ("pendle", "PT-USDC"): D(98_000),
    ("curve", "3CRV"): D(98_000),
}


@pytest.fixture
def balanced() -> Treasury:
    """The reference $400K treasury at its euphoria targets, its idle cash swept."""
    return build_treasury(cash=10_000, holdings=SWEPT)


@pytest.fixture
def all_cash() -> Treasury:
    """$400K of idle USDC: the first rebalance moves more than $50K per step."""
    return build_treasury(cash=400_000)
