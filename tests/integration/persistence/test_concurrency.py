"""Two operators approving the same decision at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from application.errors import ConcurrencyConflict
from application.ports.persistence import UnitOfWorkFactory
from domain.decisions import DecisionStatus
from domain.errors import DecisionNotPending
from tests.contracts.persistence import T0, make_decision


async def seed(factory: UnitOfWorkFactory) -> None:
    async with factory() as uow:
        await uow.decisions.add(make_decision())
        await uow.commit()


async def approve(factory: UnitOfWorkFactory, who: str, barrier: asyncio.Barrier | None) -> str:
    """The approval flow: read, (wait for the rival to read too), approve, audit, commit."""
    async with factory() as uow:
        decision = await uow.decisions.get("dec-1")
        if barrier is not None:
            await barrier.wait()
        await uow.decisions.update(decision.approve(who, None, T0))
        await uow.audit.append(who, "decision.approved", "decision", decision.id, {})
        await uow.commit()
    return who


async def outcome(factory: UnitOfWorkFactory) -> tuple[str | None, list[str]]:
    async with factory() as uow:
        stored = await uow.decisions.get("dec-1")
        actors = [e.actor for e in await uow.audit.tail()]
        assert stored.status is DecisionStatus.APPROVED
        assert await uow.audit.verify() is None
    return stored.approver, actors


@pytest.mark.postgres
async def test_on_postgres_the_second_of_two_concurrent_sessions_gets_a_conflict(
    pg_engine: AsyncEngine,
) -> None:
    factory = SqlUnitOfWorkFactory(pg_engine)
    await seed(factory)
    barrier = asyncio.Barrier(2)  # both sessions have read version 0 before either writes
    results = await asyncio.gather(
        approve(factory, "ana", barrier), approve(factory, "bob", barrier), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 1
    assert await outcome(factory) == (winners[0], winners)


async def test_on_sqlite_two_processes_approving_at_once_leave_one_approval(
    sqlite_url: str,
) -> None:
    # Two engines are two independent connection pools, as two processes would have.
    engines = [create_engine(sqlite_url), create_engine(sqlite_url)]
    try:
        first, second = (SqlUnitOfWorkFactory(e) for e in engines)
        await seed(first)
        results = await asyncio.gather(
            approve(first, "ana", None), approve(second, "bob", None), return_exceptions=True
        )
        winners = [r for r in results if isinstance(r, str)]
        losers = [r for r in results if not isinstance(r, str)]
        assert len(winners) == 1
        # SQLite queues writers (BEGIN IMMEDIATE): the loser reads the approved decision and
        # the domain refuses a second approval; a stale copy would get ConcurrencyConflict.
        assert len(losers) == 1
        assert isinstance(losers[0], (DecisionNotPending, ConcurrencyConflict))
        assert await outcome(first) == (winners[0], winners)
    finally:
        for engine in engines:
            await engine.dispose()
