"""A simulated year of paper trading, driven by `POST /paper/advance`: the Pendle PT position
matures and is rolled into the dev chain's next market by an ordinary plan (redeem, then buy
PT of the new market) that the safety policy judges, a human approves (it moves more than the
approval limit), the audit log records, and the engine executes; afterwards the base sleeve
holds PT of the new market, not idle cash.

The real paper runtime (SQLite, the in-process dev chain and its fake Pendle API, the simulated
market, the rules advisor, the execution engine), one decision cycle after each jump in time.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.approvals import ApprovalCommand
from application.cycle import CycleCommand, CycleOutcome
from domain.decisions import DecisionStatus
from domain.plans import RebalancingPlan, TransactionType
from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, Runtime, bootstrap
from entrypoints.paper_routes import paper_routes

pytestmark = pytest.mark.slow(seconds=420)

OPERATOR = "roll-operator-token-000001"
# 365 days in three jumps, a decision cycle after each: the first market (180 days at the start)
# nears maturity and the next is listed, then it matures, then the year ends past the second
# market's maturity. Few jumps keep the in-process chain's work (and the test) short.
STEPS_DAYS = (120, 60, 185)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Runtime, AsyncTestClient[Litestar]]]:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_API_TOKENS", f"{OPERATOR}:operator")
    runtime = await bootstrap(AppSettings.load())
    try:
        assert await runtime.election.try_lead(runtime.take_over)  # alone: it leads at once
        app = create_app(runtime.services, runtime.tokens, extra_routes=paper_routes(runtime))
        async with AsyncTestClient(app=app, timeout=600) as client:
            yield runtime, client
    finally:
        await runtime.aclose()


def pendle_markets(plan: RebalancingPlan) -> tuple[set[Any], set[Any]]:
    """The Pendle markets a plan redeems from and buys into."""
    out = {
        getattr(t, "market", None)
        for t in plan.required_transactions
        if t.protocol == "pendle" and t.tx_type is TransactionType.WITHDRAW
    }
    into = {
        getattr(t, "market", None)
        for t in plan.required_transactions
        if t.protocol == "pendle" and t.tx_type is TransactionType.DEPOSIT
    }
    return out, into


def is_roll(plan: RebalancingPlan | None) -> bool:
    if plan is None:
        return False
    out, into = pendle_markets(plan)
    return bool(out) and bool(into) and None not in out | into and not out & into


async def test_a_simulated_year_rolls_the_pt_position_through_the_policy(
    paper: tuple[Runtime, AsyncTestClient[Litestar]],
) -> None:
    runtime, client = paper
    first = await runtime.chain.portfolio.read()
    assert {p.key for p in first.positions} >= {("pendle", "PT-USDC")}  # the 60/40 start

    rolls: list[tuple[str, RebalancingPlan]] = []
    assert sum(STEPS_DAYS) == 365
    for days in STEPS_DAYS:
        advanced = await client.post("/paper/advance", json={"days": days}, headers=auth(OPERATOR))
        assert advanced.status_code == 200, advanced.text
        result = await runtime.services.cycle.execute(CycleCommand())
        if not is_roll(result.plan):
            continue
        assert result.plan is not None
        rolls.append((result.decision.id, result.plan))
        if result.outcome is CycleOutcome.PENDING_APPROVAL:
            # What `POST /decisions/{id}/approve` runs, in-process: the test client serves the
            # app on its own event loop, where the engine's lock cannot be awaited.
            services = runtime.services
            await services.approve.execute(
                ApprovalCommand(
                    decision_id=result.decision.id, approved=True, approver="approver:e2e"
                )
            )
            await services.execute_approved.execute(result.decision.id)

    assert rolls, "no plan rolled the PT position in a simulated year"
    async with runtime.uow() as unit:
        entries = await unit.audit.entries(limit=100_000)
        assert await unit.audit.verify() is None
        decisions = {d.id: d for d in await unit.decisions.recent(limit=10_000)}
    for decision_id, plan in rolls:
        assert decisions[decision_id].status is DecisionStatus.EXECUTED, decisions[decision_id]
        judged = [
            e
            for e in entries
            if e.subject_id == plan.plan_id and e.action in {"plan.allowed", "plan.needs_approval"}
        ]
        assert judged, f"the roll {plan.plan_id} was never judged by the policy"
        verdict = judged[0].payload["verdict"]
        assert isinstance(verdict, dict)
        assert verdict["rules"]
        assert any(e.subject_id == plan.plan_id and e.action == "plan.executed" for e in entries), (
            f"the roll {plan.plan_id} was not recorded as executed"
        )

    # The base sleeve holds PT again afterwards, of the market rolled into, not redeemed cash.
    state = (await client.get("/portfolio/status", headers=auth(OPERATOR))).json()
    pendle = [p for p in state["positions"] if p["protocol"] == "pendle"]
    assert pendle, state["positions"]
    assert Decimal(str(pendle[0]["value_usd"])) > Decimal(50_000), state["positions"]
    terms = runtime.chain.terms
    assert terms is not None
    held = await terms.holdings()
    _, last_into = pendle_markets(rolls[-1][1])
    assert {h.market.market for h in held} == last_into
    assert all(h.market.matures_at > runtime.clock.now() for h in held)
