"""The fake 1inch and Pendle APIs: real response shapes and calldata that does the trade."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.chain.devchain.deploy import contract_at
from adapters.chain.devchain.fake_apis import (
    RECORDED_MARKETS,
    RECORDED_USDC_MARKET,
    FakeApiServer,
    serve_fake_apis,
)
from adapters.chain.devchain.node import in_process_web3
from adapters.chain.devchain.oracle import advance_time
from adapters.chain.devchain.recorded import recorded
from tests.integration.devchain.chain_calls import balance, send, signing_as_treasury, token
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY, Deployment, DevChain
from tests.rpc_counter import RpcCounter

AUTH = {"Authorization": f"Bearer {FAKE_ONEINCH_API_KEY}"}
USDC = 10**6
PT_PER_USDC_UNIT = 10**12  # PT has the SY's 18 decimals, USDC 6


def payload(name: str) -> Any:
    """A payload the fakes are built from (see src/adapters/chain/devchain/payloads/README.md)."""
    return recorded(name)


def shape(value: Any) -> Any:
    """A JSON value's structure: dict keys and value kinds, recursively (lists by first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, Decimal, float)):
        return "number"
    return type(value).__name__


async def get(
    server: FakeApiServer, path: str, params: dict[str, Any], **kw: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        return await client.get(path, params=params, **kw)


def oneinch(chain: DevChain, endpoint: str) -> str:
    return f"/swap/v6.0/{chain.book.chain_id}/{endpoint}"


async def send_api_tx(chain: DevChain, tx: dict[str, Any]) -> Any:
    w3 = signing_as_treasury(chain)
    tx_hash = await w3.eth.send_transaction(
        {
            "from": w3.to_checksum_address(tx["from"]),
            "to": w3.to_checksum_address(tx["to"]),
            "data": tx["data"],
            "value": int(tx["value"]),
            **({"gas": int(tx["gas"]) + 50_000} if "gas" in tx else {}),
        }
    )
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


async def test_oneinch_answers_in_the_documented_shapes(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    usdc, weth = devchain.book.token("USDC"), devchain.book.token("WETH")
    quote = await get(
        fake_apis,
        oneinch(devchain, "quote"),
        {"src": usdc, "dst": weth, "amount": 3_500 * USDC},
        headers=AUTH,
    )
    assert quote.status_code == 200
    assert shape(quote.json()) == shape(payload("oneinch_quote.json"))
    full = await get(
        fake_apis,
        oneinch(devchain, "quote"),
        {
            "src": usdc,
            "dst": weth,
            "amount": 3_500 * USDC,
            "includeTokensInfo": "true",
            "includeProtocols": "true",
            "includeGas": "true",
        },
        headers=AUTH,
    )
    assert shape(full.json()) == shape(payload("oneinch_quote_full.json"))
    assert full.json()["dstToken"]["decimals"] == 18
    spender = await get(fake_apis, oneinch(devchain, "approve/spender"), {}, headers=AUTH)
    assert spender.json() == {"address": devchain.book.router.lower()}
    allowance = await get(
        fake_apis,
        oneinch(devchain, "approve/allowance"),
        {"tokenAddress": usdc, "walletAddress": devchain.treasury_address},
        headers=AUTH,
    )
    assert allowance.json() == payload("oneinch_approve_allowance.json")


async def test_oneinch_swap_calldata_performs_the_swap_within_slippage(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    me = devchain.treasury_address
    usdc, weth = devchain.book.token("USDC"), devchain.book.token("WETH")
    w3 = signing_as_treasury(devchain)
    approve = await get(
        fake_apis, oneinch(devchain, "approve/transaction"), {"tokenAddress": usdc}, headers=AUTH
    )
    await send_api_tx(devchain, {**approve.json(), "from": me})
    allowance = await get(
        fake_apis,
        oneinch(devchain, "approve/allowance"),
        {"tokenAddress": usdc, "walletAddress": me},
        headers=AUTH,
    )
    assert int(allowance.json()["allowance"]) == 2**256 - 1

    response = await get(
        fake_apis,
        oneinch(devchain, "swap"),
        {
            "src": usdc,
            "dst": weth,
            "amount": 35_000 * USDC,
            "from": me,
            "origin": me,
            "slippage": "1",
        },
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert shape(body) == shape(payload("oneinch_swap.json"))
    assert body["tx"]["to"] == devchain.book.router.lower()
    weth_before = await balance(devchain, "WETH")
    await send_api_tx(devchain, body["tx"])
    received = await balance(devchain, "WETH") - weth_before
    assert received == int(body["dstAmount"])
    assert Decimal(received) / 10**18 > Decimal("9.98")  # 10 WETH at $3,500 less 5 bp and impact
    assert await w3.eth.get_balance(devchain.book.router) == 0


async def test_oneinch_swap_refuses_without_allowance(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    me = devchain.treasury_address
    response = await get(
        fake_apis,
        oneinch(devchain, "swap"),
        {
            "src": devchain.book.token("USDC"),
            "dst": devchain.book.token("DAI"),
            "amount": USDC,
            "from": me,
            "origin": me,
            "slippage": "1",
        },
        headers=AUTH,
    )
    assert response.status_code == 400
    assert "Not enough allowance" in response.json()["description"]


@pytest.mark.parametrize("version", ["v6.0", "v6.1"])
async def test_oneinch_serves_both_api_versions(
    devchain: DevChain, fake_apis: FakeApiServer, version: str
) -> None:
    path = f"/swap/{version}/{devchain.book.chain_id}/approve/spender"
    response = await get(fake_apis, path, {}, headers=AUTH)
    assert response.json() == {"address": devchain.book.router.lower()}


async def test_oneinch_refuses_slippage_in_exponent_notation(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    me = devchain.treasury_address
    response = await get(
        fake_apis,
        oneinch(devchain, "swap"),
        {
            "src": devchain.book.token("USDC"),
            "dst": devchain.book.token("DAI"),
            "amount": USDC,
            "from": me,
            "origin": me,
            "slippage": "1E+1",
            "disableEstimate": "true",
        },
        headers=AUTH,
    )
    assert response.status_code == 400
    assert "slippage" in response.json()["description"]


async def test_oneinch_impossible_quote_is_a_400_in_the_error_shape(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    response = await get(
        fake_apis,
        oneinch(devchain, "quote"),
        {
            "src": devchain.book.token("USDC"),
            "dst": devchain.book.token("WBTC"),
            "amount": 900_000_000 * USDC,
        },
        headers=AUTH,
    )
    assert response.status_code == 400
    assert shape(response.json()) == shape(payload("oneinch_error_400.json"))
    assert response.json()["description"] == "insufficient liquidity"


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no header"), pytest.param({"Authorization": "Bearer wrong"}, id="wrong")],
)
async def test_oneinch_requires_the_bearer_key_and_never_echoes_it(
    devchain: DevChain,
    fake_apis: FakeApiServer,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await get(fake_apis, oneinch(devchain, "approve/spender"), {}, headers=headers)
    assert response.status_code == 401
    assert FAKE_ONEINCH_API_KEY not in response.text
    assert FAKE_ONEINCH_API_KEY not in caplog.text


async def test_pendle_markets_list_serves_the_recorded_market_with_dev_chain_state(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    response = await get(
        fake_apis, "/core/v2/markets/all", {"skip": 0, "limit": 10, "isActive": "true"}
    )
    assert response.status_code == 200
    body = json.loads(response.text, parse_float=Decimal)
    expected = recorded(RECORDED_MARKETS)
    del expected["_provenance"]  # ours, not Pendle's
    assert shape(body) == shape(expected)
    market = body["results"][0]
    assert market["address"] == devchain.book.pendle_market.lower()
    assert market["pt"] == f"{devchain.book.chain_id}-{devchain.book.pendle_pt.lower()}"
    assert market["details"]["impliedApy"] == Decimal("0.075")


async def test_the_fake_pendle_market_differs_from_the_recording_only_where_documented(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    body = json.loads(
        (await get(fake_apis, "/core/v2/markets/all", {"isActive": "true"})).text,
        parse_float=Decimal,
    )
    served = body["results"][0]
    original = recorded(RECORDED_MARKETS)["results"][RECORDED_USDC_MARKET]
    chain = devchain.book.chain_id

    def moved(asset_id: str) -> str:
        return f"{chain}-{asset_id.split('-', 1)[1]}"

    substituted = {"chainId", "address", "name", "expiry", "pt", "accountingAsset"}
    for key, value in original.items():
        if key in substituted or key == "details":
            continue
        if key in {"yt", "sy", "underlyingAsset"}:
            assert served[key] == moved(value), key
        elif key in {"rewardTokens", "outputTokens"}:
            assert served[key] == [moved(v) for v in value], key
        elif key == "inputTokens":
            usdc = f"{chain}-{devchain.book.token('USDC').lower()}"
            expected = [usdc if v == original["accountingAsset"] else moved(v) for v in value]
            assert served[key] == expected
        else:
            assert served[key] == value, key
    from_chain = {"impliedApy", "liquidity", "totalPt"}
    for key, value in original["details"].items():
        if key not in from_chain:
            assert served["details"][key] == value, key
    # The hard case of the recording survives: USDC goes in directly, comes out only through
    # the aggregator, and the underlying is not USDC.
    usdc_id = f"{chain}-{devchain.book.token('USDC').lower()}"
    assert served["accountingAsset"] == usdc_id
    assert usdc_id in served["inputTokens"]
    assert usdc_id not in served["outputTokens"]
    assert served["underlyingAsset"] != usdc_id


async def test_pendle_finds_a_market_by_id_and_ignores_other_ids(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    chain, market = devchain.book.chain_id, devchain.book.pendle_market.lower()
    found = await get(fake_apis, "/core/v2/markets/all", {"ids": f"{chain}-{market}"})
    other = await get(fake_apis, "/core/v2/markets/all", {"ids": f"{chain}-0x{'ab' * 20}"})
    assert [m["address"] for m in found.json()["results"]] == [market]
    assert other.json()["results"] == []


async def test_pendle_convert_buys_pt_then_sells_it_back(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    me = devchain.treasury_address
    w3 = signing_as_treasury(devchain)
    usdc, pt = devchain.book.token("USDC"), devchain.book.pendle_pt
    params = {
        "receiver": me,
        "slippage": "0.001",
        "tokensIn": usdc,
        "amountsIn": 10_000 * USDC,
        "tokensOut": pt,
        "enableAggregator": "false",
        "additionalData": "impliedApy,effectiveApy",
    }
    response = await get(fake_apis, f"/core/v2/sdk/{devchain.book.chain_id}/convert", params)
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_float=Decimal)
    assert shape(body) == shape(payload("pendle_convert.json")) | {
        "routes": [
            shape(payload("pendle_convert.json")["routes"][0])
            | {
                "contractParamInfo": {
                    "method": "str",
                    "contractCallParamsName": ["str"],
                    "contractCallParams": ["str"],
                }
            }
        ]
    }
    route = body["routes"][0]
    assert route["contractParamInfo"]["method"] == "swapExactTokenForPt"
    for approval in body["requiredApprovals"]:
        await send(
            w3,
            token(devchain, "USDC").functions.approve(
                devchain.book.pendle_market, int(approval["amount"])
            ),
            me,
        )
    await send_api_tx(devchain, route["tx"])
    held = await contract_at(w3, "ERC20", pt).functions.balanceOf(me).call()
    assert held >= int(route["outputs"][0]["amount"]) * 999 // 1000
    assert Decimal("0.07") < route["data"]["effectiveApy"] < Decimal("0.075")

    sell_params = params | {"tokensIn": pt, "amountsIn": held, "tokensOut": usdc}
    convert = f"/core/v2/sdk/{devchain.book.chain_id}/convert"
    # As the recorded market: USDC is not among its outputTokens, so only the aggregator pays it.
    refused = await get(fake_apis, convert, sell_params)
    assert refused.status_code == 400
    assert "enableAggregator" in refused.json()["message"]
    sell = await get(fake_apis, convert, sell_params | {"enableAggregator": "true"})
    sell_route = sell.json()["routes"][0]
    assert sell_route["contractParamInfo"]["method"] == "swapExactPtForToken"
    await send(
        w3, contract_at(w3, "ERC20", pt).functions.approve(devchain.book.pendle_market, held), me
    )
    usdc_before = await balance(devchain, "USDC")
    await send_api_tx(devchain, sell_route["tx"])
    assert 9_985 * USDC < await balance(devchain, "USDC") - usdc_before < 10_000 * USDC


async def test_pendle_legacy_swap_redeems_after_maturity(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    me = devchain.treasury_address
    w3 = signing_as_treasury(devchain)
    usdc, pt = devchain.book.token("USDC"), devchain.book.pendle_pt
    path = f"/core/v1/sdk/{devchain.book.chain_id}/markets/{devchain.book.pendle_market}/swap"
    buy = await get(
        fake_apis,
        path,
        {
            "receiver": me,
            "slippage": "0.001",
            "tokenIn": usdc,
            "tokenOut": pt,
            "amountIn": 5_000 * USDC,
        },
    )
    assert buy.status_code == 200, buy.text
    assert set(buy.json()) == {"tx", "data"}
    assert "amountOut" in buy.json()["data"]
    await send(
        w3, token(devchain, "USDC").functions.approve(devchain.book.pendle_market, 5_000 * USDC), me
    )
    await send_api_tx(devchain, buy.json()["tx"])
    held = await contract_at(w3, "ERC20", pt).functions.balanceOf(me).call()

    now = (await w3.eth.get_block("latest"))["timestamp"]
    await advance_time(w3, devchain.book.pendle_expiry - now + 1)
    redeem = await get(
        fake_apis,
        path,
        {
            "receiver": me,
            "slippage": "0",
            "tokenIn": pt,
            "tokenOut": usdc,
            "amountIn": held,
            "enableAggregator": "true",
        },
    )
    assert int(redeem.json()["data"]["amountOut"]) == held // PT_PER_USDC_UNIT
    await send(
        w3, contract_at(w3, "ERC20", pt).functions.approve(devchain.book.pendle_market, held), me
    )
    usdc_before = await balance(devchain, "USDC")
    await send_api_tx(devchain, redeem.json()["tx"])
    assert await balance(devchain, "USDC") - usdc_before == held // PT_PER_USDC_UNIT
    assert held // PT_PER_USDC_UNIT > 5_000 * USDC  # bought at a discount, redeemed at par


async def test_pendle_lists_the_market_as_inactive_after_maturity(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    now = (await devchain.w3.eth.get_block("latest"))["timestamp"]
    await advance_time(devchain.w3, devchain.book.pendle_expiry - now + 1)
    active = await get(fake_apis, "/core/v2/markets/all", {"isActive": "true"})
    inactive = await get(fake_apis, "/core/v2/markets/all", {"isActive": "false"})
    assert active.json()["results"] == []
    assert inactive.json()["results"][0]["address"] == devchain.book.pendle_market.lower()


async def test_pendle_refuses_a_pair_it_cannot_route_in_its_error_shape(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    response = await get(
        fake_apis,
        f"/core/v2/sdk/{devchain.book.chain_id}/convert",
        {
            "receiver": devchain.treasury_address,
            "slippage": "0.01",
            "tokensIn": devchain.book.token("DAI"),
            "amountsIn": "1000",
            "tokensOut": devchain.book.pendle_pt,
        },
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message", "error", "statusCode"}


async def test_pendle_markets_are_read_from_the_chain_once_per_block(
    devchain: DevChain, devchain_deployment: Deployment
) -> None:
    """Like Pendle's backend, the fake answers from state indexed per block: a second request
    in the same block sends no `eth_call`; a new block is read again."""
    w3 = in_process_web3(devchain_deployment.tester)
    counter = RpcCounter.attach(w3)
    async with serve_fake_apis(w3, devchain.book, oneinch_api_key=FAKE_ONEINCH_API_KEY) as apis:
        first = await get(apis, "/core/v2/markets/all", {"isActive": "true"})
        calls = counter.eth_calls
        again = await get(apis, "/core/v2/markets/all", {"isActive": "true"})
        assert counter.eth_calls == calls
        assert again.json() == first.json()
        await advance_time(devchain.w3, 30 * 86_400)
        later = await get(apis, "/core/v2/markets/all", {"isActive": "true"})
        assert counter.eth_calls > calls
        assert later.json()["results"][0]["address"] == first.json()["results"][0]["address"]
