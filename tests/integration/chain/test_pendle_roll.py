"""The treasury's Pendle PT across markets on the dev chain: a later market is listed, the PT
position is rolled into it by the roll plan's moves (each naming its market), and the reader,
the holdings and a restarted service (no memory of the roll) all find the PT in the new market.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import httpx
import pytest

from adapters.chain.devchain.deploy import DAY, chain_time, deploy_next_pendle_market
from adapters.chain.devchain.fake_apis import LiveBook, serve_fake_apis
from adapters.chain.devchain.oracle import advance_time
from adapters.chain.devchain.paper import devchain_venues
from adapters.chain.treasury import (
    ChainPortfolioReader,
    PendleTerms,
    ProtocolTransactionBuilder,
    Venues,
)
from domain.maturity import RollRules, choose_roll_market, plan_roll
from domain.planner import PlannerConfig, PlanningPrices
from domain.plans import Transaction, TransactionType
from domain.portfolio import PortfolioState
from tests.fakes.treasury import FixedClock
from tests.integration.chain.conftest import Rig
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY

PRICES = PlanningPrices(asset_usd={}, gas_price_gwei=Decimal(1), eth_usd=Decimal(3_000))


async def prices() -> Mapping[str, Decimal]:
    return {"BTC": Decimal(65_000), "ETH": Decimal(3_500)}


async def send_all(
    rig: Rig, builder: ProtocolTransactionBuilder, tx: Transaction, tag: str
) -> None:
    builder.start_plan()
    for i, step in enumerate(await builder.build(tx)):
        await rig.executor.send(step, f"{tag}-{i}")


@pytest.mark.parametrize("rig", ["in-process"], indirect=True)
async def test_pt_rolled_into_the_next_market_is_found_there_even_after_a_restart(rig: Rig) -> None:
    w3, owner = rig.chain.w3, rig.chain.treasury_address
    live = LiveBook(rig.chain.book)
    async with (
        serve_fake_apis(w3, live, oneinch_api_key=FAKE_ONEINCH_API_KEY) as apis,
        httpx.AsyncClient(timeout=30) as client,
    ):

        def venues() -> Venues:
            return devchain_venues(
                w3,
                live.book,
                owner=owner,
                client=client,
                oneinch_base_url=apis.oneinch_base_url,
                oneinch_api_key=FAKE_ONEINCH_API_KEY,
                pendle_base_url=apis.pendle_base_url,
                curve_base_url=apis.curve_base_url,
            )

        v = venues()
        builder = ProtocolTransactionBuilder(v)
        buy = Transaction(
            tx_type=TransactionType.DEPOSIT,
            protocol="pendle",
            from_asset="USDC",
            to_asset="PT-USDC",
            amount=Decimal(10_000),
            amount_usd=Decimal(10_000),
            estimated_gas=0,
            estimated_gas_usd=Decimal(0),
            estimated_slippage_usd=Decimal(0),
            slippage_tolerance=Decimal("0.01"),
        )
        await send_all(rig, builder, buy, "buy")
        first = live.book.pendle_market

        await advance_time(w3, 125 * DAY)
        live.book = await deploy_next_pendle_market(w3, live.book)
        second = live.book.pendle_later[0].market
        terms = PendleTerms(v)
        candidates = await terms.candidates()
        assert {c.market.lower() for c in candidates} == {first.lower(), second.lower()}

        expiry = live.book.pendle_expiry
        await advance_time(w3, expiry - await chain_time(w3) + DAY)  # the first market matured
        [holding] = await terms.holdings()
        assert holding.market.market.lower() == first.lower()
        now = await v.pendle.chain_now()
        into = choose_roll_market(holding.market, await terms.candidates(), now, RollRules())
        assert into is not None
        assert into.market.lower() == second.lower()
        empty = PortfolioState.build(positions=(), cash_balance=Decimal(0))
        plan = plan_roll(
            empty, holding, into, prices=PRICES, plan_id="roll", now=now, config=PlannerConfig()
        )
        for i, tx in enumerate(plan.required_transactions):
            await send_all(rig, builder, tx, f"roll-{i}")

        [after] = await terms.holdings()
        assert after.market.market.lower() == second.lower()
        assert after.value_usd > Decimal(9_900)
        reader = ChainPortfolioReader(v, w3=w3, prices=prices, clock=FixedClock())
        state = await reader.read()
        pendle = {p.key: p for p in state.positions}[("pendle", "PT-USDC")]
        assert pendle.value_usd == after.value_usd

        restarted = PendleTerms(venues())  # a new service: it knows only the configured market
        [found] = await restarted.holdings()
        assert found.market.market.lower() == second.lower()
