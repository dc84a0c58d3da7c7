"""1inch and Pendle through the fake HTTP APIs, and every failure path sending nothing."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest
from eth_account import Account

from adapters.chain.devchain.deploy import DAY, contract_at
from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.oracle import advance_time, set_prices
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.oneinch import OneInch
from adapters.chain.pendle import Pendle
from application.ports.chain import (
    BroadcastAttempt,
    GasPriceAboveCap,
    InsufficientBalance,
    ProtocolUnavailable,
    SimulationFailed,
    StepKind,
    TransactionRequest,
)
from tests.integration.chain.conftest import SLIPPAGE, Rig, assert_refused
from tests.integration.devchain.chain_calls import balance
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY

USDC = 10**6


async def _nonce(rig: Rig) -> int:
    return int(await rig.chain.w3.eth.get_transaction_count(rig.chain.treasury_address))


async def test_a_1inch_swap_of_usdc_to_weth_pays_at_least_the_minimum(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    async with httpx.AsyncClient(timeout=10) as client:
        venue = OneInch(
            client,
            rig.chain.w3,
            chain_id=book.chain_id,
            api_key=FAKE_ONEINCH_API_KEY,
            base_url=apis.oneinch_base_url,
        )
        quote = await venue.quote(book.token("USDC"), book.token("WETH"), 3_500 * USDC)
        # $3,500 at $3,500/ETH, less the 5 bps fee and a little impact.
        assert Decimal("0.99") * 10**18 < quote.amount_out < 10**18
        steps = await venue.build_swap(
            owner, book.token("USDC"), book.token("WETH"), 3_500 * USDC, SLIPPAGE
        )
    assert [s.kind for s in steps] == [StepKind.APPROVE, StepKind.SWAP]
    weth_before, usdc_before = await balance(rig.chain, "WETH"), await balance(rig.chain, "USDC")
    for i, step in enumerate(steps):
        await rig.executor.send(step, f"swap-{i}")
    received = await balance(rig.chain, "WETH") - weth_before
    assert usdc_before - await balance(rig.chain, "USDC") == 3_500 * USDC
    assert received >= steps[-1].checks[0].min_delta
    assert received >= quote.amount_out * (1 - SLIPPAGE)


async def test_a_price_move_beyond_the_slippage_bound_fails_simulation_and_sends_nothing(
    rig: Rig, apis: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    async with httpx.AsyncClient(timeout=10) as client:
        venue = OneInch(
            client,
            rig.chain.w3,
            chain_id=book.chain_id,
            api_key=FAKE_ONEINCH_API_KEY,
            base_url=apis.oneinch_base_url,
        )
        steps = await venue.build_swap(
            owner, book.token("USDC"), book.token("WETH"), 3_500 * USDC, SLIPPAGE
        )
    await rig.executor.send(steps[0], "approve-before-move")
    await set_prices(rig.chain.w3, book, {"WETH": Decimal(3_700)})  # ETH up 5.7 %
    nonce = await _nonce(rig)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    with pytest.raises(SimulationFailed) as failure:
        await rig.executor.send(steps[1], "swap-after-move")
    assert await _nonce(rig) == nonce
    assert "return amount is not enough" in failure.value.reason  # the router's minimum
    assert await rig.journal.attempts("swap-after-move") == ()
    assert_refused(caplog, "swap-after-move", "return amount is not enough")


async def test_a_pendle_pt_buy_through_the_hosted_api_is_valued_at_a_discount(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    async with httpx.AsyncClient(timeout=10) as client:
        pendle = Pendle(
            client,
            rig.chain.w3,
            chain_id=book.chain_id,
            cash_token=book.token("USDC"),
            base_url=apis.pendle_base_url,
        )
        assert await pendle.apy(book.pendle_market) == Decimal("0.075")
        usdc_before = await balance(rig.chain, "USDC")
        steps = await pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE)
        for i, step in enumerate(steps):
            await rig.executor.send(step, f"pendle-{i}")
        position = await pendle.position(owner, book.pendle_market)
    assert usdc_before - await balance(rig.chain, "USDC") == 10_000 * USDC
    pt = contract_at(rig.chain.w3, "ERC20", book.pendle_pt)
    assert position.balance == await pt.functions.balanceOf(owner).call()  # on-chain PT
    # About 180 days at 7.5 %: each PT costs about 0.965 USDC, so 10,000 USDC buys ~10,360 PT
    # (18 decimals, as the SY's).
    assert 10_300 * 10**18 < position.balance < 10_400 * 10**18
    assert Decimal(9_950) < position.value_usd < Decimal(10_000)
    assert position.apy == Decimal("0.075")


async def test_pendle_pt_is_sold_before_maturity_and_redeemed_at_par_after(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    pt = contract_at(rig.chain.w3, "ERC20", book.pendle_pt)
    async with httpx.AsyncClient(timeout=10) as client:
        pendle = Pendle(
            client,
            rig.chain.w3,
            chain_id=book.chain_id,
            cash_token=book.token("USDC"),
            base_url=apis.pendle_base_url,
        )
        for i, step in enumerate(
            await pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE)
        ):
            await rig.executor.send(step, f"pt-buy-{i}")
        held = int(await pt.functions.balanceOf(owner).call())
        half = held // 2

        usdc = await balance(rig.chain, "USDC")
        sell = await pendle.build_withdraw(owner, book.pendle_market, half, SLIPPAGE)
        assert sell[-1].kind is StepKind.WITHDRAW
        for i, step in enumerate(sell):
            await rig.executor.send(step, f"pt-sell-{i}")
        sold_for = await balance(rig.chain, "USDC") - usdc
        assert sold_for >= sell[-1].checks[1].min_delta  # at least the minimum
        assert sold_for < half // 10**12  # before maturity a PT is worth less than 1 USDC

        with pytest.raises(ProtocolUnavailable, match="not matured"):
            await pendle.build_redeem(owner, book.pendle_market, held - half)
        now = int((await rig.chain.w3.eth.get_block("latest"))["timestamp"])
        await advance_time(rig.chain.w3, book.pendle_expiry - now + DAY)
        usdc = await balance(rig.chain, "USDC")
        redeem = await pendle.build_redeem(owner, book.pendle_market, held - half)
        assert redeem[-1].kind is StepKind.REDEEM
        for i, step in enumerate(redeem):
            await rig.executor.send(step, f"pt-redeem-{i}")
    # 1:1 at maturity (PT has 18 decimals, USDC 6).
    assert await balance(rig.chain, "USDC") - usdc == (held - half) // 10**12
    assert await pt.functions.balanceOf(owner).call() == 0


async def test_insufficient_balance_is_refused_before_anything_is_built(rig: Rig) -> None:
    nonce = await _nonce(rig)
    with pytest.raises(InsufficientBalance) as refusal:
        await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 10**9 * USDC)
    assert refusal.value.needed == 10**9 * USDC
    assert refusal.value.available == await balance(rig.chain, "USDC")
    assert "insufficient USDC balance" in str(refusal.value)
    assert await _nonce(rig) == nonce


async def test_a_base_fee_above_the_cap_refuses_to_send(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    executor = rig.make_executor(gas_cap_wei=1)  # the dev chain's base fee is far above 1 wei
    steps = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 100 * USDC)
    nonce = await _nonce(rig)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    with pytest.raises(GasPriceAboveCap) as refusal:
        await executor.send(steps[0], "capped")
    assert "above the cap" in str(refusal.value)
    assert await _nonce(rig) == nonce
    assert await rig.journal.attempts("capped") == ()
    assert_refused(caplog, "capped", "above the cap")


async def test_a_reverting_contract_call_fails_simulation_with_its_reason(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    pool = rig.aave._pool  # encode a withdraw of a position the treasury does not have
    request = TransactionRequest(
        chain_id=rig.chain.book.chain_id,
        to=pool.address,
        data=pool.encode_abi(
            "withdraw", args=[rig.chain.book.token("USDC"), 5 * USDC, rig.chain.treasury_address]
        ),
        kind=StepKind.WITHDRAW,
        description="withdraw what is not there",
    )
    nonce = await _nonce(rig)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    with pytest.raises(SimulationFailed) as failure:
        await rig.executor.send(request, "reverting")
    assert "not enough available user balance" in failure.value.reason
    assert await _nonce(rig) == nonce
    assert await rig.journal.attempts("reverting") == ()
    assert_refused(caplog, "reverting", "not enough available user balance")


class CrashAfterRecording(InMemoryStepJournal):
    """A journal whose process dies right after the attempt is persisted, before broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        await super().record_attempt(attempt)
        if self.crash:
            self.crash = False
            raise KeyboardInterrupt  # the process stops here


