"""A standby starting up while the leader executes leaves the leader's steps alone.

Steps a crash left unfinished are settled against the chain when a process starts leading
(checked too), not when it starts: a standby booting next to a live leader would otherwise mark
the step the leader is about to sign as "interrupted before it was signed". Two runtimes in
this process share one SQLite database, one data directory and one anvil node, as two service
processes would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from application.cycle import CycleCommand, CycleOutcome
from domain.execution import ExecutedTransaction, StepStatus
from entrypoints.container import AppSettings, bootstrap
from tests.integration.devchain.fixtures import running_anvil

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=40)]


@pytest.fixture
def anvil() -> Iterator[str]:
    with running_anvil() as url:
        yield url


@pytest.fixture
def paper_env(tmp_path: Path, anvil: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        if key != "TREASURY_DEVCHAIN_COMPILE_CACHE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_API_TOKENS", "standby-approver-token-01:approver")
    monkeypatch.setenv("TREASURY_PAPER_START", "cash")
    monkeypatch.setenv("TREASURY_DEVCHAIN_RPC_URL", anvil)


@pytest.mark.usefixtures("paper_env")
async def test_a_standby_starting_up_leaves_the_leaders_unfinished_step_alone() -> None:
    leader = await bootstrap(AppSettings.load())
    try:
        assert await leader.election.try_lead(leader.take_over)
        result = await leader.services.cycle.execute(CycleCommand())
        assert result.outcome is CycleOutcome.PENDING_APPROVAL, result.decision.reasoning
        assert result.plan is not None
        # The leader is executing the plan: its first step is recorded, not yet signed.
        now = leader.clock.now()
        step = ExecutedTransaction(
            id=f"{result.plan.plan_id}:0",
            plan_id=result.plan.plan_id,
            step_index=0,
            chain_id=31337,
            kind="approve",
            description="being signed by the leader",
            status=StepStatus.PLANNED,
            amount_usd=Decimal(0),
            created_at=now,
            updated_at=now,
        )
        async with leader.uow() as uow:
            await uow.executions.add(step)
            await uow.commit()

        standby = await bootstrap(AppSettings.load())
        try:
            assert not await standby.election.try_lead(standby.take_over)
            async with standby.uow() as uow:
                [seen] = await uow.executions.by_plan(result.plan.plan_id)
            assert seen.status is StepStatus.PLANNED, seen.error

            # The leader goes; the standby takes over and only then settles the step.
            await leader.election.release()
            assert await standby.election.try_lead(standby.take_over)
            async with standby.uow() as uow:
                [settled] = await uow.executions.by_plan(result.plan.plan_id)
            assert settled.status is StepStatus.FAILED
            assert settled.error is not None
            assert "nothing was sent" in settled.error
        finally:
            await standby.aclose()
    finally:
        await leader.aclose()
