"""The dashboard's routes over fakes: roles, no token leaks, panels from the API's answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.errors import TransientError
from domain.portfolio import PortfolioState
from entrypoints.api.app import create_app
from entrypoints.dashboard import dashboard_routes
from entrypoints.dashboard.views import performance_view
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


METRICS = {
    "time_range": "7d",
    "time_weighted_return": 0.0123,
    "apy": 0.071,
    "sharpe_ratio": 1.84,
    "max_drawdown": {"depth": -0.031, "peak_at": "2026-03-01T00:00:00Z"},
    "equity_curve": [
        {"at": "2026-02-23T12:00:00Z", "value_usd": 400000},
        {"at": "2026-02-26T12:00:00Z", "value_usd": 388000},
        {"at": "2026-03-02T12:00:00Z", "value_usd": 404920},
    ],
    "baselines": {
        "btc_buy_and_hold": [
            {"at": "2026-02-23T12:00:00Z", "value_usd": 400000},
            {"at": "2026-03-02T12:00:00Z", "value_usd": 371000},
        ]
    },
    "trade_history": [{"at": "2026-03-01T00:00:00Z", "amount_usd": 20000}],
}


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


def test_the_performance_view_reads_other_answer_shapes_and_derives_the_static_yield() -> None:
    view = performance_view(METRICS)
    values = {m["name"]: m["value"] for m in view["metrics"]}
    assert values == {
        "Return": 0.0123,
        "APY": 0.071,
        "Sharpe ratio": 1.84,
        "Max drawdown": -0.031,
    }
    assert view["legend"] == [
        ("Treasury", "equity"),
        ("BTC buy and hold", "btc"),
        ("Static 6.5 % yield", "yield"),
    ]
    assert view["has_btc"]
    assert view["trade_count"] == 1
    assert view["range"] == "7d"


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
    body = METRICS | {
        "sharpe_at_zero_rate": 1.31,
        "sharpe_at_static_yield": 0.79,
        "sortino_at_zero_rate": 1.9,
        "sortino_at_static_yield": 1.1,
    }
    values = {m["name"]: m["value"] for m in performance_view(body)["metrics"]}
    assert values["Sharpe, risk-free 0"] == 1.31
    assert values["Sharpe, risk-free = static yield"] == 0.79
    assert values["Sortino, risk-free 0"] == 1.9
    assert values["Sortino, risk-free = static yield"] == 1.1


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