async def test_a_restart_between_signing_and_broadcast_sends_the_same_transaction_once(
    rig: Rig,
) -> None:
    journal = CrashAfterRecording()
    steps = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 100 * USDC)
    nonce = await _nonce(rig)
    with pytest.raises(KeyboardInterrupt):
        await rig.make_executor(journal=journal).send(steps[0], "step-1")
    assert await _nonce(rig) == nonce  # signed and recorded, never broadcast
    (recorded,) = await journal.attempts("step-1")

    restarted = rig.make_executor(journal=journal)
    receipt = await restarted.send(steps[0], "step-1")
    assert receipt.tx_hash == recorded.tx_hash
    assert receipt.nonce == nonce
    assert await _nonce(rig) == nonce + 1

    again = await rig.make_executor(journal=journal).send(steps[0], "step-1")
    assert again == receipt
    assert await _nonce(rig) == nonce + 1  # no second transaction for the step


async def test_a_restart_after_broadcast_reconciles_with_the_chain_without_sending(
    rig: Rig,
) -> None:
    steps = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 100 * USDC)
    first = await rig.executor.send(steps[0], "step-a")
    nonce = await _nonce(rig)
    forgetful = InMemoryStepJournal()  # the outcome was never written, only the attempt
    for attempt in await rig.journal.attempts("step-a"):
        await forgetful.record_attempt(attempt)
    restarted = rig.make_executor(journal=forgetful)
    assert await restarted.reconcile("step-a") == first
    assert await restarted.send(steps[0], "step-a") == first
    assert await _nonce(rig) == nonce


