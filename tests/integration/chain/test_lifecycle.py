"""The full lifecycle, every step simulated, sent and checked against on-chain balances.

Each test runs twice through the `rig` fixture: on the in-process EVM (bundles simulated with
evm_snapshot) and over HTTP JSON-RPC against anvil on 127.0.0.1 (bundles simulated with
eth_simulateV1). The 1inch swap and the Pendle PT buy are in test_swaps_and_failures.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.chain.devchain.deploy import DAY, contract_at
from adapters.chain.devchain.oracle import advance_time
from adapters.chain.simulation import SimulationMode
from application.ports.chain import SimulationFailed, SimulationMethod
from tests.integration.chain.conftest import SLIPPAGE, Rig
from tests.integration.devchain.chain_calls import balance

USDC = 10**6


async def _send_all(rig: Rig, requests: tuple, prefix: str) -> list:
    receipts = []
    for index, request in enumerate(requests):
        receipts.append(await rig.executor.send(request, f"{prefix}-{index}"))
    return receipts


async def test_supplying_usdc_to_aave_grows_the_atoken_balance_and_withdrawing_returns_it(
    rig: Rig,
) -> None:
    owner = rig.chain.treasury_address
    before = await balance(rig.chain, "USDC")
    steps = await rig.aave.build_deposit(owner, "USDC", 10_000 * USDC)
    assert [s.kind for s in steps] == ["approve", "deposit"]

    plan = await rig.executor.simulate_plan(steps, eth_usd=Decimal(3500))
    assert plan.simulation.method is rig.bundle_method
    assert plan.simulation.passed
    assert not plan.dropped
    receipts = await _send_all(rig, plan.kept, "aave-supply")

    assert all(r.success and r.gas_used > 0 for r in receipts)
    assert await balance(rig.chain, "USDC") == before - 10_000 * USDC
    supplied = await rig.aave.position(owner, "USDC")
    assert supplied.balance >= 10_000 * USDC - 2
    assert Decimal("0.04") < supplied.apy < Decimal("0.05")  # 4.5 % APR compounded

    await advance_time(rig.chain.w3, 30 * DAY)
    grown = await rig.aave.position(owner, "USDC")
    # 30 days at about 4.6 % APY: roughly $37 of interest on $10,000.
    assert 30 * USDC < grown.balance - supplied.balance < 45 * USDC
    assert grown.value_usd > supplied.value_usd

    withdraw = await rig.aave.build_withdraw(owner, "USDC", grown.balance * 2)
    (receipt,) = await _send_all(rig, withdraw, "aave-withdraw")
    assert receipt.success
    assert (await rig.aave.position(owner, "USDC")).balance == 0
    assert await balance(rig.chain, "USDC") >= before + 30 * USDC


async def test_no_approval_is_built_when_the_allowance_already_covers_the_amount(rig: Rig) -> None:
    owner = rig.chain.treasury_address
    first = await rig.aave.build_deposit(owner, "USDC", 500 * USDC)
    await rig.executor.send(first[0], "approve-only")
    usdc = contract_at(rig.chain.w3, "ERC20", rig.chain.book.token("USDC"))
    allowance = await usdc.functions.allowance(owner, rig.chain.book.aave_pool).call()
    assert allowance == 500 * USDC  # exactly the amount, never unlimited
    second = await rig.aave.build_deposit(owner, "USDC", 500 * USDC)
    assert [s.kind for s in second] == ["deposit"]
    rig.aave.allowances.clear()  # a new plan (the second one was built but never sent)
    bigger = await rig.aave.build_deposit(owner, "USDC", 501 * USDC)
    assert [s.kind for s in bigger] == ["approve", "approve", "deposit"]  # reset, then exact


async def test_curve_add_and_remove_liquidity_round_trips_within_fees(rig: Rig) -> None:
    owner = rig.chain.treasury_address
    before = await balance(rig.chain, "USDC")
    add = await rig.curve.build_deposit(owner, "USDC", 50_000 * USDC, SLIPPAGE)
    plan = await rig.executor.simulate_plan(add, eth_usd=Decimal(3500))
    await _send_all(rig, plan.kept, "curve-add")
    position = await rig.curve.position(owner)
    assert position.balance > 0
    assert abs(position.value_usd - Decimal(50_000)) < Decimal(50)

    remove = await rig.curve.build_remove_lp(owner, "USDC", position.balance, SLIPPAGE)
    await _send_all(rig, remove, "curve-remove")
    assert (await rig.curve.position(owner)).balance == 0
    after = await balance(rig.chain, "USDC")
    assert before - after < 50 * USDC  # only pool fees lost


async def test_without_bundle_support_each_step_is_simulated_again_right_before_it_is_sent(
    rig: Rig,
) -> None:
    owner = rig.chain.treasury_address
    executor = rig.make_executor(simulation=SimulationMode.CALL)  # a node with neither method
    approve, supply = await rig.aave.build_deposit(owner, "USDC", 1_000 * USDC)
    bundle = await executor.simulate_bundle((approve, supply))
    assert bundle.method is SimulationMethod.CALL
    assert bundle.passed
    # The supply needs the approval mined first: it is deferred, not judged, in the bundle …
    assert (bundle.steps[1].revert_reason or "").startswith("deferred:")
    with pytest.raises(SimulationFailed):
        await executor.send(supply, "supply-too-early")  # … and alone it fails, sending nothing
    assert await rig.journal.attempts("supply-too-early") == ()

    await executor.send(approve, "call-approve")
    assert (await executor.send(supply, "call-supply")).success  # simulated again, now passes
    assert (await rig.aave.position(owner, "USDC")).balance >= 1_000 * USDC - 2
