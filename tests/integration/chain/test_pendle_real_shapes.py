"""The Pendle adapter against the market shapes Pendle really sends (recorded payloads).

Live, a USDC market's `underlyingAsset` is its yield-bearing token, USDC shows up only as
`accountingAsset` and in `inputTokens`, and `outputTokens` may leave USDC out: buys and sells
must name USDC and ask for the aggregator where the market does not take or give USDC itself.
PT decimals follow the SY (18 for the dev market, as for USDe-type markets).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from web3 import AsyncWeb3

from adapters.chain.devchain.deploy import contract_at
from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.recorded import recorded, recorded_text
from adapters.chain.pendle import Pendle
from application.ports.chain import ProtocolUnavailable, StepKind
from tests.integration.chain.conftest import SLIPPAGE, Rig
from tests.integration.devchain.chain_calls import balance

USDC = 10**6
PENDLE = "https://api-v2.pendle.finance/core"


def _pendle(rig: Rig, client: httpx.AsyncClient, apis: FakeApiServer) -> Pendle:
    book = rig.chain.book
    return Pendle(
        client,
        rig.chain.w3,
        chain_id=book.chain_id,
        cash_token=book.token("USDC"),
        base_url=apis.pendle_base_url,
    )


async def test_a_pt_buy_spends_usdc_not_the_markets_yield_bearing_underlying(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    usdc = rig.chain.w3.to_checksum_address(book.token("USDC"))
    async with httpx.AsyncClient(timeout=10) as client:
        steps = await _pendle(rig, client, apis).build_deposit(
            owner, book.pendle_market, 10_000 * USDC, SLIPPAGE
        )
    assert [s.kind for s in steps] == [StepKind.APPROVE, StepKind.DEPOSIT]
    assert steps[0].to == usdc  # the approval is of USDC
    assert steps[-1].checks[0].token == usdc  # and USDC is what leaves the wallet
    usdc_before = await balance(rig.chain, "USDC")
    for i, step in enumerate(steps):
        await rig.executor.send(step, f"pt-buy-{i}")
    assert usdc_before - await balance(rig.chain, "USDC") == 10_000 * USDC


async def test_a_pt_sell_returns_usdc_through_the_aggregator_and_values_what_comes_back(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    pt = contract_at(rig.chain.w3, "ERC20", book.pendle_pt)
    async with httpx.AsyncClient(timeout=10) as client:
        pendle = _pendle(rig, client, apis)
        for i, step in enumerate(
            await pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE)
        ):
            await rig.executor.send(step, f"buy-{i}")
        held = int(await pt.functions.balanceOf(owner).call())
        sell = await pendle.build_withdraw(owner, book.pendle_market, held, SLIPPAGE)
    usdc = rig.chain.w3.to_checksum_address(book.token("USDC"))
    received_check = sell[-1].checks[1]
    assert received_check.token == usdc  # USDC comes back, not the yield-bearing token
    # The sale is valued at the USDC it returns (about 10,000 less two fees), not PT units.
    assert sell[-1].value_usd is not None
    assert Decimal(9_980) < sell[-1].value_usd < Decimal(10_000)
    usdc_before = await balance(rig.chain, "USDC")
    for i, step in enumerate(sell):
        await rig.executor.send(step, f"sell-{i}")
    assert await balance(rig.chain, "USDC") - usdc_before >= received_check.min_delta


async def test_pt_is_valued_with_the_pt_tokens_own_decimals(rig: Rig, apis: FakeApiServer) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    pt = contract_at(rig.chain.w3, "ERC20", book.pendle_pt)
    assert await pt.functions.decimals().call() == 18  # as the SY of a USDe-type market
    async with httpx.AsyncClient(timeout=10) as client:
        pendle = _pendle(rig, client, apis)
        for i, step in enumerate(
            await pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE)
        ):
            await rig.executor.send(step, f"buy-{i}")
        position = await pendle.position(owner, book.pendle_market)
    assert position.decimals == 18
    # About 180 days at 7.5 %: 10,000 USDC buys ~10,360 PT worth a little under 10,000 USDC.
    assert 10_300 * 10**18 < position.balance < 10_400 * 10**18
    assert Decimal(9_950) < position.value_usd < Decimal(10_000)


def _markets_page(request: httpx.Request) -> httpx.Response:
    """Pendle's markets list as recorded: without `ids`, the first page; with it, that market."""
    body: dict[str, Any] = json.loads(recorded_text("pendle_markets_all.json"))
    ids = request.url.params.get("ids")
    if ids is None:
        body["results"] = body["results"][:1]  # the wanted market is on a later page
    else:
        wanted = set(ids.split(","))
        body["results"] = [m for m in body["results"] if f"{m['chainId']}-{m['address']}" in wanted]
        body["total"] = len(body["results"])
    return httpx.Response(200, text=json.dumps(body))


