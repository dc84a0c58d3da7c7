"""The leader election, the treasury lock's leadership check and the scheduler's gate, over a
fake leader lock and the in-memory treasury (no I/O)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from adapters.locks import TreasuryLock
from application.errors import NotLeader, TransientError
from entrypoints.election import LeaderElection, Role
from entrypoints.scheduler import Scheduler, SchedulerConfig
from tests.fakes.leadership import FakeLeaderLock, Seat
from tests.unit.application.conftest import build_treasury


def contenders(count: int = 2) -> tuple[list[FakeLeaderLock], list[LeaderElection]]:
    seat = Seat()
    locks = [FakeLeaderLock(seat) for _ in range(count)]
    return locks, [LeaderElection(lock, check_interval_s=0.01) for lock in locks]


async def test_only_one_of_two_instances_leads_and_the_standby_takes_over_when_it_dies() -> None:
    locks, (first, second) = contenders()
    assert await first.try_lead()
    assert not await second.try_lead()
    assert (first.role, second.role) == (Role.LEADER, Role.FOLLOWER)
    assert [(await e.check()).detail for e in (first, second)] == ["leader", "follower"]

    locks[0].lose()  # the leader's process died: the database dropped its lock
    assert await second.try_lead()
    assert second.role is Role.LEADER


async def test_a_leader_whose_lock_was_lost_refuses_its_next_cycle_and_stands_by() -> None:
    locks, (leader, standby) = contenders()
    assert await leader.try_lead()
    lock = TreasuryLock(None, timeout_s=1, leadership=leader)
    async with lock.hold():
        pass

    locks[0].lose()  # its lock connection dropped, the process kept running
    assert await standby.try_lead()
    with pytest.raises(NotLeader, match="standby"):
        async with lock.hold():
            pass
    assert leader.role is Role.FOLLOWER
    assert not leader.leading


async def test_a_standby_may_not_run_a_cycle_or_an_execution() -> None:
    _, (standby,) = contenders(1)
    with pytest.raises(NotLeader):
        async with TreasuryLock(None, timeout_s=1, leadership=standby).hold():
            pass


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TransientError("the chain node did not answer"), id="transient"),
        pytest.param(ValueError("a bug nobody expected"), id="unexpected"),
    ],
)
async def test_a_failed_take_over_lets_the_lock_go_for_another_instance(error: Exception) -> None:
    _, (first, second) = contenders()

    async def broken_take_over() -> None:
        raise error

    assert not await first.try_lead(broken_take_over)
    assert first.role is Role.FOLLOWER
    assert await second.try_lead()


async def test_the_take_over_runs_before_the_instance_counts_as_leader() -> None:
    _, (election,) = contenders(1)
    seen: list[tuple[Role, bool]] = []

    async def take_over() -> None:
        seen.append((election.role, await election.confirm()))

    assert await election.try_lead(take_over)
    assert seen == [(Role.TAKING_OVER, False)]
    assert await election.confirm()


async def test_a_standby_scheduler_runs_no_cycle_until_it_leads_then_runs_one_at_once() -> None:
    treasury = build_treasury(cash=400_000)
    locks, (leader, standby) = contenders()
    assert await leader.try_lead()
    services = SimpleNamespace(cycle=treasury.cycle, expire=treasury.expire)
    scheduler = Scheduler(
        services,  # type: ignore[arg-type]  # the scheduler calls only these two use cases
        SchedulerConfig(interval_s=3600, max_cycles=1),
        leadership=standby,
    )
    running = asyncio.create_task(scheduler.run())
    electing = asyncio.create_task(standby.run())
    await asyncio.sleep(0.1)
    assert scheduler.cycles == 0  # the leader is alive: the standby waits

    locks[0].lose()
    await asyncio.wait_for(running, timeout=5)
    standby.stop()
    await electing
    assert standby.role is Role.LEADER
    assert scheduler.cycles == 1  # at once, not an hour later
    assert scheduler.failures == 0


async def test_a_scheduler_whose_instance_lost_the_lead_skips_the_cycle_without_a_failure() -> None:
    treasury = build_treasury(cash=400_000)
    locks, (leader,) = contenders(1)
    assert await leader.try_lead()
    services = SimpleNamespace(cycle=treasury.cycle, expire=treasury.expire)
    scheduler = Scheduler(
        services,  # type: ignore[arg-type]
        SchedulerConfig(interval_s=0.01),
        leadership=leader,
    )
    running = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    assert scheduler.cycles > 0
    locks[0].lose()
    await asyncio.sleep(0.05)
    cycles = scheduler.cycles
    await asyncio.sleep(0.1)
    assert scheduler.cycles == cycles  # no cycle after the lock was lost
    assert scheduler.failures == 0
    scheduler.stop()
    await asyncio.wait_for(running, timeout=5)


async def test_a_scheduler_without_an_election_whose_cycles_are_refused_does_not_spin() -> None:
    # A cycle refused with NotLeader and no election to wait on: the scheduler goes round once
    # per interval, like after any other refused round, not as fast as the CPU allows.
    rounds = 0

    async def refused_cycle(command: object) -> None:
        nonlocal rounds
        rounds += 1
        await asyncio.sleep(0)  # yield, as a real cycle does, so a spinning loop shows up
        raise NotLeader

    async def nothing_to_expire() -> None:
        return None

    services = SimpleNamespace(
        cycle=SimpleNamespace(execute=refused_cycle),
        expire=SimpleNamespace(execute=nothing_to_expire),
    )
    scheduler = Scheduler(services, SchedulerConfig(interval_s=0.05))  # type: ignore[arg-type]
    running = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.5)
    scheduler.stop()
    await asyncio.wait_for(running, timeout=5)
    assert 1 <= rounds <= 15


async def test_an_unexpected_error_in_a_cycle_is_logged_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A bug in an adapter (an error outside the application's own kinds) must not end the
    # scheduler's loop: every later cycle would silently never run.
    rounds = 0

    async def cycle_with_a_bug_once(command: object) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise KeyError("an adapter's bug")

    async def nothing_to_expire() -> None:
        return None

    services = SimpleNamespace(
        cycle=SimpleNamespace(execute=cycle_with_a_bug_once),
        expire=SimpleNamespace(execute=nothing_to_expire),
    )
    scheduler = Scheduler(
        services,  # type: ignore[arg-type]  # the scheduler calls only these two use cases
        SchedulerConfig(interval_s=0.01, max_backoff_s=0.02, max_cycles=1),
    )
    with caplog.at_level("ERROR", logger="entrypoints.scheduler"):
        await asyncio.wait_for(scheduler.run(), timeout=5)
    assert rounds == 2  # the loop went on after the bug and ran the next cycle
    assert scheduler.failures == 1
    assert scheduler.cycles == 1
    assert any("unexpected error" in r.getMessage() and r.exc_info for r in caplog.records)
