"""The API's edge over fakes: strict bodies, headers, the emergency stop on approval, rate
limits and a new treasury's metrics (issue #14's hostile-request probe)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.api.app import ApiLimits, create_app
from entrypoints.dashboard import dashboard_routes
from tests.unit.application.conftest import Treasury, build_treasury
from tests.unit.entrypoints.test_api import APPROVER, OPERATOR, TOKENS, auth, services_for

Client = AsyncTestClient[Litestar]

# Every JSON body route of a service built without paper mode: (method, path, a valid body, role).
BODY_ROUTES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/portfolio/rebalance", {"force": False}, OPERATOR),
    ("POST", "/decisions/dec-1/approve", {"approved": False}, APPROVER),
    ("POST", "/emergency-stop", {"reason": "drill"}, OPERATOR),
    ("POST", "/resume", {"reason": "drill over"}, APPROVER),
    ("PUT", "/market/mvrv", {"value": 2}, OPERATOR),
]


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, Treasury]]:
    t = build_treasury(cash=400_000)
    app = create_app(services_for(t), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        yield c, t


async def audit_count(t: Treasury) -> int:
    async with t.uow() as u:
        return len(await u.audit.entries(limit=100_000))


async def send(
    c: Client, method: str, path: str, content: bytes, token: str, content_type: str
) -> Any:
    headers = {**auth(token), "Content-Type": content_type}
    return await c.request(method, path, content=content, headers=headers)


@pytest.mark.parametrize(("method", "path", "_", "token"), BODY_ROUTES)
async def test_invalid_utf8_in_a_json_body_is_a_400_with_a_json_error(
    client: tuple[Client, Treasury], method: str, path: str, _: dict[str, Any], token: str
) -> None:
    c, t = client
    before = await audit_count(t)
    response = await send(c, method, path, b'{"reason":"\xff\xfe"}', token, "application/json")
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["error"]
    assert await audit_count(t) == before


LOOSE_BODIES = [
    pytest.param("/portfolio/rebalance", '{"force": "yes"}', id="force-as-a-string"),
    pytest.param("/portfolio/rebalance", '{"force": 1}', id="force-as-a-number"),
    pytest.param("/portfolio/rebalance", '{"force": "on"}', id="force-as-on"),
    pytest.param("/portfolio/rebalance", '{"max_slippage": "0.01"}', id="slippage-as-a-string"),
    pytest.param("/portfolio/rebalance", '{"force": false, "force": true}', id="duplicate-keys"),
    pytest.param("/market/mvrv", '{"value": "1_0"}', id="mvrv-with-underscore"),
    pytest.param("/market/mvrv", '{"value": true}', id="mvrv-as-a-boolean"),
    pytest.param("/market/mvrv", '{"value": NaN}', id="mvrv-nan"),
    pytest.param("/market/mvrv", '{"value": 1e-400}', id="mvrv-below-precision"),
    pytest.param("/market/mvrv", '{"value": 1.' + "1" * 5000 + "}", id="mvrv-5000-digits"),
    pytest.param("/market/mvrv", '{"value": ' + "1" * 5000 + "}", id="mvrv-5000-digit-integer"),
    pytest.param("/emergency-stop", '{"reason": "ok\\u0000"}', id="reason-with-nul"),
    pytest.param("/emergency-stop", '{"reason": "ok\\u001b[31m"}', id="reason-with-escape"),
    pytest.param("/emergency-stop", '{"reason": "evil\\u202etxt"}', id="reason-with-bidi"),
    pytest.param("/emergency-stop", '{"reason": "\\ud800"}', id="reason-lone-surrogate"),
    pytest.param("/emergency-stop", '{"reason": "   "}', id="reason-blank"),
    pytest.param(
        "/decisions/dec-1/approve",
        '{"approved": false, "notes": "fine\\u2066hidden"}',
        id="notes-with-bidi-isolate",
    ),
    pytest.param("/decisions/dec-1/approve", '{"approved": "false"}', id="approved-as-a-string"),
]


@pytest.mark.parametrize(("path", "body"), LOOSE_BODIES)
async def test_loose_values_at_the_api_edge_are_refused_with_400_and_nothing_stored(
    client: tuple[Client, Treasury], path: str, body: str
) -> None:
    c, t = client
    method = "PUT" if path == "/market/mvrv" else "POST"
    before = await audit_count(t)
    # The approver role includes the operator's, so one token reaches every route.
    response = await send(c, method, path, body.encode(), APPROVER, "application/json")
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert await audit_count(t) == before


async def test_strict_bodies_still_accept_json_numbers_and_booleans(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    mvrv = await send(c, "PUT", "/market/mvrv", b'{"value": 2.45}', OPERATOR, "application/json")
    assert mvrv.status_code == 200, mvrv.text
    assert mvrv.json()["mvrv_z_score"] == 2.45
    integer = await send(c, "PUT", "/market/mvrv", b'{"value": -3}', OPERATOR, "application/json")
    assert integer.status_code == 200, integer.text
    rebalance = await send(
        c,
        "POST",
        "/portfolio/rebalance",
        b'{"force": true, "max_slippage": 0.01}',
        OPERATOR,
        "application/json; charset=utf-8",
    )
    assert rebalance.status_code == 403, rebalance.text  # $400K of cash: the plan waits
    stop = await send(
        c,
        "POST",
        "/emergency-stop",
        '{"reason": "drill: ünïcode ok"}'.encode(),
        OPERATOR,
        "application/json",
    )
    assert stop.status_code == 200, stop.text


async def test_a_text_plain_body_is_not_parsed_as_json(client: tuple[Client, Treasury]) -> None:
    c, t = client
    before = await audit_count(t)
    response = await send(
        c, "POST", "/emergency-stop", b'{"reason": "drill"}', OPERATOR, "text/plain"
    )
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"]
    assert await audit_count(t) == before


async def test_approving_during_an_emergency_stop_is_409_and_the_decision_stays_pending(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    cycle = await c.post("/portfolio/rebalance", json={"force": True}, headers=auth(OPERATOR))
    assert cycle.status_code == 403
    decision_id = cycle.json()["decision_id"]
    stop = await c.post("/emergency-stop", json={"reason": "drill"}, headers=auth(OPERATOR))
    assert stop.status_code == 200
    answer = await c.post(
        f"/decisions/{decision_id}/approve", json={"approved": True}, headers=auth(APPROVER)
    )
    assert answer.status_code == 409, answer.text
    assert "emergency stop" in answer.json()["error"]
    assert (await c.get(f"/decisions/{decision_id}")).json()["status"] == "pending"
    assert t.runner.executed == []
    # Rejecting stays possible while stopped: it moves no money.
    rejected = await c.post(
        f"/decisions/{decision_id}/approve", json={"approved": False}, headers=auth(APPROVER)
    )
    assert rejected.status_code == 200


async def test_json_answers_carry_nosniff_and_no_store(client: tuple[Client, Treasury]) -> None:
    c, _ = client
    for path in ("/portfolio/status", "/audit", "/decisions", "/transactions", "/health"):
        response = await c.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "no-store", path
    refused = await c.post("/emergency-stop", json={"reason": ""}, headers=auth(OPERATOR))
    assert refused.status_code == 400
    assert refused.headers["x-content-type-options"] == "nosniff"
    unknown = await c.get("/no/such/route")
    assert unknown.status_code == 404
    assert unknown.headers["x-content-type-options"] == "nosniff"


async def test_the_dashboard_page_has_one_charset_in_its_content_type(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    response = await c.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_forced_rebalances_are_rate_limited_per_token_with_429_and_retry_after() -> None:
    t = build_treasury(cash=400_000)
    limits = ApiLimits(rebalances_per_minute=2, mutations_per_minute=100)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS, limits=limits)) as c:
        for _ in range(2):
            ok = await c.post("/portfolio/rebalance", json={"force": True}, headers=auth(OPERATOR))
            assert ok.status_code in (202, 403), ok.text  # the cycle ran
        decisions = len((await c.get("/decisions")).json())
        limited = await c.post("/portfolio/rebalance", json={"force": True}, headers=auth(OPERATOR))
        assert limited.status_code == 429, limited.text
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "error" in limited.json()
        assert len((await c.get("/decisions")).json()) == decisions
        # Another token has its own allowance.
        other = await c.post("/portfolio/rebalance", json={"force": True}, headers=auth(APPROVER))
        assert other.status_code in (202, 403), other.text


async def test_every_mutating_route_is_rate_limited_per_token() -> None:
    t = build_treasury(cash=400_000)
    limits = ApiLimits(rebalances_per_minute=100, mutations_per_minute=3)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS, limits=limits)) as c:
        for value in (1, 2, 3):
            ok = await c.put("/market/mvrv", json={"value": value}, headers=auth(OPERATOR))
            assert ok.status_code == 200, ok.text
        limited = await c.post("/emergency-stop", json={"reason": "x"}, headers=auth(OPERATOR))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        # Reads are not limited.
        for _ in range(5):
            assert (await c.get("/portfolio/status")).status_code == 200


async def test_made_up_tokens_share_their_address_allowance() -> None:
    t = build_treasury(cash=400_000)
    limits = ApiLimits(rebalances_per_minute=100, mutations_per_minute=2)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS, limits=limits)) as c:
        answers = [
            (await c.post("/resume", json={"reason": "x"}, headers=auth(f"made-up-{i:020d}")))
            for i in range(3)
        ]
        assert [a.status_code for a in answers] == [401, 401, 429]
        # A valid token still has its own allowance.
        ok = await c.put("/market/mvrv", json={"value": 1}, headers=auth(OPERATOR))
        assert ok.status_code == 200, ok.text


async def test_performance_metrics_on_a_new_treasury_is_200_with_nulls_and_a_reason(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    response = await c.get("/performance/metrics", params={"time_range": "7d"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["time_range"] == "7d"
    assert body["points"] == 0
    assert body["time_weighted_return"] is None
    assert body["apy"] is None
    assert body["max_drawdown"] is None
    assert "not enough history" in body["note"]
    assert body["equity_curve"] == []
    assert body["risk_free_rate"] == 0.04
