"""Paper funding runs as an ordinary plan: its purpose is audited before any step, and its steps
are recorded (and so listed with every other transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.chain.devchain.paper import SEED_TARGET, funding_plan_id, seed_moves
from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.funding import FundingPlan, RunFundingPlan
from domain.execution import StepStatus
from tests.fakes.treasury import Book, FakeRunner, FixedClock

NOW = datetime(2026, 12, 2, tzinfo=UTC)


async def test_the_first_split_is_audited_then_run_as_a_plan_whose_steps_are_recorded() -> None:
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(clock=clock)
    runner = FakeRunner(Book(cash=Decimal(400_000)), uow, clock)
    plan_id = funding_plan_id("seed", NOW)
    report = await RunFundingPlan(uow_factory=uow, runner=runner, clock=clock).execute(
        FundingPlan(
            plan_id=plan_id,
            reason="first split",
            moves=tuple(seed_moves(Decimal(400_000))),
            target=SEED_TARGET,
        )
    )

    assert report.succeeded
    async with uow() as unit:
        audit = await unit.audit.entries(limit=100)
        steps = await unit.executions.by_plan(plan_id)
    assert audit[0].action == "funding.planned"
    assert audit[0].subject_id == plan_id
    assert len(audit[0].payload["moves"]) == 5
    assert [s.status for s in steps] == [StepStatus.CONFIRMED] * 5
    assert plan_id.startswith("paper-seed-")
    assert funding_plan_id("seed", NOW) != plan_id  # unique per start, even in one second
