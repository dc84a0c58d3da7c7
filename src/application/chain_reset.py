"""Settle the steps of a chain that no longer exists, at start-up, before anything is sent.

A dev chain started again keeps its chain id but is a new chain (a new genesis block): what was
signed for the old one can never be mined, and its nonces mean nothing on the new one. Each
step the journal holds for another instance of the connected chain id, with no outcome, is
settled here: its execution step (if the plan recorded one) becomes FAILED with the reason
"chain reset", an `execution.chain_reset` audit entry says which chain, nonce and hash it was,
and the journal marks it settled so it is never rebroadcast nor reported again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from application.engine import plan_of_batch
from application.errors import NotFound
from application.ports.chain import StepJournal
from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from domain.execution import StepStatus

log = logging.getLogger(__name__)

ACTOR = "engine"
ACTION = "execution.chain_reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainResetReport:
    """Which journal steps were settled as "chain reset"."""

    settled: tuple[str, ...]


class SettleChainReset:
    """Settle as "chain reset" every unfinished step signed for a vanished chain instance."""

    def __init__(
        self, *, uow_factory: UnitOfWorkFactory, journal: StepJournal, clock: Clock, chain_id: int
    ) -> None:
        self._uow = uow_factory
        self._journal = journal
        self._clock = clock
        self._chain_id = chain_id

    async def execute(self) -> ChainResetReport:
        """Settle the vanished steps (see module doc); sends nothing."""
        settled: list[str] = []
        for attempt in await self._journal.vanished(self._chain_id):
            now = self._clock.now()
            reason = (
                f"chain reset: signed (nonce {attempt.nonce}, {attempt.tx_hash}) for a chain "
                f"{self._chain_id} that no longer exists (genesis "
                f"{attempt.chain_instance or 'unrecorded'}); never rebroadcast"
            )
            async with self._uow() as uow:
                try:
                    steps = [await uow.executions.get(attempt.step_id)]
                except NotFound:
                    # A plan sent as one batch (Safe custody) is journaled under the batch id:
                    # its unfinished steps are the batch's.
                    plan = await uow.executions.by_plan(plan_of_batch(attempt.step_id))
                    steps = [s for s in plan if not s.finished]
                status = None
                for step in steps:
                    if step.finished:
                        continue
                    failed = step.advance(
                        StepStatus.FAILED,
                        now,
                        nonce=attempt.nonce,
                        tx_hash=attempt.tx_hash,
                        error=reason,
                    )
                    await uow.executions.update(failed)
                    status = failed.status.value
                await uow.audit.append(
                    ACTOR,
                    ACTION,
                    "transaction",
                    attempt.step_id,
                    {
                        "chain_id": self._chain_id,
                        "chain_instance": attempt.chain_instance,
                        "nonce": attempt.nonce,
                        "tx_hash": attempt.tx_hash,
                        "status": status,
                        "reason": reason,
                    },
                    at=now,
                )
                await uow.commit()
            await self._journal.settle_vanished(attempt.step_id, now)
            settled.append(attempt.step_id)
        if settled:
            log.warning(
                "steps of a chain that no longer exists settled as chain reset",
                extra={"chain_id": self._chain_id, "steps": settled},
            )
        return ChainResetReport(settled=tuple(settled))
