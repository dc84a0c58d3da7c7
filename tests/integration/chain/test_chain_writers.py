"""One writer at a time on the in-process dev chain.

The executor simulates a bundle with evm_snapshot, real sends and evm_revert. The paper world
(time, 3pool volume, oracle prices, deposits) writes from the deployer. A world step that lands
between the snapshot and the revert is undone by the revert: the clock goes back and the
world's own swap vanishes, so it waits 60 s for a receipt that never comes. This happened in
paper mode as "swap USDC for DAI in the 3pool failed: ... is not in the chain after 60 seconds"
during /paper/advance while a plan was being simulated.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.chain.devchain.deploy import DAY, DevChainConfig, chain_time
from adapters.chain.devchain.oracle import oracle_price
from adapters.chain.devchain.world import DevChainWorld
from domain.market import MarketData, MarketPhase
from tests.integration.chain.conftest import build_rig
from tests.integration.devchain.fixtures import DevChain

USDC = 10**6
# Far below the world's 60 s receipt wait: a step undone by a revert shows up as a timeout.
DEADLINE_S = 30


def _market(btc: str) -> MarketData:
    return MarketData(
        btc_price=Decimal(btc),
        eth_price=Decimal(3000),
        mvrv_z_score=Decimal(1),
        funding_rate=None,
        fear_greed_index=None,
        market_phase=MarketPhase.ACCUMULATION,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_a_world_tick_during_a_bundle_simulation_is_neither_undone_nor_stuck(
    devchain: DevChain,
) -> None:
    lock = asyncio.Lock()
    rig = build_rig(devchain, write_lock=lock)
    world = DevChainWorld(
        w3=devchain.w3,
        book=devchain.book,
        config=DevChainConfig(curve_daily_volume_share=Decimal("0.05")),
        write_lock=lock,
    )
    # One tick first, as paper mode has had many: the 3pool allowance is in place, so the
    # tick below sends its swaps straight away.
    await world.tick(_market("120000"), timedelta(hours=1))
    steps = await rig.aave.build_deposit(devchain.treasury_address, "USDC", 1_000 * USDC)
    started = await chain_time(devchain.w3)

    simulation, _ = await asyncio.wait_for(
        asyncio.gather(
            rig.executor.simulate_bundle(steps), world.tick(_market("123456"), timedelta(days=2))
        ),
        timeout=DEADLINE_S,
    )

    assert simulation.passed
    assert await chain_time(devchain.w3) >= started + 2 * DAY, "the revert undid the clock"
    assert await oracle_price(devchain.w3, devchain.book, "BTC") == Decimal("123456")


async def test_deposits_and_ticks_at_once_all_land(devchain: DevChain) -> None:
    world = DevChainWorld(
        w3=devchain.w3,
        book=devchain.book,
        config=DevChainConfig(curve_daily_volume_share=Decimal("0.05")),
    )
    rig = build_rig(devchain, write_lock=world.write_lock)
    steps = await rig.aave.build_deposit(devchain.treasury_address, "USDC", 1_000 * USDC)
    someone = "0x00000000000000000000000000000000000000aa"
    started = await chain_time(devchain.w3)

    await asyncio.wait_for(
        asyncio.gather(
            rig.executor.simulate_bundle(steps),
            world.tick(_market("100000"), timedelta(hours=6)),
            world.fund(someone, Decimal(250)),
            rig.executor.simulate_bundle(steps),
            world.tick(_market("101000"), timedelta(hours=6)),
            world.fund(someone, Decimal(750)),
        ),
        timeout=DEADLINE_S,
    )

    usdc = devchain.w3.eth.contract(
        address=devchain.w3.to_checksum_address(devchain.book.token("USDC")),
        abi=[
            {
                "name": "balanceOf",
                "type": "function",
                "stateMutability": "view",
                "inputs": [{"name": "a", "type": "address"}],
                "outputs": [{"name": "", "type": "uint256"}],
            }
        ],
    )
    held = await usdc.functions.balanceOf(devchain.w3.to_checksum_address(someone)).call()
    assert held == 1_000 * USDC
    assert await chain_time(devchain.w3) >= started + 12 * 3600
    assert await oracle_price(devchain.w3, devchain.book, "BTC") == Decimal("101000")
