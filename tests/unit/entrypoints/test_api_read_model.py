"""The API's read endpoints answer from the read models: no chain read per request, how old
the state is, and a body prepared once per state version."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from litestar.testing import AsyncTestClient

from application.errors import TransientError
from entrypoints.api.app import create_app
from entrypoints.api.prepared import portfolio_body, prepared_response
from tests.fakes.treasury import FakePortfolio
from tests.unit.application.conftest import build_treasury
from tests.unit.entrypoints.test_api import TOKENS, services_for

D = Decimal


def _without_age(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != "age_seconds"}


async def test_portfolio_status_is_served_from_memory_not_read_from_chain_per_request() -> None:
    t = build_treasury(cash=400_000)
    chain = FakePortfolio(t.book)
    async with AsyncTestClient(app=create_app(services_for(t, chain), TOKENS)) as client:
        answers = [await client.get("/portfolio/status") for _ in range(20)]
    bodies = [a.json() for a in answers]
    assert chain.reads == 1
    assert answers[0].headers["content-type"].startswith("application/json")
    assert bodies[0]["total_value_usd"] == 400000
    assert all(_without_age(b) == _without_age(bodies[0]) for b in bodies)


async def test_portfolio_status_says_how_old_it_is_and_flags_a_failing_refresh() -> None:
    t = build_treasury(cash=400_000)
    chain = FakePortfolio(t.book)
    services = services_for(t, chain)
    async with AsyncTestClient(app=create_app(services, TOKENS)) as client:
        fresh = (await client.get("/portfolio/status")).json()
        t.clock.advance(timedelta(seconds=40))
        chain.failure = TransientError("rpc down")
        await services.views.portfolio.refresh_quietly()
        stale = (await client.get("/portfolio/status")).json()
    assert fresh["as_of"] == "2026-03-02T12:00:00Z"
    assert fresh["age_seconds"] == 0
    assert fresh["stale"] is False
    assert fresh["stale_reason"] is None
    assert stale["as_of"] == fresh["as_of"]
    assert stale["age_seconds"] == 40
    assert stale["stale"] is True
    assert stale["stale_reason"] == "TransientError"
    assert stale["total_value_usd"] == fresh["total_value_usd"]


async def test_the_prepared_body_is_built_once_per_state_version_and_changes_with_it() -> None:
    t = build_treasury(cash=400_000)
    services = services_for(t, FakePortfolio(t.book))
    built: list[int] = []

    def counted(latest):  # type: ignore[no-untyped-def]
        built.append(latest.version)
        return portfolio_body(latest)

    first = [(await prepared_response(services.views.portfolio, counted)).content for _ in range(3)]
    t.book.cash += D(50_000)
    await services.views.portfolio.refresh()
    second = (await prepared_response(services.views.portfolio, counted)).content
    assert built == [1, 2]
    assert first[0] == first[1] == first[2]
    assert b'"total_value_usd":400000.0' in first[0]
    assert b'"total_value_usd":450000.0' in second


async def test_market_data_and_signal_come_from_memory_after_the_first_request() -> None:
    t = build_treasury(cash=400_000)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS)) as client:
        market = (await client.get("/market/data")).json()
        signal = (await client.get("/market/signal")).json()
        t.market.down = True  # the views keep serving what they hold
        again = (await client.get("/market/data")).json()
        signal_again = (await client.get("/market/signal")).json()
    assert market["btc_price"] == again["btc_price"] == 60000
    assert market["stale"] is False
    assert _without_age(signal) == _without_age(signal_again)


async def test_the_schema_still_describes_the_prepared_answers() -> None:
    t = build_treasury(cash=400_000)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS)) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    for path, field in (
        ("/portfolio/status", "total_value_usd"),
        ("/market/data", "btc_price"),
        ("/market/signal", "target_allocations"),
    ):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        properties = schema["components"]["schemas"][ref]["properties"]
        assert {"age_seconds", "stale", "stale_reason", field} <= set(properties)


STALE_PENDLE = {
    "stale_positions": "pendle/PT-USDC",
    "stale:pendle/PT-USDC": "pendle: connection refused; value as read at 2026-03-02T11:00:00",
}


async def test_a_position_the_chain_reader_could_not_read_is_shown_stale_with_its_reason() -> None:
    # The chain reader keeps a failing protocol's last value and flags it in the state's extra;
    # the status answer must say which position that is, not pass it off as fresh.
    t = build_treasury(cash=64_000, holdings={("pendle", "PT-USDC"): D(72_000)})
    t.book.units[("aave", "USDC")] = D(96_000)
    chain = FakePortfolio(t.book)
    chain.extra = dict(STALE_PENDLE)
    async with AsyncTestClient(app=create_app(services_for(t, chain), TOKENS)) as client:
        body = (await client.get("/portfolio/status")).json()
    positions = {(p["protocol"], p["asset"]): p for p in body["positions"]}
    assert positions[("pendle", "PT-USDC")]["stale"] is True
    assert "connection refused" in positions[("pendle", "PT-USDC")]["stale_reason"]
    assert positions[("aave", "USDC")]["stale"] is False
    assert positions[("aave", "USDC")]["stale_reason"] is None
