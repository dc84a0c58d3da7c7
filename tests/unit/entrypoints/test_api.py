"""The REST API over fakes: status codes, auth, validation and the spec's field names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient

from application.operator import LiftReentryCooldown
from application.performance import GetPerformanceMetrics
from application.queries import (
    CheckHealth,
    GetMarketData,
    GetPortfolioStatus,
    ListDecisions,
    ListTransactions,
    PreviewSignal,
    ReadAudit,
)
from application.read_model import CycleFeedingViews, ExecutionFeedingViews, build_views
from domain.strategy import StrategyConfig
from entrypoints.api.app import create_app
from entrypoints.api.auth import TokenRegistry
from entrypoints.api.services import Services
from tests.fakes.treasury import FakePortfolio, StaticProbe
from tests.unit.application.conftest import SWEPT, Treasury, build_treasury

VIEWER = "viewer-token-000000000001"
OPERATOR = "operator-token-0000000001"
APPROVER = "approver-token-0000000001"
TOKENS = TokenRegistry.parse(f"{VIEWER}:viewer,{OPERATOR}:operator,{APPROVER}:approver")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def services_for(t: Treasury, portfolio: FakePortfolio | None = None) -> Services:
    status = GetPortfolioStatus(
        clock=t.clock, portfolio=portfolio or FakePortfolio(t.book), uow=t.uow
    )
    views = build_views(
        clock=t.clock,
        status=status,
        market=GetMarketData(market=t.market),
        signal=PreviewSignal(clock=t.clock, market=t.market, uow=t.uow),
        status_refresh_s=None,
        market_refresh_s=None,
    )
    return Services(
        market=GetMarketData(market=t.market),
        signal=PreviewSignal(clock=t.clock, market=t.market, uow=t.uow),
        status=status,
        cycle=CycleFeedingViews(cycle=t.cycle, views=views, status=status, clock=t.clock),
        views=views,
        decisions=ListDecisions(uow=t.uow),
        approve=t.approve,
        execute_approved=ExecutionFeedingViews(execution=t.execute_approved, views=views),
        expire=t.expire,
        emergency_stop=t.stop,
        resume=t.resume,
        lift_cooldown=LiftReentryCooldown(clock=t.clock, uow=t.uow, strategy=StrategyConfig()),
        manual_mvrv=t.manual_mvrv,
        audit=ReadAudit(uow=t.uow),
        transactions=ListTransactions(uow=t.uow),
        health=CheckHealth(
            clock=t.clock,
            uow=t.uow,
            market=t.market,
            advisor=StaticProbe("rules"),
            protocols=[StaticProbe("aave")],
        ),
        performance=GetPerformanceMetrics(
            uow_factory=t.uow, clock=t.clock, risk_free_rate=Decimal("0.04")
        ),
    )


@pytest.fixture
async def cash_client() -> AsyncIterator[tuple[AsyncTestClient, Treasury]]:  # type: ignore[type-arg]
    t = build_treasury(cash=400_000)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS)) as client:
        yield client, t


@pytest.fixture
async def balanced_client() -> AsyncIterator[tuple[AsyncTestClient, Treasury]]:  # type: ignore[type-arg]
    t = build_treasury(cash=10_000, holdings=SWEPT)  # its idle cash already swept
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS)) as client:
        yield client, t


async def test_market_data_uses_the_spec_field_names(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = cash_client
    response = await client.get("/market/data")
    assert response.status_code == 200
    body = response.json()
    assert {
        "btc_price",
        "eth_price",
        "mvrv_z_score",
        "funding_rate",
        "fear_greed_index",
        "market_phase",
        "timestamp",
    } <= set(body)
    assert body["btc_price"] == 60000
    assert body["market_phase"] == "euphoria"


async def test_market_data_failure_is_a_500_with_a_message(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, t = cash_client
    t.market.down = True
    response = await client.get("/market/data")
    assert response.status_code == 500
    assert "every source is down" in response.json()["error"]


async def test_signal_has_targets_confidence_and_reasoning(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = cash_client
    body = (await client.get("/market/signal")).json()
    assert body["mode"] == "tactical"
    assert body["target_allocations"] == {"base_yield": 0.6, "tactical": 0.24, "cash": 0.16}
    assert 0 < body["confidence"] <= 1
    assert body["reasoning"]


async def test_mutations_need_a_token_and_the_right_role(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = cash_client
    no_token = await client.post("/portfolio/rebalance", json={})
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"] == "Bearer"
    bad_token = await client.post(
        "/portfolio/rebalance", json={}, headers=auth("not-a-real-token-00000")
    )
    assert bad_token.status_code == 401
    viewer = await client.post("/portfolio/rebalance", json={}, headers=auth(VIEWER))
    assert viewer.status_code == 403
    assert "viewer role may not" in viewer.json()["error"]
    for body in (no_token, bad_token, viewer):
        assert VIEWER not in body.text


async def test_invalid_bodies_are_400_with_a_message(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = cash_client
    response = await client.post(
        "/portfolio/rebalance", json={"max_slippage": 2}, headers=auth(OPERATOR)
    )
    assert response.status_code == 400
    assert "error" in response.json()
    unknown = await client.post(
        "/portfolio/rebalance", json={"forse": True}, headers=auth(OPERATOR)
    )
    assert unknown.status_code == 400


async def test_a_large_rebalance_is_403_with_the_pending_decision(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, t = cash_client
    response = await client.post(
        "/portfolio/rebalance", json={"force": True}, headers=auth(OPERATOR)
    )
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "pending_approval"
    assert body["plan"]["requires_approval"] is True
    pending = (await client.get("/decisions/pending")).json()
    assert [d["id"] for d in pending] == [body["decision_id"]]

    operator_try = await client.post(
        f"/decisions/{body['decision_id']}/approve", json={"approved": True}, headers=auth(OPERATOR)
    )
    assert operator_try.status_code == 403
    approved = await client.post(
        f"/decisions/{body['decision_id']}/approve",
        json={"approved": True, "notes": "go"},
        headers=auth(APPROVER),
    )
    assert approved.status_code == 202
    assert approved.json()["status"] == "approved"
    assert t.runner.executed == [
        body["plan"]["plan_id"]
    ]  # the background task ran after the response
    assert (await client.get("/decisions/pending")).json() == []
    again = await client.post(
        f"/decisions/{body['decision_id']}/approve", json={"approved": True}, headers=auth(APPROVER)
    )
    assert again.status_code == 409
    missing = await client.post(
        "/decisions/nope/approve", json={"approved": True}, headers=auth(APPROVER)
    )
    assert missing.status_code == 404


async def test_rejecting_is_200_and_nothing_executes(cash_client) -> None:  # type: ignore[no-untyped-def]
    client, t = cash_client
    decision_id = (
        await client.post("/portfolio/rebalance", json={}, headers=auth(OPERATOR))
    ).json()["decision_id"]
    response = await client.post(
        f"/decisions/{decision_id}/approve",
        json={"approved": False, "notes": "no"},
        headers=auth(APPROVER),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert t.runner.executed == []
    history = (await client.get("/decisions")).json()
    assert history[0]["id"] == decision_id


async def test_a_small_rebalance_executes_with_202(balanced_client) -> None:  # type: ignore[no-untyped-def]
    client, t = balanced_client
    t.market.set(mvrv_z_score=Decimal("5.2"), fear_greed_index=80, funding_rate=Decimal("0.0003"))
    response = await client.post(
        "/portfolio/rebalance", json={"max_slippage": 0.01}, headers=auth(OPERATOR)
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "executed"
    assert [s["status"] for s in body["transactions"]] == ["confirmed", "confirmed"]
    listed = (await client.get("/transactions?limit=5")).json()
    assert [x["status"] for x in listed] == ["confirmed", "confirmed"]
    assert listed[0]["tx_hash"].startswith("0x")
    assert listed[0]["explorer_url"] is None  # the dev chain (31337) has no public explorer
    assert body["plan"]["required_transactions"][0]["tx_type"] == "swap"


async def test_emergency_stop_blocks_until_resume(balanced_client) -> None:  # type: ignore[no-untyped-def]
    client, t = balanced_client
    stop = await client.post("/emergency-stop", json={"reason": "drill"}, headers=auth(OPERATOR))
    assert stop.status_code == 200
    assert stop.json()["emergency_stop"] is True
    t.market.set(mvrv_z_score=Decimal("5.2"))
    blocked = await client.post("/portfolio/rebalance", json={}, headers=auth(OPERATOR))
    assert blocked.status_code == 422
    assert any("emergency_stop" in r for r in blocked.json()["reasons"])
    assert (
        await client.post("/resume", json={"reason": "ok"}, headers=auth(OPERATOR))
    ).status_code == 403
    assert (
        await client.post("/resume", json={"reason": "ok"}, headers=auth(APPROVER))
    ).status_code == 200
    assert (
        await client.post("/portfolio/rebalance", json={}, headers=auth(OPERATOR))
    ).status_code == 202
    health = (await client.get("/health")).json()
    assert health["emergency_stop"] is False


async def test_health_audit_mvrv_and_schema(balanced_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = balanced_client
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["protocols_status"] == {"aave": "healthy"}
    mvrv = await client.put("/market/mvrv", json={"value": 2.4}, headers=auth(OPERATOR))
    assert mvrv.status_code == 200
    audit = (await client.get("/audit")).json()
    assert audit[-1]["action"] == "market.manual_mvrv"
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_an_exit_the_advisor_asks_for_in_a_calm_market_is_not_executed_without_a_human(  # type: ignore[no-untyped-def]
    balanced_client,
) -> None:
    client, t = balanced_client
    t.advisor.asks_exit = True
    answer = await client.post("/portfolio/rebalance", json={}, headers=auth(OPERATOR))
    assert answer.status_code == 403
    assert t.book.state().volatile_value() > 0
    assert not t.runner.executed


async def test_an_approver_lifts_the_reentry_cooldown_after_an_exit(balanced_client) -> None:  # type: ignore[no-untyped-def]
    client, t = balanced_client
    assert (
        await client.post("/cooldown/lift", json={"reason": "x"}, headers=auth(APPROVER))
    ).status_code == 404
    t.market.set(btc_change_24h=Decimal("-0.22"))
    crash = await client.post("/portfolio/rebalance", json={}, headers=auth(OPERATOR))
    assert crash.status_code == 202
    body = {"reason": "the crash was a bad print"}
    assert (
        await client.post("/cooldown/lift", json=body, headers=auth(OPERATOR))
    ).status_code == 403
    lifted = await client.post("/cooldown/lift", json=body, headers=auth(APPROVER))
    assert lifted.status_code == 200
    assert lifted.json()["reason"] == "the crash was a bad print"
    audit = (await client.get("/audit", headers=auth(VIEWER))).json()
    assert any(e["action"] == "reentry_cooldown.lifted" for e in audit)
