"""Following a broadcast step to its confirmed receipt, replacing it while it is stuck.

After `TREASURY_REPLACE_AFTER_BLOCKS` blocks without a receipt the step is signed again with
the same nonce and a fee bumped under the gas cap (`fees.replacement_fees`), simulated again,
recorded, then broadcast; whichever attempt is mined becomes the outcome. A node that already
has the nonce is answered from the chain at once: the step's own receipt, or `NonceConflict`.
A step resumed after a restart is followed the same way, its recorded bytes sent again when the
node never got them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

from adapters.chain import fees
from adapters.chain.attempts import AttemptLog, AttemptTerms
from adapters.chain.rpc import NodeClient
from application.ports.chain import (
    BroadcastAttempt,
    BundleSimulation,
    FeeQuote,
    NonceAlreadyUsed,
    NonceConflict,
    SendReceipt,
    SimulationFailed,
    StepJournal,
    StuckTransaction,
    TransactionRequest,
    TransactionReverted,
)

logger = logging.getLogger(__name__)


class StepFollower:
    """Broadcasts, follows, replaces and resumes the attempts of one signer's steps."""

    def __init__(
        self,
        node: NodeClient,
        attempts: AttemptLog,
        journal: StepJournal,
        *,
        quote_fees: Callable[[], Awaitable[FeeQuote]],
        simulate: Callable[[tuple[TransactionRequest, ...]], Awaitable[BundleSimulation]],
        gas_cap_wei: int,
        fee_bump: Decimal,
        confirmations: int,
        timeout_seconds: float,
        poll_interval_seconds: float,
        replace_after_blocks: int,
    ) -> None:
        self._node = node
        self._attempts = attempts
        self._journal = journal
        self._quote_fees = quote_fees
        self._simulate = simulate
        self._cap = gas_cap_wei
        self._bump = fee_bump
        self._confirmations = confirmations
        self._timeout = timeout_seconds
        self._poll = poll_interval_seconds
        self._replace_after = replace_after_blocks

    async def broadcast(
        self, step_id: str, request: TransactionRequest, attempts: list[BroadcastAttempt]
    ) -> SendReceipt | None:
        """Broadcast the latest attempt; when the node already has its nonce, settle the step
        from the chain at once (its receipt, or NonceConflict) instead of retrying.

        Returns:
            None when the broadcast went through (follow it), else the step's receipt.
        """
        try:
            await self._attempts.broadcast(attempts[-1])
        except NonceAlreadyUsed:
            found = await self._attempts.find_mined(attempts)
            if found is None and await self._attempts.mined_nonce() > attempts[-1].nonce:
                found = await self._attempts.find_mined(attempts)
                if found is None:
                    raise NonceConflict(step_id, attempts[-1].nonce) from None
            if found is not None:
                return await self._attempts.finish(step_id, attempts, found)
            # "already known": the node holds this very transaction; follow it.
            return await self.follow(step_id, request, attempts)
        return None

    async def follow(
        self, step_id: str, request: TransactionRequest, attempts: list[BroadcastAttempt]
    ) -> SendReceipt:
        """Wait for a mined attempt with enough confirmations, replacing a stuck one.

        Raises:
            TransactionReverted: mined but reverted.
            StuckTransaction: not mined in time and not replaceable under the cap.
            NonceConflict: the step's nonce was used by another transaction.
            RpcUnavailable: the node did not answer.
        """
        deadline = time.monotonic() + self._timeout
        last_broadcast_block = await self._node.block_number()
        while True:
            found = await self._attempts.find_mined(attempts)
            if found is not None:
                _, receipt = found
                confirmed_at = int(receipt["blockNumber"]) + self._confirmations - 1
                if await self._node.block_number() >= confirmed_at:
                    return await self._attempts.finish(step_id, attempts, found)
            else:
                current = attempts[-1]
                if await self._attempts.mined_nonce() > current.nonce:
                    # Mined between our two reads, or another transaction took the nonce.
                    found = await self._attempts.find_mined(attempts)
                    if found is None:
                        raise NonceConflict(step_id, current.nonce)
                    continue
                block = await self._node.block_number()
                if block - last_broadcast_block >= self._replace_after:
                    attempts.append(await self._replace(step_id, request, current))
                    last_broadcast_block = block
            if time.monotonic() > deadline:
                raise StuckTransaction(
                    step_id,
                    attempts[-1].nonce,
                    attempts[-1].tx_hash,
                    f"no receipt with {self._confirmations} confirmation(s) "
                    f"within {self._timeout:.0f} s",
                )
            await asyncio.sleep(self._poll)

    async def _replace(
        self, step_id: str, request: TransactionRequest, current: BroadcastAttempt
    ) -> BroadcastAttempt:
        quote = await self._quote_fees()
        try:
            price = fees.replacement_fees(
                current.max_fee_per_gas,
                current.max_priority_fee_per_gas,
                quote,
                bump=self._bump,
                cap=self._cap,
            )
        except fees.NoFeeUnderCap as exc:
            logger.warning(
                "transaction stuck and the gas cap forbids a higher fee",
                extra={
                    "step_id": step_id,
                    "nonce": current.nonce,
                    "tx_hash": current.tx_hash,
                    "reason": str(exc),
                },
            )
            raise StuckTransaction(
                step_id,
                current.nonce,
                current.tx_hash,
                f"not mined after {self._replace_after} blocks and {exc}",
            ) from None
        simulation = (await self._simulate((request,))).steps[0]
        if not simulation.passed:
            raise SimulationFailed(simulation.failure or "simulation failed", request.description)
        terms = AttemptTerms.replacing(current, price)
        attempt = await self._attempts.sign_step(step_id, request, terms)
        logger.info(
            "replacing a stuck transaction",
            extra={"step_id": step_id, "replaces": current.tx_hash, "tx_hash": attempt.tx_hash},
        )
        # The node may answer that an earlier attempt was just mined (or the nonce taken):
        # `follow` finds out which.
        with contextlib.suppress(NonceAlreadyUsed):
            await self._attempts.broadcast(attempt)
        return attempt

    async def resume(
        self, step_id: str, request: TransactionRequest, attempts: Sequence[BroadcastAttempt]
    ) -> SendReceipt:
        """Carry on with a step the journal already has: never sign it anew.

        Raises:
            TransactionReverted: its recorded or mined outcome reverted.
            NonceConflict, StuckTransaction, RpcUnavailable: as for `follow`.
        """
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            if not outcome.success:
                raise TransactionReverted(step_id, outcome.tx_hash, outcome)
            return outcome
        found = await self._attempts.find_mined(attempts)
        if found is None:
            latest = attempts[-1]
            if await self._attempts.mined_nonce() > latest.nonce:
                found = await self._attempts.find_mined(attempts)
                if found is None:
                    raise NonceConflict(step_id, latest.nonce)
            elif not await self._node.knows(latest.tx_hash):
                # Signed and recorded, but the broadcast never happened (or the node forgot it):
                # send the very same bytes, so the hash and nonce stay the ones recorded.
                settled = await self.broadcast(step_id, request, list(attempts))
                if settled is not None:
                    return settled
        return await self.follow(step_id, request, list(attempts))

    async def reconcile(self, step_id: str) -> SendReceipt | None:
        """The step's outcome if one of its attempts was mined, else None; sends nothing.

        Raises:
            TransactionReverted: the mined transaction reverted.
            RpcUnavailable: the node did not answer.
        """
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            return outcome
        attempts = await self._journal.attempts(step_id)
        if not attempts:
            return None
        found = await self._attempts.find_mined(attempts)
        if found is None:
            return None
        return await self._attempts.finish(step_id, attempts, found)
