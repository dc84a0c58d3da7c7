"""Settling what a crash left: signed steps with no outcome, each resolved for good.

A step signed but not known to be mined could still be mined later, outside its plan. Until it
is settled no new step is signed (`UnresolvedStep`). `StepResolver.resolve` settles one: its
receipt when one of its attempts is mined; else, while its nonce is free, a same-nonce no-op
(0 ETH to itself, recorded under `<step id>:cancel`) takes the nonce so that the step can never
run. It never sends the step itself.
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
    FeeQuote,
    NonceAlreadyUsed,
    StepFate,
    StepJournal,
    StepResolution,
    UnresolvedStep,
)

logger = logging.getLogger(__name__)

CANCEL_SUFFIX = ":cancel"
"""The journal records a step's cancellation (a same-nonce no-op) under `<step id>:cancel`."""

TRANSFER_GAS = 21_000


class StepResolver:
    """Finds and settles one signer's unsettled steps on one chain."""

    def __init__(
        self,
        node: NodeClient,
        attempts: AttemptLog,
        journal: StepJournal,
        *,
        chain_id: int,
        sender: str,
        quote_fees: Callable[[], Awaitable[FeeQuote]],
        gas_cap_wei: int,
        fee_bump: Decimal,
        timeout_seconds: float,
        poll_interval_seconds: float,
    ) -> None:
        self._node = node
        self._attempts = attempts
        self._journal = journal
        self._chain_id = chain_id
        self._sender = sender
        self._quote_fees = quote_fees
        self._cap = gas_cap_wei
        self._bump = fee_bump
        self._timeout = timeout_seconds
        self._poll = poll_interval_seconds

    async def require_no_unsettled_step(self, step_id: str) -> None:
        """Refuse to sign while another step's transaction could still be mined.

        Raises:
            UnresolvedStep: a recorded attempt of another step has no outcome and its nonce is
                not used yet: it would run outside its plan, or this step would wait behind it.
        """
        unfinished = [
            a
            for a in await self._journal.unfinished(self._chain_id, self._sender)
            if a.step_id != step_id
        ]
        if not unfinished:
            return
        mined_nonce = await self._attempts.mined_nonce()
        for attempt in sorted(unfinished, key=lambda a: a.nonce):
            if attempt.nonce >= mined_nonce:
                raise UnresolvedStep(attempt.step_id.removesuffix(CANCEL_SUFFIX), attempt.nonce)

    async def unresolved_steps(self) -> tuple[str, ...]:
        """Ids of steps with a signed attempt and neither an outcome nor a mined cancellation."""
        ids: list[str] = []
        for attempt in await self._journal.unfinished(self._chain_id, self._sender):
            step_id = attempt.step_id.removesuffix(CANCEL_SUFFIX)
            if step_id in ids:
                continue
            if attempt.step_id != step_id:
                if await self._journal.outcome(step_id) is not None:
                    continue  # its own transaction was mined; the cancellation never will be
            elif await self._journal.outcome(step_id + CANCEL_SUFFIX) is not None:
                continue  # cancelled
            ids.append(step_id)
        return tuple(ids)

    async def resolve(self, step_id: str) -> StepResolution:
        """Settle a step for good (see `StepFate`); the caller holds the send lock.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            return StepResolution(
                step_id=step_id, fate=StepFate.MINED, receipt=outcome, nonce=outcome.nonce
            )
        attempts = await self._journal.attempts(step_id)
        if not attempts:
            return StepResolution(step_id=step_id, fate=StepFate.NEVER_SIGNED)
        return await self._settle(step_id, attempts)

    async def _settle(self, step_id: str, attempts: Sequence[BroadcastAttempt]) -> StepResolution:
        """Wait for the step or its cancellation to be mined, cancelling it while it is not."""
        nonce = attempts[-1].nonce
        cancels = list(await self._journal.attempts(step_id + CANCEL_SUFFIX))
        deadline = time.monotonic() + self._timeout
        problem = ""
        while True:
            settled = await self._settled(step_id, attempts, cancels)
            if settled is None and await self._attempts.mined_nonce() > nonce:
                # Mined between our reads, or another transaction took the nonce.
                settled = await self._settled(step_id, attempts, cancels) or StepResolution(
                    step_id=step_id,
                    fate=StepFate.NONCE_TAKEN,
                    nonce=nonce,
                    detail=f"nonce {nonce} was used by a transaction this step never sent",
                )
            if settled is not None:
                return settled
            if not cancels:
                # Priced again each round: a fee spike that forbids it now may pass.
                cancel, problem = await self._cancel(step_id + CANCEL_SUFFIX, attempts[-1])
                if cancel is not None:
                    cancels.append(cancel)
            if time.monotonic() > deadline:
                return self._pending(step_id, nonce, cancels, problem)
            await asyncio.sleep(self._poll)

    def _pending(
        self, step_id: str, nonce: int, cancels: Sequence[BroadcastAttempt], problem: str
    ) -> StepResolution:
        """Still unsettled in time: why (the cap forbade a cancellation, or none was mined)."""
        return StepResolution(
            step_id=step_id,
            fate=StepFate.PENDING,
            nonce=nonce,
            cancel_hash=cancels[-1].tx_hash if cancels else None,
            detail=problem or f"the cancellation was not mined within {self._timeout:.0f} s",
        )

    async def _settled(
        self, step_id: str, attempts: Sequence[BroadcastAttempt], cancels: list[BroadcastAttempt]
    ) -> StepResolution | None:
        """The step's own mined attempt, or its mined cancellation, recorded; else None."""
        found = await self._attempts.find_mined(attempts)
        if found is not None:
            receipt = await self._attempts.record(step_id, attempts, found)
            return StepResolution(
                step_id=step_id, fate=StepFate.MINED, receipt=receipt, nonce=receipt.nonce
            )
        found = await self._attempts.find_mined(cancels) if cancels else None
        if found is not None:
            receipt = await self._attempts.record(step_id + CANCEL_SUFFIX, cancels, found)
            return StepResolution(
                step_id=step_id,
                fate=StepFate.CANCELLED,
                nonce=receipt.nonce,
                cancel_hash=receipt.tx_hash,
                detail=f"cancelled: nonce {receipt.nonce} taken by no-op {receipt.tx_hash}",
            )
        return None

    async def _cancel(
        self, cancel_id: str, latest: BroadcastAttempt
    ) -> tuple[BroadcastAttempt | None, str]:
        """Sign, record, then broadcast a no-op with the step's nonce, priced to replace it.

        Returns the recorded cancellation, or None and why it could not be priced under the cap.
        """
        quote = await self._quote_fees()
        least_fee = least_priority = 1
        if await self._node.knows(latest.tx_hash):
            # The node replaces a pooled transaction only with one dearer by the bump.
            least_fee = fees.bumped(latest.max_fee_per_gas, self._bump)
            least_priority = fees.bumped(latest.max_priority_fee_per_gas, self._bump)
        try:
            price = fees.cancellation_fees(
                quote, cap=self._cap, least_max_fee=least_fee, least_priority=least_priority
            )
        except fees.NoFeeUnderCap as exc:
            return None, f"a cancellation of nonce {latest.nonce} {exc}"
        terms = AttemptTerms(
            nonce=latest.nonce, gas_limit=TRANSFER_GAS, gas_estimated=TRANSFER_GAS, fees=price
        )
        # Recorded before broadcast, like every send.
        attempt = await self._attempts.sign_and_record(cancel_id, self._sender, "0x", 0, terms)
        logger.warning(
            "cancelling a signed step with a same-nonce no-op",
            extra={"step_id": cancel_id, "nonce": latest.nonce, "tx_hash": attempt.tx_hash},
        )
        # The step's own transaction (or another) may have taken the nonce: `_settled` tells.
        with contextlib.suppress(NonceAlreadyUsed):
            await self._attempts.broadcast(attempt)
        return attempt, ""
