"""The lifecycle over HTTP JSON-RPC against anvil, where bundles use eth_simulateV1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.chain.devchain.deploy import DAY
from adapters.chain.devchain.oracle import advance_time
from application.ports.chain import GasPriceAboveCap, SimulationMethod
from tests.integration.chain.conftest import SLIPPAGE, Rig
from tests.integration.devchain.chain_calls import balance

pytestmark = pytest.mark.anvil
USDC = 10**6


async def test_aave_supply_and_curve_round_trip_over_anvil_with_simulate_v1(anvil_rig: Rig) -> None:
    rig, owner = anvil_rig, anvil_rig.chain.treasury_address
    steps = await rig.aave.build_deposit(owner, "USDC", 10_000 * USDC)
    plan = await rig.executor.simulate_plan(steps, eth_usd=Decimal(3500))
    assert plan.simulation.method is SimulationMethod.SIMULATE_V1
    assert all(c.passed and c.delta is not None for s in plan.simulation.steps for c in s.checks)
    for i, step in enumerate(plan.kept):
        assert (await rig.executor.send(step, f"anvil-supply-{i}")).success
    supplied = (await rig.aave.position(owner, "USDC")).balance
    await advance_time(rig.chain.w3, 30 * DAY)
    assert (await rig.aave.position(owner, "USDC")).balance > supplied + 30 * USDC

    usdc = await balance(rig.chain, "USDC")
    add = await rig.curve.build_deposit(owner, "USDC", 20_000 * USDC, SLIPPAGE)
    for i, step in enumerate(add):
        await rig.executor.send(step, f"anvil-curve-{i}")
    lp = (await rig.curve.position(owner)).balance
    for i, step in enumerate(await rig.curve.build_remove_lp(owner, "USDC", lp, SLIPPAGE)):
        await rig.executor.send(step, f"anvil-curve-out-{i}")
    assert usdc - await balance(rig.chain, "USDC") < 20 * USDC


async def test_a_bundle_simulation_on_anvil_catches_a_failing_balance_check(anvil_rig: Rig) -> None:
    rig, owner = anvil_rig, anvil_rig.chain.treasury_address
    (approve, supply) = await rig.aave.build_deposit(owner, "USDC", 1_000 * USDC)
    # Without the approval the supply reverts inside the bundle, with the pool's reason.
    result = await rig.executor.simulate_bundle((supply,))
    assert not result.passed
    assert result.first_failure is not None
    both = await rig.executor.simulate_bundle((approve, supply))
    assert both.passed


async def test_anvil_base_fee_above_the_default_cap_refuses(anvil_rig: Rig) -> None:
    w3 = anvil_rig.chain.w3
    await w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(150 * 10**9)])
    await w3.provider.make_request("evm_mine", [])
    with pytest.raises(GasPriceAboveCap):
        await anvil_rig.executor.fees()
