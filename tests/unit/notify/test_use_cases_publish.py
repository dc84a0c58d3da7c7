"""Use cases tell the notifier what happened, after committing, and a broken notifier never
fails them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from application.approvals import ApprovalCommand, DecideOnApproval, ExpirePendingDecisions
from application.cycle import CycleCommand, CycleOutcome, RunDecisionCycle
from application.daily_summary import PublishDailySummary
from application.operator import EmergencyStop, FlagChange, Resume
from application.ports.notify import Event, EventKind
from application.queries import GetPortfolioStatus
from domain.decisions import DecisionStatus
from tests.fakes.treasury import FakePortfolio, SequentialIds
from tests.unit.application.conftest import SWEPT, Treasury, build_treasury
from tests.unit.notify.samples import RecordingNotifier

URL = "http://127.0.0.1:8600"


class BrokenNotifier:
    """A notifier with a bug: publishing raises."""

    def publish(self, event: Event) -> None:
        raise RuntimeError("notifier bug")


def cycle_with(t: Treasury, notifier: object) -> RunDecisionCycle:
    return RunDecisionCycle(
        clock=t.clock,
        ids=SequentialIds(),
        market=t.market,
        portfolio=FakePortfolio(t.book),
        conditions=t.conditions,
        advisor=t.advisor,
        uow=t.uow,
        runner=t.runner,
        lock=t.lock,
        state_file=t.state_file,
        notifier=notifier,  # type: ignore[arg-type]
        dashboard_url=URL,
    )


async def test_a_cycle_needing_approval_publishes_one_pending_approval_after_committing() -> None:
    t = build_treasury(cash=400_000)
    notifier = RecordingNotifier()
    result = await cycle_with(t, notifier).execute(CycleCommand())
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    [event] = notifier.events
    assert event.kind is EventKind.APPROVAL_PENDING
    assert event.links[0].url == f"{URL}/#decision-{result.decision.id}"
    async with t.uow() as uow:  # the decision the human is sent to exists
        assert (await uow.decisions.get(result.decision.id)).status is DecisionStatus.PENDING


async def test_a_broken_notifier_never_fails_a_cycle() -> None:
    t = build_treasury(cash=400_000)
    result = await cycle_with(t, BrokenNotifier()).execute(CycleCommand())
    assert result.outcome is CycleOutcome.PENDING_APPROVAL


async def test_a_balanced_treasury_that_holds_publishes_nothing() -> None:
    t = build_treasury(cash=10_000, holdings=SWEPT)
    notifier = RecordingNotifier()
    result = await cycle_with(t, notifier).execute(CycleCommand())
    assert result.outcome is CycleOutcome.HELD
    assert notifier.events == []


async def test_an_automatic_execution_publishes_the_executed_plan() -> None:
    t = build_treasury(cash=10_000, holdings=SWEPT)
    notifier = RecordingNotifier()
    cycle = cycle_with(t, notifier)
    await cycle.execute(CycleCommand())
    t.market.set(mvrv_z_score=Decimal("5.2"), fear_greed_index=80, funding_rate=Decimal("0.0003"))
    result = await cycle.execute(CycleCommand())
    assert result.outcome is CycleOutcome.EXECUTED
    [event] = notifier.of(EventKind.PLAN_EXECUTED)
    assert event.fields["Decision"] == result.decision.id


async def test_repeated_failures_publish_each_failure_and_the_tripped_breaker() -> None:
    t = build_treasury(cash=10_000, holdings=SWEPT)
    notifier = RecordingNotifier()
    cycle = cycle_with(t, notifier)
    t.runner.fail_at = 0
    # Every sale is half of the $96K sleeve (nothing sells): within the $50K approval limit.
    for mvrv in ("5.2", "5.5", "6.0"):
        t.market.set(
            mvrv_z_score=Decimal(mvrv), fear_greed_index=80, funding_rate=Decimal("0.0003")
        )
        await cycle.execute(CycleCommand(force=True))
    failures = notifier.of(EventKind.EXECUTION_FAILED)
    assert len(failures) == 3
    assert failures[0].fields["Error"] == "execution reverted: slippage"
    [tripped] = notifier.of(EventKind.CIRCUIT_BREAKER_TRIPPED)
    assert tripped.fields["Consecutive failures"] == "3"


async def test_answers_expiry_and_the_emergency_stop_are_published() -> None:
    t = build_treasury(cash=400_000)
    notifier = RecordingNotifier()
    cycle = cycle_with(t, notifier)
    first = await cycle.execute(CycleCommand())
    approve = DecideOnApproval(clock=t.clock, uow=t.uow, notifier=notifier, dashboard_url=URL)
    await approve.execute(
        ApprovalCommand(decision_id=first.decision.id, approved=False, approver="alice")
    )
    second = await cycle.execute(CycleCommand())
    t.clock.advance(timedelta(hours=25))
    expire = ExpirePendingDecisions(clock=t.clock, uow=t.uow, notifier=notifier, dashboard_url=URL)
    await expire.execute()
    await EmergencyStop(clock=t.clock, uow=t.uow, notifier=notifier).execute(
        FlagChange(actor="bob", reason="exploit reported")
    )
    await Resume(clock=t.clock, uow=t.uow, notifier=notifier).execute(
        FlagChange(actor="alice", reason="patched")
    )
    assert [e.kind for e in notifier.events] == [
        EventKind.APPROVAL_PENDING,
        EventKind.DECISION_REJECTED,
        EventKind.APPROVAL_PENDING,
        EventKind.DECISION_EXPIRED,
        EventKind.EMERGENCY_STOP,
        EventKind.EMERGENCY_RESUMED,
    ]
    assert notifier.events[3].fields["Decision"] == second.decision.id


async def test_the_daily_summary_reports_the_portfolio_value() -> None:
    t = build_treasury(cash=400_000)
    notifier = RecordingNotifier()
    status = GetPortfolioStatus(clock=t.clock, portfolio=FakePortfolio(t.book), uow=t.uow)
    summary = PublishDailySummary(
        clock=t.clock, status=status, notifier=notifier, dashboard_url=URL
    )
    state = await summary.execute()
    [event] = notifier.events
    assert event.kind is EventKind.DAILY_SUMMARY
    assert event.fields["Value"] == "$400,000.00"
    assert state.total_value_usd == Decimal(400_000)


async def test_an_exit_the_advisor_asks_for_is_announced_as_pending_not_as_a_black_swan() -> None:
    t = build_treasury(cash=10_000, holdings=SWEPT)
    t.advisor.asks_exit = True
    notifier = RecordingNotifier()
    result = await cycle_with(t, notifier).execute(CycleCommand())
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    assert [e.kind for e in notifier.events] == [EventKind.APPROVAL_PENDING]
