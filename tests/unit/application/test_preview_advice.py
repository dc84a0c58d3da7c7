"""PreviewAdvice: the advisor's decision on the stored portfolio, proposed as the cycle would,
with nothing written; no snapshot, no advice."""

from __future__ import annotations

import pytest

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.preview_advice import NoPortfolioSnapshot, PreviewAdvice
from domain.strategy import StrategyConfig
from tests.fakes.advisor import SignalFollowingAdvisor
from tests.fakes.treasury import FixedClock
from tests.unit.domain.builders import market, portfolio


def preview(uow: InMemoryUnitOfWorkFactory, advisor: SignalFollowingAdvisor) -> PreviewAdvice:
    return PreviewAdvice(
        clock=FixedClock(),
        uow=uow,
        advisor=advisor,
        strategy=StrategyConfig(),
        outcome_history=5,
    )


async def test_without_a_snapshot_it_refuses_and_never_asks_the_advisor() -> None:
    advisor = SignalFollowingAdvisor()

    with pytest.raises(NoPortfolioSnapshot, match="no portfolio snapshot to advise on"):
        await preview(InMemoryUnitOfWorkFactory(), advisor).execute(market())

    assert advisor.requests == []


async def test_it_advises_on_the_stored_portfolio_and_writes_nothing() -> None:
    uow = InMemoryUnitOfWorkFactory()
    stored = portfolio(cash=250_000)
    async with uow() as tx:
        await tx.snapshots.add(stored)
        await tx.commit()
    advisor = SignalFollowingAdvisor()

    advice = await preview(uow, advisor).execute(market())

    assert advisor.requests[0].portfolio == stored
    assert advice.proposal is not None
    assert advice.proposal.plan is not None
    assert sum(t.amount_usd for t in advice.proposal.plan.required_transactions) <= 250_000
    assert any("gas cap" in note for note in advice.notes)
    committed = uow.database.committed
    assert committed.audit == []
    assert committed.decisions == {}
    assert committed.plans == {}
