"""Preflight against loopback fakes: a node on the wrong chain, a refused market key and an
unknown Claude model are each named with their fix, and the preflight fails."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.advisors.claude import DEFAULT_MODEL
from adapters.advisors.preflight import ClaudeModelCheck
from adapters.chain.devchain.recorded import recorded
from adapters.chain.oneinch import OneInch
from adapters.chain.pendle import Pendle
from adapters.chain.preflight import (
    ChainIdCheck,
    NodeChainIdCheck,
    PendleMarketCheck,
    SwapApiKeyCheck,
)
from adapters.chain.rpc import connect
from adapters.market.aggregate import build_live_market
from adapters.market.preflight import MarketSourcesCheck
from application.preflight import Preflight
from entrypoints.cli.preflight import line
from tests.fakes.market import MovableClock
from tests.integration.advisors.conftest import API_KEY, messages_api
from tests.integration.advisors.fake_messages_api import FakeMessagesApi
from tests.integration.devchain.fixtures import running_anvil
from tests.integration.market.conftest import KEYS, config_for
from tests.integration.market.fake_services import COINGECKO, FakeMarketServices

__all__ = ["messages_api"]  # the fixture, re-used from the advisor bench

ETHEREUM = 1
RECORDED_PENDLE = (
    Path(__file__).resolve().parents[3]
    / "src/adapters/chain/devchain/payloads/pendle_markets_all.json"
)
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"


@pytest.fixture(scope="module")
def wrong_chain_node() -> Iterator[str]:
    """An anvil that answers chain id 5 where the settings name Ethereum (1)."""
    with running_anvil(chain_id=5) as url:
        yield url


async def test_a_node_on_another_chain_is_named_with_the_rpc_setting_to_fix(
    wrong_chain_node: str,
) -> None:
    w3 = connect(wrong_chain_node)
    try:
        (result,) = await ChainIdCheck(w3, ETHEREUM).run()
        (right,) = await ChainIdCheck(w3, 5).run()
    finally:
        await w3.provider.disconnect()
    assert not result.ok
    assert result.detail == "the node serves chain 5, the settings name 1"
    assert result.fix == "point TREASURY_RPC_URL_ETHEREUM at a node for chain 1"
    assert right.ok


async def test_a_node_that_does_not_answer_is_a_failed_line_without_its_url() -> None:
    w3 = connect("http://127.0.0.1:9/secret-provider-key", timeout_seconds=1)
    try:
        (result,) = await ChainIdCheck(w3, ETHEREUM).run()
    finally:
        await w3.provider.disconnect()
    assert not result.ok
    assert "secret-provider-key" not in result.detail + result.fix
    assert result.fix == "check TREASURY_RPC_URL_ETHEREUM and that the node is up"


async def test_a_refused_market_key_is_named_with_the_setting_to_fix() -> None:
    with FakeMarketServices() as services:
        services.knobs[COINGECKO].api_key = KEYS[COINGECKO]
        async with httpx.AsyncClient(trust_env=False) as client:
            config = config_for(services, coingecko_api_key="CG-a-key-it-refuses")
            market = build_live_market(client, config, clock=MovableClock())
            results = {r.name: r for r in await MarketSourcesCheck(market).run()}
    coingecko = results["market source coingecko"]
    assert not coingecko.ok
    assert coingecko.detail.startswith("coingecko: HTTP 401")
    assert coingecko.fix == "the key was refused: set a valid TREASURY_COINGECKO_API_KEY"
    assert "CG-a-key-it-refuses" not in line(coingecko)
    assert results["market source deribit"].ok
    assert results["market source coinglass"].ok


async def test_deribit_down_is_a_warning_not_a_failure() -> None:
    with FakeMarketServices() as services:
        services.knobs["deribit"].status = 503
        async with httpx.AsyncClient(trust_env=False) as client:
            market = build_live_market(client, config_for(services), clock=MovableClock())
            report = await Preflight([MarketSourcesCheck(market)]).execute()
    deribit = next(r for r in report.results if r.name == "market source deribit")
    assert not deribit.ok
    assert not deribit.required
    assert line(deribit).startswith("warning market source deribit: deribit: HTTP 503")
    assert report.ok


async def test_an_unknown_claude_model_is_named_with_the_model_setting(
    messages_api: FakeMessagesApi,
) -> None:
    check = ClaudeModelCheck(
        api_key=API_KEY, model="claude-no-such-model-9", base_url=messages_api.base_url
    )
    (result,) = await check.run()
    assert not result.ok
    assert result.detail == "the Anthropic API has no model 'claude-no-such-model-9' (404)"
    assert result.fix == "set TREASURY_CLAUDE_MODEL to a current model id"


async def test_a_refused_anthropic_key_is_named_with_the_key_setting(
    messages_api: FakeMessagesApi,
) -> None:
    check = ClaudeModelCheck(
        api_key="sk-ant-wrong-key", model=DEFAULT_MODEL, base_url=messages_api.base_url
    )
    (result,) = await check.run()
    assert not result.ok
    assert result.fix == "set a valid ANTHROPIC_API_KEY"
    assert "sk-ant-wrong-key" not in line(result)


async def test_the_configured_model_with_a_good_key_passes(messages_api: FakeMessagesApi) -> None:
    check = ClaudeModelCheck(api_key=API_KEY, model=DEFAULT_MODEL, base_url=messages_api.base_url)
    (result,) = await check.run()
    assert result.ok
    assert result.detail == f"{DEFAULT_MODEL} available"


async def test_all_three_faults_fail_the_preflight_each_with_its_fix(
    wrong_chain_node: str, messages_api: FakeMessagesApi
) -> None:
    w3 = connect(wrong_chain_node)
    try:
        with FakeMarketServices() as services:
            services.knobs[COINGECKO].api_key = KEYS[COINGECKO]
            async with httpx.AsyncClient(trust_env=False) as client:
                config = config_for(services, coingecko_api_key="CG-a-key-it-refuses")
                market = build_live_market(client, config, clock=MovableClock())
                report = await Preflight(
                    [
                        MarketSourcesCheck(market),
                        ChainIdCheck(w3, ETHEREUM),
                        ClaudeModelCheck(
                            api_key=API_KEY,
                            model="claude-no-such-model-9",
                            base_url=messages_api.base_url,
                        ),
                    ]
                ).execute()
    finally:
        await w3.provider.disconnect()
    assert not report.ok
    failed = {r.name: line(r) for r in report.failures}
    assert set(failed) == {"market source coingecko", "rpc chain id", "claude model"}
    assert all("-> fix: " in text for text in failed.values())


class FakePendleApi:
    """Pendle's `GET /v2/markets/all` on 127.0.0.1, answering the recorded capture (chain 1)
    with the markets' expiry set as the test says."""

    def __init__(self, expiry: str) -> None:
        recorded = json.loads(RECORDED_PENDLE.read_text(encoding="utf-8"))
        self.body = copy.deepcopy(recorded)
        for market in self.body["results"]:
            market["expiry"] = expiry
        self.market = self.body["results"][0]["address"]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                raw = json.dumps(fake.body).encode()
                self.send_response(200 if self.path.startswith("/v2/markets/all") else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakePendleApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize(
    ("expiry", "ok"),
    [("2020-06-25T00:00:00.000Z", False), ("2099-12-30T00:00:00.000Z", True)],
    ids=["matured", "active"],
)
async def test_a_matured_pendle_market_is_named_with_the_market_setting(
    wrong_chain_node: str, expiry: str, ok: bool
) -> None:
    w3 = connect(wrong_chain_node)  # any node: the check reads only its clock
    try:
        with FakePendleApi(expiry) as api:
            async with httpx.AsyncClient(trust_env=False) as client:
                pendle = Pendle(
                    client, w3, chain_id=ETHEREUM, cash_token=USDC, base_url=api.base_url
                )
                (result,) = await PendleMarketCheck(pendle, api.market, w3).run()
    finally:
        await w3.provider.disconnect()
    assert result.ok is ok
    if ok:
        assert result.detail == "wstETH, matures 2099-12-30"
    else:
        assert result.detail == f"wstETH ({api.market}) matured on 2020-06-25"
        assert result.fix == (
            "set TREASURY_PENDLE_MARKET to an active market (and redeem the matured PT)"
        )


async def test_a_matured_configured_market_passes_once_the_pt_was_rolled_into_an_active_one(
    wrong_chain_node: str,
) -> None:
    # After a roll the treasury holds PT of a later market: the configured one having matured
    # is then expected, not a fault. Without a roll (the current market is still the
    # configured one) it stays a fault.
    w3 = connect(wrong_chain_node)
    try:
        with FakePendleApi("2020-06-25T00:00:00.000Z") as api:
            later = api.body["results"][1]
            later["expiry"] = "2099-12-30T00:00:00.000Z"

            async def rolled() -> str:
                return str(later["address"])

            async def not_rolled() -> str:
                return api.market

            async with httpx.AsyncClient(trust_env=False) as client:
                pendle = Pendle(
                    client, w3, chain_id=ETHEREUM, cash_token=USDC, base_url=api.base_url
                )
                (after_roll,) = await PendleMarketCheck(
                    pendle, api.market, w3, current=rolled
                ).run()
                (no_roll,) = await PendleMarketCheck(
                    pendle, api.market, w3, current=not_rolled
                ).run()
    finally:
        await w3.provider.disconnect()
    assert after_roll.ok, after_roll
    assert after_roll.detail == (
        "wstETH matured on 2020-06-25; PT rolled into ynRWAx, matures 2099-12-30"
    )
    assert not no_roll.ok
    assert no_roll.detail == f"wstETH ({api.market}) matured on 2020-06-25"


async def test_an_unlisted_pendle_market_is_named_with_the_market_setting(
    wrong_chain_node: str,
) -> None:
    w3 = connect(wrong_chain_node)
    try:
        with FakePendleApi("2099-12-30T00:00:00.000Z") as api:
            api.body["results"] = []
            async with httpx.AsyncClient(trust_env=False) as client:
                pendle = Pendle(
                    client, w3, chain_id=ETHEREUM, cash_token=USDC, base_url=api.base_url
                )
                (result,) = await PendleMarketCheck(pendle, api.market, w3).run()
    finally:
        await w3.provider.disconnect()
    assert not result.ok
    assert "no market" in result.detail
    assert result.fix == "set TREASURY_PENDLE_MARKET to an active market listed on this chain"


ONEINCH_KEY = "oneinch-loopback-key-never-print-me"


class FakeOneInchApi:
    """1inch's `GET /swap/v6.0/{chainId}/approve/spender` on 127.0.0.1: the recorded answer for
    the Bearer key it was given, else 401 in the recorded error shape."""

    def __init__(self, api_key: str = ONEINCH_KEY) -> None:
        fake = self
        self.api_key = api_key

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                status = 200
                body: Any = recorded("oneinch_approve_spender.json")
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    status = 401
                    body = recorded("oneinch_error_400.json")
                    body.update(error="Unauthorized", description="Unauthorized", statusCode=401)
                elif not self.path.startswith(f"/swap/v6.0/{ETHEREUM}/approve/spender"):
                    status = 404
                    body = {"error": "Not Found", "statusCode": 404}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeOneInchApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize(
    ("key", "ok"),
    [(ONEINCH_KEY, True), ("oneinch-key-it-refuses", False), ("", False)],
    ids=["accepted", "refused", "missing"],
)
async def test_a_refused_or_missing_1inch_key_is_named_with_the_key_setting(
    key: str, ok: bool
) -> None:
    w3 = connect("http://127.0.0.1:9", timeout_seconds=1)  # the spender read needs no node
    try:
        with FakeOneInchApi() as api:
            async with httpx.AsyncClient(trust_env=False) as client:
                swap = OneInch(client, w3, chain_id=ETHEREUM, api_key=key, base_url=api.base_url)
                check = SwapApiKeyCheck(swap.spender, has_key=swap.has_api_key)
                (result,) = await check.run()
    finally:
        await w3.provider.disconnect()
    assert result.ok is ok
    if ok:
        assert result.detail == "key accepted; router 0x111111125421cA6dc452d289314280a0f8842A65"
    elif key:
        assert result.detail.startswith("1inch: HTTP 401")
        assert result.fix == "the key was refused: set a valid TREASURY_ONEINCH_API_KEY"
        assert key not in line(result)
    else:
        assert (result.detail, result.fix) == ("no API key", "set TREASURY_ONEINCH_API_KEY")


async def test_a_1inch_api_at_the_wrong_address_names_the_url_setting() -> None:
    w3 = connect("http://127.0.0.1:9", timeout_seconds=1)
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            swap = OneInch(
                client, w3, chain_id=ETHEREUM, api_key=ONEINCH_KEY, base_url="http://127.0.0.1:9"
            )
            (result,) = await SwapApiKeyCheck(swap.spender, has_key=True).run()
    finally:
        await w3.provider.disconnect()
    assert not result.ok
    assert result.fix == "check TREASURY_ONEINCH_BASE_URL and that the API answers"


async def test_every_configured_node_is_checked_for_its_chain_each_naming_its_setting(
    wrong_chain_node: str,
) -> None:
    (base,) = await NodeChainIdCheck(wrong_chain_node, 8453).run()
    (right,) = await NodeChainIdCheck(wrong_chain_node, 5, timeout_s=5).run()
    (dead,) = await NodeChainIdCheck("http://127.0.0.1:9/secret-provider-key", 42161).run()
    assert (base.name, base.ok) == ("rpc chain id base", False)
    assert base.detail == "the node serves chain 5, the settings name 8453"
    assert base.fix == "point TREASURY_RPC_URL_BASE at a node for chain 8453"
    assert right.ok
    assert (dead.name, dead.ok) == ("rpc chain id arbitrum", False)
    assert dead.fix == "check TREASURY_RPC_URL_ARBITRUM and that the node is up"
    assert "secret-provider-key" not in line(dead)
