"""End to end in paper mode, at the application level (the service container is not wired
yet): the reference $400K all-cash treasury's first cycle needs approval, and exactly one
"pending approval" notification reaches the webhook, with the decision id and its link."""

from __future__ import annotations

import httpx

from adapters.notify.dispatcher import NotificationDispatcher, RetryPolicy, Route
from adapters.notify.webhook import WebhookChannel, verify_signature
from adapters.persistence.deliveries import InMemoryDeliveryLog
from application.approvals import ApprovalCommand, DecideOnApproval, ExecuteApprovedDecision
from application.cycle import CycleCommand, CycleOutcome, RunDecisionCycle
from application.ports.notify import DeliveryOutcome
from tests.fakes.treasury import FakePortfolio, SequentialIds
from tests.integration.notify.fake_services import FakeService
from tests.unit.application.conftest import build_treasury

DASHBOARD = "http://127.0.0.1:8600"
SECRET = "e2e-webhook-secret"


async def test_a_move_above_the_approval_limit_sends_exactly_one_pending_approval_notification(
    service: FakeService, client: httpx.AsyncClient, delivery_log: InMemoryDeliveryLog
) -> None:
    t = build_treasury(cash=400_000)
    channel = WebhookChannel(url=f"{service.url}/hook", secret=SECRET, client=client, clock=t.clock)
    dispatcher = NotificationDispatcher(
        [Route(channel=channel)],
        delivery_log,
        t.clock,
        retry=RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.01, jitter_s=0),
    )
    portfolio = FakePortfolio(t.book)
    cycle = RunDecisionCycle(
        clock=t.clock,
        ids=SequentialIds(),
        market=t.market,
        portfolio=portfolio,
        conditions=t.conditions,
        advisor=t.advisor,
        uow=t.uow,
        runner=t.runner,
        lock=t.lock,
        state_file=t.state_file,
        notifier=dispatcher,
        dashboard_url=DASHBOARD,
    )

    result = await cycle.execute(CycleCommand(requested_by="scheduler"))
    assert await dispatcher.drain(5)

    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    decision_id = result.decision.id
    [request] = service.requests
    payload = request.json()
    assert payload["kind"] == "approval_pending"
    assert payload["fields"]["Decision"] == decision_id
    assert payload["links"] == [
        {"label": "Open in dashboard", "url": f"{DASHBOARD}/#decision-{decision_id}"}
    ]
    assert result.plan is not None
    assert payload["fields"]["Largest move"] == f"${result.plan.largest_move_usd:,.2f}"
    assert payload["fields"]["Expires"] == "2026-03-03 12:00 UTC"
    assert "largest single move" in payload["body"]
    assert verify_signature(
        SECRET,
        timestamp=request.headers["x-treasury-timestamp"],
        body=request.body,
        signature=request.headers["x-treasury-signature"],
        now=t.clock.now(),
    )
    assert [r.outcome for r in delivery_log.records] == [DeliveryOutcome.SENT]

    # The human approves from the link; the approval and the execution are announced too.
    approve = DecideOnApproval(
        clock=t.clock, uow=t.uow, notifier=dispatcher, dashboard_url=DASHBOARD
    )
    execute = ExecuteApprovedDecision(
        clock=t.clock,
        uow=t.uow,
        portfolio=portfolio,
        conditions=t.conditions,
        runner=t.runner,
        lock=t.lock,
        notifier=dispatcher,
        dashboard_url=DASHBOARD,
    )
    await approve.execute(ApprovalCommand(decision_id=decision_id, approved=True, approver="alice"))
    report = await execute.execute(decision_id)
    assert report is not None
    assert report.succeeded
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    kinds = [r.json()["kind"] for r in service.requests]
    assert kinds == ["approval_pending", "decision_approved", "plan_executed"]
    executed = service.requests[-1].json()
    assert executed["fields"]["Decision"] == decision_id
    assert f"{len(report.steps)} transactions" in executed["title"]
