"""The dashboard's routes over fakes: roles, no token leaks, panels from the API's answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.errors import TransientError
from domain.portfolio import PortfolioState
from entrypoints.api import app as api_app
from entrypoints.api.app import create_app, performance_metrics
from entrypoints.dashboard import dashboard_routes
from entrypoints.dashboard.routes import render_panels
from entrypoints.dashboard.views import SOURCES, Answer, Viewer, parse_performance, performance_view
from tests.fakes.treasury import FakePortfolio
from tests.unit.application.conftest import BALANCED, Treasury, build_treasury
from tests.unit.domain.builders import market
from tests.unit.entrypoints.test_api import APPROVER, OPERATOR, TOKENS, VIEWER, auth, services_for

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, Treasury]]:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    app = create_app(services_for(t), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        yield c, t


def api_body(**changes: object) -> dict[str, Any]:
    """A GET /performance/metrics answer as the dashboard receives it (JSON numbers as Decimal)."""
    at = ("2026-02-23T12:00:00Z", "2026-02-26T12:00:00Z", "2026-03-02T12:00:00Z")
    body: dict[str, Any] = {
        "time_range": "7d",
        "requested_from": "2026-02-23T12:00:00Z",
        "from": at[0],
        "to": at[2],
        "points": 3,
        "covers_range": True,
        "note": None,
        "equity_curve": [
            {"at": at[0], "value_usd": 400000},
            {"at": at[1], "value_usd": 388000},
            {"at": at[2], "value_usd": 404920},
        ],
        "drawdown": [{"at": at[1], "drawdown": 0.03}],
        "baselines": {
            "btc_hold": [
                {"at": at[0], "value_usd": 400000},
                {"at": at[2], "value_usd": 371000},
            ]
        },
        "start_value_usd": 400000,
        "end_value_usd": 404920,
        "net_flows_usd": 0,
        "pnl_usd": 4920,
        "time_weighted_return": 0.0123,
        "apy": 0.071,
        "sharpe_ratio": 1.84,
        "sortino": 2.5,
        "sharpe_at_zero_rate": 1.31,
        "sortino_at_zero_rate": 1.9,
        "sharpe_at_static_yield": 0.79,
        "sortino_at_static_yield": 1.1,
        "volatility": 0.2,
        "max_drawdown": 0.03,
        "max_drawdown_peak_at": at[0],
        "max_drawdown_trough_at": at[1],
        "max_drawdown_recovered_at": at[2],
        "risk_free_rate": 0.04,
        "static_yield_apy": 0.065,
        "gas_spent_usd": 12.5,
        "trade_count": 4,
        "trade_volume_usd": 20000,
        "trade_history": [],
        "trades_complete": True,
    }
    body.update(changes)
    decoded: dict[str, Any] = json.loads(json.dumps(body), parse_float=Decimal)
    return decoded


def performance_panel(body: dict[str, Any]) -> str:
    """The performance panel's HTML for one answer, the other sources not available."""
    answers = {name: Answer(404, error="not available yet") for name in (*SOURCES, "performance")}
    answers["performance"] = Answer(200, body=body)
    return render_panels(answers, Viewer(role="viewer", fingerprint="f"), "7d")["performance"]


async def panels(c: Client, token: str, **params: str) -> dict[str, str]:
    response = await c.get("/dashboard/panels", headers=auth(token), params=params)
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()["panels"]
    return result


