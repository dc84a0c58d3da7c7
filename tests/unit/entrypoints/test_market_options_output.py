"""Deribit's fields reach every reader: GET /market/data, the dashboard's market panel and the
advisor's prompt, with null (or a dash) when Deribit could not be read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.advisors.prompt import user_payload
from application.ports.advisor import AdvisorRequest
from domain.market import Freshness, MarketField
from domain.safety import SafetyLimits
from domain.signals import generate_signal
from domain.tactical import RatchetState
from entrypoints.api.app import create_app
from entrypoints.dashboard import dashboard_routes
from tests.unit.application.conftest import BALANCED, Treasury, build_treasury
from tests.unit.entrypoints.test_api import TOKENS, VIEWER, auth, services_for

Client = AsyncTestClient[Litestar]
D = Decimal
AT = datetime(2026, 3, 2, 11, 59, tzinfo=UTC)
OPTIONS = {
    "btc_implied_volatility": D("52.37"),
    "eth_implied_volatility": D("68.1"),
    "btc_iv_change_24h": D("0.4125"),
    "eth_iv_change_24h": D("-0.02"),
    "put_call_ratio": D("0.6218"),
}


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, Treasury]]:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    app = create_app(services_for(t), TOKENS, extra_routes=dashboard_routes())
    async with AsyncTestClient(app=app) as c:
        yield c, t


def with_deribit(t: Treasury) -> None:
    info = Freshness(source="deribit", observed_at=AT, age_seconds=D(60))
    freshness = dict(t.market.data.freshness)
    freshness.update(
        {
            MarketField.BTC_IMPLIED_VOLATILITY: info,
            MarketField.ETH_IMPLIED_VOLATILITY: info,
            MarketField.PUT_CALL_RATIO: info,
        }
    )
    t.market.set(**OPTIONS, freshness=freshness)


async def test_market_data_carries_deribits_fields_and_their_freshness(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    with_deribit(t)
    body = (await c.get("/market/data")).json()
    assert body["btc_implied_volatility"] == 52.37
    assert body["eth_iv_change_24h"] == -0.02
    assert body["put_call_ratio"] == 0.6218
    assert body["freshness"]["put_call_ratio"]["source"] == "deribit"
    assert body["freshness"]["btc_implied_volatility"]["age_seconds"] == 60


async def test_market_data_without_deribit_has_null_fields_and_no_freshness_for_them(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    body = (await c.get("/market/data")).json()
    assert body["btc_price"] == 60000
    for name in OPTIONS:
        assert body[name] is None
    assert "put_call_ratio" not in body["freshness"]


async def test_the_market_panel_shows_implied_volatility_and_put_call(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    with_deribit(t)
    response = await c.get("/dashboard/panels", headers=auth(VIEWER))
    html = response.json()["panels"]["market"]
    assert '<dd id="btc-dvol">52.4</dd>' in html
    assert "+41.2 % 24 h" in html
    assert '<dd id="put-call">0.62</dd>' in html
    assert "Put call ratio" in html  # its freshness row


async def test_the_market_panel_shows_a_dash_when_deribit_is_unknown(
    client: tuple[Client, Treasury],
) -> None:
    c, _ = client
    response = await c.get("/dashboard/panels", headers=auth(VIEWER))
    html = response.json()["panels"]["market"]
    assert '<dd id="btc-dvol">—</dd>' in html
    assert '<dd id="put-call">—</dd>' in html


@pytest.mark.parametrize("known", [True, False], ids=["deribit-read", "deribit-down"])
def test_the_prompt_gives_the_advisor_deribits_fields_or_null(known: bool) -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    if known:
        with_deribit(t)
    data = t.market.data
    signal, _ = generate_signal(data, RatchetState(), data.timestamp)
    request = AdvisorRequest(
        market=data, portfolio=t.book.state(), signal=signal, limits=SafetyLimits()
    )
    market = user_payload(request)["market"]
    assert market["btc_implied_volatility_dvol"] == ("52.37" if known else None)
    assert market["eth_iv_change_24h"] == ("-0.02" if known else None)
    assert market["options_put_call_oi_ratio"] == ("0.6218" if known else None)
    assert ("put_call_ratio" in market["missing"]) is not known
