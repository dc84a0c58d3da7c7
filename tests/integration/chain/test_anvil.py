"""Behaviour only a real JSON-RPC node shows: bundles through eth_simulateV1, base fees that
move, tips read from fee history, and stuck transactions replaced with automine off.

The lifecycle itself (Aave, Curve, 1inch, Pendle) runs on anvil through the `rig` fixture in
test_lifecycle.py and test_swaps_and_failures.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from web3 import AsyncWeb3

from application.ports.chain import (
    GasPriceAboveCap,
    NonceConflict,
    StepFate,
    StuckTransaction,
    TransactionRequest,
)
from tests.integration.chain.conftest import Rig

pytestmark = pytest.mark.anvil
USDC = 10**6
GWEI = 10**9


async def _rpc(w3: AsyncWeb3[Any], method: str, *params: Any) -> Any:
    answer = await w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


async def _next_base_fee(w3: AsyncWeb3[Any]) -> int:
    return int((await w3.eth.fee_history(1, "latest", []))["baseFeePerGas"][-1])


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
    await _rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(150 * GWEI))
    await _rpc(w3, "evm_mine")
    with pytest.raises(GasPriceAboveCap):
        await anvil_rig.executor.fees()


async def test_the_tip_is_the_configured_fee_history_percentile_not_a_fixed_value(
    anvil_rig: Rig,
) -> None:
    w3 = anvil_rig.chain.w3
    payer = Account.create()
    await _rpc(w3, "anvil_setBalance", payer.address, hex(10**18))
    base = await _next_base_fee(w3)
    await _rpc(w3, "evm_setAutomine", False)
    for nonce, tip_gwei in enumerate((3, 1, 5, 2, 4)):  # five transfers, one block
        signed = payer.sign_transaction(
            {
                "chainId": 31337,
                "nonce": nonce,
                "to": anvil_rig.chain.treasury_address,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 2 * base + tip_gwei * GWEI,
                "maxPriorityFeePerGas": tip_gwei * GWEI,
                "type": 2,
            }
        )
        await w3.eth.send_raw_transaction(signed.raw_transaction)
    await _rpc(w3, "evm_mine")
    assert len((await w3.eth.get_block("latest"))["transactions"]) == 5

    low = await anvil_rig.make_executor(priority_fee_percentile=10.0, fee_history_blocks=1).fees()
    high = await anvil_rig.make_executor(priority_fee_percentile=90.0, fee_history_blocks=1).fees()
    assert low.max_priority_fee == 1 * GWEI  # the cheapest fifth of the block's gas
    assert high.max_priority_fee == 5 * GWEI  # the dearest fifth
    assert high.max_fee == 2 * high.base_fee + high.max_priority_fee


@dataclass
class Miner:
    """Mines anvil blocks on a timer while automine is off.

    Nothing is mined until a transaction reaches the pool (`hold_until_pending`), so the
    executor prices its first attempt at the calm base fee; from then on every block is
    pinned at `base_fee` when it is set, the way a gas spike leaves a transaction behind.
    """

    w3: AsyncWeb3[Any]
    base_fee: int | None = None
    hold_until_pending: bool = True
    interval: float = 0.05
    blocks: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _mined: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def pin(self, base_fee: int) -> None:
        """Pin later blocks at `base_fee`; return once a block priced at it is mined."""
        self.base_fee = base_fee
        for _ in range(2):  # the block being mined now may still carry the old base fee
            self._mined.clear()
            await self._mined.wait()

    async def _run(self) -> None:
        while True:
            if self.hold_until_pending:
                status = await _rpc(self.w3, "txpool_status")
                if int(status["pending"], 16) == 0:
                    await asyncio.sleep(self.interval / 5)
                    continue
                self.hold_until_pending = False
            if self.base_fee is not None:
                await _rpc(self.w3, "anvil_setNextBlockBaseFeePerGas", hex(self.base_fee))
            await _rpc(self.w3, "evm_mine")
            self.blocks += 1
            self._mined.set()
            await asyncio.sleep(self.interval)


@contextlib.asynccontextmanager
async def mining(w3: AsyncWeb3[Any], **options: Any) -> AsyncIterator[Miner]:
    """Automine off and a `Miner` running for the block; automine back on afterwards."""
    miner = Miner(w3, **options)
    await _rpc(w3, "evm_setAutomine", False)
    miner._task = asyncio.create_task(miner._run())
    try:
        yield miner
    finally:
        miner._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await miner._task
        await _rpc(w3, "evm_setAutomine", True)


async def _approve(rig: Rig) -> TransactionRequest:
    (approve, _supply) = await rig.aave.build_deposit(
        rig.chain.treasury_address, "USDC", 100 * USDC
    )
    return approve


async def _mined_nonce(rig: Rig) -> int:
    return int(await rig.chain.w3.eth.get_transaction_count(rig.chain.treasury_address, "latest"))


async def test_a_stuck_transaction_is_replaced_with_the_same_nonce_and_a_capped_higher_fee(
    anvil_rig: Rig,
) -> None:
    rig, w3 = anvil_rig, anvil_rig.chain.w3
    cap = 100 * GWEI
    executor = rig.make_executor(gas_cap_wei=cap, replace_after_blocks=3)
    request = await _approve(rig)
    nonce = await _mined_nonce(rig)
    start = await w3.eth.block_number

    # Right after the first broadcast the base fee jumps to 60 gwei and stays there.
    async with mining(w3, base_fee=60 * GWEI):
        receipt = await executor.send(request, "stuck-then-replaced")

    first, second = await rig.journal.attempts("stuck-then-replaced")
    assert first.nonce == second.nonce == nonce  # same nonce: a replacement, not a new tx
    assert first.max_fee_per_gas < 60 * GWEI < cap  # priced for the calm chain: not includable
    assert second.max_fee_per_gas == cap  # 2 × 60 gwei + tip, held at the cap
    assert second.max_fee_per_gas >= first.max_fee_per_gas * 1.125
    assert second.max_priority_fee_per_gas >= first.max_priority_fee_per_gas * 1.125
    assert (second.attempt, first.attempt) == (1, 0)
    # Broadcast into block start + 1, ignored for three blocks, replaced, then mined.
    assert receipt.block_number >= start + 4

    assert receipt.success
    assert receipt.tx_hash == second.tx_hash
    assert receipt.replaced_hashes == (first.tx_hash,)
    assert await rig.journal.outcome("stuck-then-replaced") == receipt
    # Only one of the two was mined: the nonce moved by one and the first has no receipt.
    assert await _mined_nonce(rig) == nonce + 1
    answer = await w3.provider.make_request("eth_getTransactionReceipt", [first.tx_hash])  # type: ignore[arg-type]
    assert answer.get("result") is None


async def test_past_the_gas_cap_a_stuck_transaction_is_reported_and_its_nonce_kept(
    anvil_rig: Rig,
) -> None:
    rig, w3 = anvil_rig, anvil_rig.chain.w3
    calm = await _next_base_fee(w3)
    cap = calm + calm // 2  # the first attempt already pays the cap: no room for a bump
    executor = rig.make_executor(gas_cap_wei=cap, replace_after_blocks=3)
    request = await _approve(rig)
    nonce = await _mined_nonce(rig)

    async with mining(w3, base_fee=2 * cap) as miner:
        with pytest.raises(StuckTransaction) as stuck:
            await executor.send(request, "stuck")
        (attempt,) = await rig.journal.attempts("stuck")
        assert attempt.max_fee_per_gas == cap
        assert stuck.value.nonce == nonce
        assert stuck.value.tx_hash == attempt.tx_hash
        assert "gas cap" in stuck.value.reason
        assert await _mined_nonce(rig) == nonce  # nothing mined, nothing else sent
        assert await rig.journal.outcome("stuck") is None

        # The spike passes. No new step is signed while the stuck one could still be mined
        # (it would run outside its plan, or the new one wait behind it): resolving it comes
        # first. anvil dropped the underpriced transaction, so a same-nonce no-op priced under
        # the cap takes the nonce; the stuck step can never run, and the new one takes nonce + 1.
        await miner.pin(calm)
        assert await _next_base_fee(w3) < cap
        resolution = await executor.resolve("stuck")
        assert resolution.fate is StepFate.CANCELLED
        assert resolution.nonce == nonce
        later = await executor.send(request, "after-the-spike")
        assert later.nonce == nonce + 1
        assert await _mined_nonce(rig) == nonce + 2

    # Sending the stuck step again never signs it anew: its nonce is gone.
    with pytest.raises(NonceConflict):
        await rig.make_executor(gas_cap_wei=cap).send(request, "stuck")
    assert await rig.journal.attempts("stuck") == (attempt,)
    assert await _mined_nonce(rig) == nonce + 2
    answer = await w3.provider.make_request("eth_getTransactionReceipt", [attempt.tx_hash])  # type: ignore[arg-type]
    assert answer.get("result") is None


async def test_a_base_fee_that_stays_above_the_cap_is_reported_without_a_futile_replacement(
    anvil_rig: Rig,
) -> None:
    rig, w3 = anvil_rig, anvil_rig.chain.w3
    executor = rig.make_executor(replace_after_blocks=3)  # the default cap: 100 gwei
    request = await _approve(rig)
    nonce = await _mined_nonce(rig)
    async with mining(w3, base_fee=150 * GWEI):
        with pytest.raises(StuckTransaction) as stuck:
            await executor.send(request, "spiked")
    (attempt,) = await rig.journal.attempts("spiked")  # no replacement signed at all
    assert stuck.value.tx_hash == attempt.tx_hash
    assert "above the gas cap of 100.00 gwei" in stuck.value.reason
    assert await _mined_nonce(rig) == nonce


async def test_the_receipt_waits_for_the_configured_confirmations(anvil_rig: Rig) -> None:
    rig, w3 = anvil_rig, anvil_rig.chain.w3
    executor = rig.make_executor(confirmations=3)
    async with mining(w3):
        receipt = await executor.send(await _approve(rig), "confirmed")
        assert await w3.eth.block_number >= receipt.block_number + 2


async def test_no_receipt_in_time_is_stuck_and_a_later_reconcile_finds_it_mined(
    anvil_rig: Rig,
) -> None:
    rig, w3 = anvil_rig, anvil_rig.chain.w3
    executor = rig.make_executor(receipt_timeout_seconds=0.5, replace_after_blocks=3)
    nonce = await _mined_nonce(rig)
    await _rpc(w3, "evm_setAutomine", False)  # and no miner: no block at all
    with pytest.raises(StuckTransaction) as stuck:
        await executor.send(await _approve(rig), "slow")
    assert "no receipt" in stuck.value.reason
    (attempt,) = await rig.journal.attempts("slow")
    assert await rig.make_executor().reconcile("slow") is None  # still pending: nothing sent
    await _rpc(w3, "evm_mine")  # the node finally mines the very transaction recorded
    await _rpc(w3, "evm_setAutomine", True)
    reconciled = await rig.make_executor().reconcile("slow")
    assert reconciled is not None
    assert (reconciled.tx_hash, reconciled.nonce) == (attempt.tx_hash, nonce)
    assert await _mined_nonce(rig) == nonce + 1
