"""A paper decision cycle reads the chain in a handful of `eth_call`s (issue 18, item 3).

A real paper service (SQLite, the in-process dev chain with Multicall3, the simulated market)
started from the spec's 60/40 split, so every venue holds a position; the requests the
treasury's own connection sends during each cycle are counted at its provider.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from application.cycle import CycleCommand
from entrypoints.container import AppSettings, Runtime, bootstrap
from tests.rpc_counter import RpcCounter

ETH_CALLS_PER_CYCLE = 3  # the goal

pytestmark = [pytest.mark.slow(seconds=120), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runtime(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    """One paper service, split 60/40 over every venue (start-up deploys the dev chain)."""
    data_dir = tmp_path_factory.mktemp("paper-chain-reads") / "var"
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("TREASURY_")]:
            env.delenv(key)
        env.setenv("TREASURY_MODE", "paper")
        env.setenv("TREASURY_DATA_DIR", str(data_dir))
        env.setenv("TREASURY_API_TOKENS", "paper-operator-token-0001:operator")
        started = await bootstrap(AppSettings.load())
    try:
        assert await started.election.try_lead(started.take_over)
        yield started
    finally:
        await started.aclose()


async def test_a_paper_cycle_reads_the_chain_in_at_most_three_eth_calls(runtime: Runtime) -> None:
    state = await runtime.chain.portfolio.read()
    assert {p.protocol for p in state.positions} >= {"aave", "curve", "pendle", "wallet"}
    counter = RpcCounter.attach(runtime.chain.web3)
    for _ in range(3):
        await runtime.before_cycle()  # an hour of simulated time: blocks, prices, volume
        counter.reset()

        await runtime.services.cycle.execute(CycleCommand(requested_by="test"))

        assert counter.eth_calls <= ETH_CALLS_PER_CYCLE, dict(counter.counts)


async def test_a_portfolio_read_is_one_eth_call(runtime: Runtime) -> None:
    counter = RpcCounter.attach(runtime.chain.web3)

    await runtime.chain.portfolio.read()

    assert counter.eth_calls == 1, dict(counter.counts)
