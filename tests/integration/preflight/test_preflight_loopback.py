"""Preflight against loopback fakes: a node on the wrong chain, a refused market key and an
unknown Claude model are each named with their fix, and the preflight fails."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.advisors.claude import DEFAULT_MODEL
from adapters.advisors.preflight import ClaudeModelCheck
from adapters.chain.executor import connect
from adapters.chain.preflight import ChainIdCheck
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