async def test_the_page_is_a_shell_without_data_and_with_a_strict_content_policy(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    response = await c.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert 'for="token"' in response.text
    assert "$" not in response.text, "no figures before sign-in"
    assert (await c.get("/dashboard/static/dashboard.js")).status_code == 200
    assert (await c.get("/dashboard/static/dashboard.css")).status_code == 200


async def test_whoami_tells_role_and_fingerprint_and_never_the_token(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    body = (await c.get("/auth/whoami", headers=auth(OPERATOR))).json()
    assert body["role"] == "operator"
    assert len(body["fingerprint"]) == 8
    assert body["may"] == {"approve": False, "emergency_stop": True, "resume": False}
    assert OPERATOR not in str(body)
    assert (await c.get("/auth/whoami")).status_code == 401
    assert (await c.get("/auth/whoami", headers=auth("x" * 20))).status_code == 401


async def test_panels_need_a_token(client: tuple[Client, Treasury]) -> None:
    c, _ = client
    response = await c.get("/dashboard/panels")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_viewer_sees_the_queue_with_every_action_disabled(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    t.book.cash += 300_000
    forced = await c.post("/portfolio/rebalance", json={"force": True}, headers=auth(OPERATOR))
    assert forced.status_code == 403
    decision_id = forced.json()["decision_id"]
    html = await panels(c, VIEWER)
    assert f'data-decision-id="{decision_id}"' in html["pending"]
    assert html["pending"].count("disabled") >= 2
    assert "disabled" in html["banner"]
    approver_html = await panels(c, APPROVER)
    assert "disabled" not in approver_html["pending"]
    assert "disabled" not in approver_html["banner"]
    for text in (*html.values(), *approver_html.values()):
        assert VIEWER not in text
        assert APPROVER not in text


async def test_the_panels_show_the_api_figures(client: tuple[Client, Treasury]) -> None:
    c, _ = client
    html = await panels(c, VIEWER)
    assert '<dd id="btc-price">$60,000.00</dd>' in html["market"]
    assert "MVRV Z 2: hold 60 %" in html["market"]
    assert "Base yield" in html["allocation"]
    assert html["positions"].count("<tr>") == 6  # header and five positions
    assert "Trigger:" in html["signal"]
    assert "database" in html["health"]


async def test_a_failed_source_shows_its_error_in_its_own_panel_only(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    t.market.down = True
    html = await panels(c, VIEWER)
    assert "Market data could not be read: fake: every source is down" in html["market"]
    assert 'data-state="error"' in html["market"]
    assert "database" in html["health"]
    assert "aave" in html["positions"]


async def test_performance_with_too_little_history_says_why(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    html = await panels(c, VIEWER)
    assert "Performance metrics: not enough history" in html["performance"]
    assert "<svg" not in html["performance"]


def test_the_performance_view_reads_the_apis_own_model() -> None:
    view = performance_view(parse_performance(api_body()))
    values = {m["name"]: m["value"] for m in view["metrics"]}
    assert values["Return"] == Decimal("0.0123")
    assert values["APY"] == Decimal("0.071")
    assert values["Sharpe ratio"] == Decimal("1.84")
    assert values["Sortino ratio"] == Decimal("2.5")
    assert values["Max drawdown"] == Decimal("0.03")
    assert values["P&L"] == Decimal(4920)
    assert view["has_btc"]
    assert view["trade_count"] == 4
    assert view["range"] == "7d"


def test_the_dashboard_draws_only_the_baselines_the_api_sends() -> None:
    view = performance_view(parse_performance(api_body()))
    assert view["legend"] == [("Treasury", "equity"), ("BTC hold", "btc")]
    html = performance_panel(api_body())
    assert html.count('class="line yield"') == 0


def test_an_answer_outside_the_apis_model_is_an_error_not_a_guess() -> None:
    # Names the API never sends: `sharpe`, `equity` and a drawdown object.
    aliases = {
        "time_range": "7d",
        "sharpe": 1.84,
        "max_drawdown": {"depth": -0.031},
        "equity": [{"timestamp": "2026-02-23T12:00:00Z", "equity": 400000}],
    }
    html = performance_panel(aliases)
    assert "could not be read" in html
    assert "does not match the API" in html
    assert "1.84" not in html
    assert "<svg" not in html


async def test_performance_from_the_endpoint_draws_metrics_curve_and_baselines() -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    now = t.clock.now()
    async with t.uow() as u:
        for days, value in ((20, 400_000), (10, 388_000), (1, 404_920)):
            await u.snapshots.add(
                PortfolioState.build(
                    positions=(), cash_balance=Decimal(value), as_of=now - timedelta(days=days)
                )
            )
        for days, price in ((21, "60000"), (5, "55000")):
            await u.market_data.add(
                replace(market(btc=price), timestamp=now - timedelta(days=days))
            )
        await u.commit()
    app = create_app(services_for(t), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        html = (await panels(c, VIEWER, time_range="30d"))["performance"]
        bad = await c.get("/dashboard/panels", headers=auth(VIEWER), params={"time_range": "1y"})
    assert "1.23 %" in html  # return: 404,920 / 400,000 - 1
    assert "3.00 %" in html  # max drawdown: 388,000 is 3 % below 400,000
    assert "$4,920.00" in html  # P&L
    assert 'class="line equity"' in html
    assert 'class="line btc"' in html
    assert html.count('class="line yield"') == 1  # the endpoint's, not a derived second one
    assert 'class="drawdown"' in html
    assert "BTC hold" in html
    assert "Static yield" in html
    assert bad.status_code == 400


async def test_the_positions_panel_flags_a_portfolio_whose_refresh_is_failing() -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    chain = FakePortfolio(t.book)
    services = services_for(t, chain)
    app = create_app(services, TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        fresh = await panels(c, VIEWER)
        chain.failure = TransientError("rpc down")
        await services.views.portfolio.refresh_quietly()
        failing = await panels(c, VIEWER)
    assert 'id="portfolio-as-of"' in fresh["positions"]
    assert "stale" not in fresh["positions"]
    assert "refresh failing: TransientError" in failing["positions"]
    assert "aave" in failing["positions"]  # the last good state is still shown


def test_the_performance_panel_shows_sharpe_and_sortino_at_zero_and_at_the_static_yield() -> None:
    view = performance_view(parse_performance(api_body()))
    values = {m["name"]: m["value"] for m in view["metrics"]}
    assert values["Sharpe, risk-free 0"] == Decimal("1.31")
    assert values["Sharpe, risk-free = static yield"] == Decimal("0.79")
    assert values["Sortino, risk-free 0"] == Decimal("1.9")
    assert values["Sortino, risk-free = static yield"] == Decimal("1.1")


async def test_an_endpoint_the_server_lacks_shows_not_available_instead_of_data() -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    with patch.object(
        api_app, "ROUTES", [r for r in api_app.ROUTES if r is not performance_metrics]
    ):
        app = create_app(services_for(t), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        lacking = await c.get("/performance/metrics", headers=auth(VIEWER))
        assert lacking.status_code == 404
        html = await panels(c, VIEWER)
    assert 'data-state="not-available"' in html["performance"]
    assert "not available yet on this server" in html["performance"]
    assert "<svg" not in html["performance"]
    # The panels whose endpoints exist still show their data.
    assert "aave" in html["positions"]


async def test_the_positions_panel_flags_the_one_position_that_could_not_be_read() -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    chain = FakePortfolio(t.book)
    chain.extra = {
        "stale_positions": "pendle/PT-USDC",
        "stale:pendle/PT-USDC": "pendle: connection refused; value as read at 2026-03-02",
    }
    app = create_app(services_for(t, chain), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        html = (await panels(c, VIEWER))["positions"]
    rows = {
        row.split("</td>")[0].split("<td>")[-1] + row.split("</td>")[1]: row
        for row in html.split("<tr")[2:]
    }
    [pendle] = [row for key, row in rows.items() if key.startswith("pendle")]
    [aave] = [row for key, row in rows.items() if key.startswith("aave")]
    assert "stale" in pendle
    assert "connection refused" in pendle
    assert "stale" not in aave


def test_the_pending_panel_shows_the_owners_proposal_under_safe_custody() -> None:
    answers = {name: Answer(404, error="not available yet") for name in (*SOURCES, "performance")}
    decision = {
        "id": "d-1",
        "status": "pending",
        "created_at": "2026-12-02T07:00:00Z",
        "expires_at": None,
        "trigger": "scheduled",
        "risk_assessment": "low",
        "advisor": "rules",
        "target_allocations": {},
        "verdict_reasons": [],
        "reasoning": "",
        "safe_tx_hash": "0x" + "ab" * 32,
        "safe_nonce": 7,
        "signatures": ["0x" + "a1" * 20],
        "threshold": 2,
    }
    answers["pending"] = Answer(
        200, body=[decision, {**decision, "id": "d-2", "safe_tx_hash": None}]
    )
    html = render_panels(answers, Viewer(role="approver", fingerprint="f"), "7d")["pending"]
    assert html.count("Safe proposal") == 1
    assert f'data-safe-tx-hash="0x{"ab" * 32}"' in html
    assert f"signed by 1 of 2 owners (0x{'a1' * 20})" in html


def test_the_pending_panel_shows_an_expired_proposals_cancellation_without_approve_buttons() -> (
    None
):
    answers = {name: Answer(404, error="not available yet") for name in (*SOURCES, "performance")}
    cancellation = {
        "id": "d-1",
        "status": "expired",
        "created_at": "2026-12-02T07:00:00Z",
        "expires_at": "2026-12-03T07:00:00Z",
        "trigger": "scheduled",
        "risk_assessment": "low",
        "advisor": "rules",
        "target_allocations": {},
        "verdict_reasons": [],
        "reasoning": "",
        "safe_tx_hash": "0x" + "cc" * 32,
        "safe_nonce": 7,
        "signatures": [],
        "threshold": 2,
        "cancels": "0x" + "ab" * 32,
    }
    answers["pending"] = Answer(200, body=[cancellation])
    html = render_panels(answers, Viewer(role="approver", fingerprint="f"), "7d")["pending"]
    assert "Cancellation for the owners to sign" in html
    assert f'data-safe-tx-hash="0x{"cc" * 32}"' in html
    assert f"<code>0x{'ab' * 32}</code>" in html
    assert "signed by 0 of 2 owners" in html
    assert 'data-action="approve"' not in html


def test_the_stop_banner_shows_the_owners_revocation_under_safe_custody() -> None:
    answers = {name: Answer(404, error="not available yet") for name in (*SOURCES, "performance")}
    answers["health"] = Answer(
        200, body={"status": "healthy", "emergency_stop": True, "components": []}
    )
    viewer = Viewer(role="approver", fingerprint="f", may_approve=True, may_resume=True)
    without = render_panels(answers, viewer, "7d")["banner"]
    assert "Emergency stop is active" in without
    assert "revocation" not in without
    answers["revocation"] = Answer(
        200,
        body={
            "safe": "0x" + "cc" * 20,
            "safe_tx_hash": "0x" + "cd" * 32,
            "nonce": 3,
            "threshold": 2,
            "owners": ["0x" + "a1" * 20, "0x" + "b2" * 20],
            "signatures": ["0x" + "a1" * 20],
            "to": "0x" + "70" * 20,
            "data": "0x12",
            "operation": 0,
            "summary": "The Safe calls assignRoles(agent, [role], [false]) <on its Roles>",
            "typed_data": {"primaryType": "SafeTx", "message": {"nonce": 3, "data": "0x12"}},
        },
    )
    html = render_panels(answers, viewer, "7d")["banner"]
    assert f'data-safe-tx-hash="0x{"cd" * 32}"' in html
    assert "signed by 1 of 2 owners" in html
    # What it does (escaped), the typed data to sign, and the approver's signature form.
    assert "assignRoles(agent, [role], [false]) &lt;on its Roles&gt;" in html
    assert '"primaryType": "SafeTx"' in html
    assert 'id="revocation-form"' in html
    assert f'<option value="0x{"b2" * 20}">' in html
    as_viewer = render_panels(answers, Viewer(role="viewer", fingerprint="f"), "7d")["banner"]
    assert 'id="revocation-form"' not in as_viewer
    assert "needs the approver role" in as_viewer