async def test_estimated_and_actual_gas_are_recorded_for_every_transaction(rig: Rig) -> None:
    steps = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 100 * USDC)
    receipts = [await rig.executor.send(s, f"gas-{i}") for i, s in enumerate(steps)]
    for i, receipt in enumerate(receipts):
        assert receipt.gas_estimated > 0
        assert receipt.gas_used > 0
        assert receipt.effective_gas_price > 0
        (attempt,) = await rig.journal.attempts(f"gas-{i}")
        assert attempt.gas_estimated == receipt.gas_estimated  # recorded before broadcast
        assert attempt.gas_limit >= receipt.gas_used  # the margin over the estimate held
        assert await rig.journal.outcome(f"gas-{i}") == receipt  # actual gas recorded
        on_chain = await rig.chain.w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
        assert receipt.gas_used == on_chain["gasUsed"]


async def test_a_step_whose_gas_exceeds_its_share_of_value_is_dropped_with_the_reason(
    rig: Rig,
) -> None:
    tiny = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 1 * USDC)
    big = await rig.aave.build_deposit(rig.chain.treasury_address, "DAI", 50_000 * 10**18)
    plan = await rig.executor.simulate_plan((*tiny, *big), eth_usd=Decimal(3500))
    assert plan.kept == big
    assert {d.request for d in plan.dropped} == set(tiny)
    assert all("exceeds" in d.reason for d in plan.dropped)


async def test_an_account_without_eth_for_gas_is_refused_and_nothing_is_sent(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    broke = KeystoreSigner(Account.create())  # holds no ETH at all
    journal = InMemoryStepJournal()
    executor = rig.make_executor(signer=broke, journal=journal)
    (approve, _) = await rig.aave.build_deposit(rig.chain.treasury_address, "USDC", 100 * USDC)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    with pytest.raises(InsufficientBalance) as refusal:
        await executor.send(approve, "broke")
    assert refusal.value.token == "ETH"
    assert refusal.value.available == 0
    assert refusal.value.needed > 0
    assert await rig.chain.w3.eth.get_transaction_count(broke.address) == 0
    assert await journal.attempts("broke") == ()
    assert_refused(caplog, "broke", "insufficient ETH balance")


async def test_an_allowance_left_by_an_interrupted_plan_covers_only_the_first_of_two_swaps(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    usdc, weth = book.token("USDC"), book.token("WETH")
    async with httpx.AsyncClient(timeout=10) as client:
        venue = OneInch(
            client,
            rig.chain.w3,
            chain_id=book.chain_id,
            api_key=FAKE_ONEINCH_API_KEY,
            base_url=apis.oneinch_base_url,
        )
        # A plan cut off by a crash: its approval landed, its swap never ran.
        (approve, _never_sent) = await venue.build_swap(owner, usdc, weth, 1_000 * USDC, SLIPPAGE)
        await rig.executor.send(approve, "dead-plan:0")
        # The next plan swaps the same amount twice through the same router.
        first = await venue.build_swap(owner, usdc, weth, 1_000 * USDC, SLIPPAGE)
        second = await venue.build_swap(owner, usdc, weth, 1_000 * USDC, SLIPPAGE)
    assert [s.kind for s in first] == [StepKind.SWAP]  # the leftover allowance covers it
    assert [s.kind for s in second] == [StepKind.APPROVE, StepKind.SWAP]
    simulation = await rig.executor.simulate_bundle((*first, *second))
    assert simulation.passed, simulation.first_failure