@respx.mock
async def test_a_configured_market_beyond_the_first_page_is_found_by_its_id() -> None:
    ynrwax = "0xfce3f966a131c46a51b896ceea3917bc4c302577"  # results[1] of the recording
    route = respx.get(f"{PENDLE}/v2/markets/all").mock(side_effect=_markets_page)
    async with httpx.AsyncClient() as client:
        pendle = Pendle(
            client,
            AsyncWeb3(),
            chain_id=1,
            cash_token="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        )
        market = await pendle.market(ynrwax)
    assert market.address.lower() == ynrwax
    assert market.implied_apy == Decimal("0.10526848313939796")
    assert route.calls.last.request.url.params["ids"] == f"1-{ynrwax}"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("underlyingAsset", "ynRWAx, not USDC", id="underlying"),
        pytest.param("outputTokens", "USDC not among them", id="output tokens"),
    ],
)
def test_the_recording_has_the_shape_the_adapter_must_handle(field: str, expected: str) -> None:
    market = recorded("pendle_markets_all.json")["results"][1]
    usdc_id = "1-0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    assert market["accountingAsset"] == usdc_id
    assert usdc_id in market["inputTokens"]
    if field == "underlyingAsset":
        assert market["underlyingAsset"] != usdc_id, expected
    else:
        assert usdc_id not in market["outputTokens"], expected


@respx.mock
async def test_a_market_that_does_not_account_in_usdc_is_refused_not_valued_as_dollars() -> None:
    wsteth_market = "0x34280882267ffa6383b363e278b027be083bbe3b"  # results[0]: accounts in stETH
    respx.get(f"{PENDLE}/v2/markets/all").mock(side_effect=_markets_page)
    async with httpx.AsyncClient() as client:
        pendle = Pendle(
            client,
            AsyncWeb3(),
            chain_id=1,
            cash_token="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        )
        with pytest.raises(ProtocolUnavailable, match="accounts in"):
            await pendle.position("0x" + "11" * 20, wsteth_market)
        with pytest.raises(ProtocolUnavailable, match="accounts in"):
            await pendle.build_deposit("0x" + "11" * 20, wsteth_market, 10**6, Decimal("0.01"))


@respx.mock
async def test_roll_candidates_are_the_active_markets_that_redeem_for_usdc() -> None:
    # The recording lists a wstETH market (accounts in stETH) and ynRWAx (accounts in USDC):
    # only the second is a market a USDC treasury's PT may be rolled into.
    route = respx.get(f"{PENDLE}/v2/markets/all").mock(
        return_value=httpx.Response(200, text=recorded_text("pendle_markets_all.json"))
    )
    async with httpx.AsyncClient() as client:
        pendle = Pendle(
            client,
            AsyncWeb3(),
            chain_id=1,
            cash_token="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        )
        candidates = await pendle.cash_markets()
    assert [m.address.lower() for m in candidates] == ["0xfce3f966a131c46a51b896ceea3917bc4c302577"]
    assert candidates[0].liquidity_usd == Decimal("836946.0951419071")
    assert route.calls.last.request.url.params["isActive"] == "true"
