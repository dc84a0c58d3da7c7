"""An in-memory StepJournal: the engine persists the same records in its database.

It behaves like the durable one (ordering, outcomes, highest nonce, chain instances), so
executor tests, and a restart simulated by building a new executor over the same journal,
exercise real logic. `reopen` gives a journal over the same records for another chain
instance, as a restart on a new dev chain does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from application.ports.chain import BroadcastAttempt, SendReceipt


class InMemoryStepJournal:
    """Attempts and outcomes kept in dictionaries, for one chain instance."""

    def __init__(self, chain_instance: str = "") -> None:
        self._instance = chain_instance
        self._attempts: dict[str, list[BroadcastAttempt]] = {}
        self._outcomes: dict[str, SendReceipt] = {}
        self._settled: dict[str, datetime] = {}

    @property
    def chain_instance(self) -> str:
        """The genesis hash of the chain this journal serves ("" when unknown)."""
        return self._instance

    def reopen(self, chain_instance: str) -> InMemoryStepJournal:
        """A journal over the same records that serves another chain instance."""
        other = InMemoryStepJournal(chain_instance)
        other._attempts = self._attempts
        other._outcomes = self._outcomes
        other._settled = self._settled
        return other

    def _mine(self, attempt: BroadcastAttempt, chain_id: int, sender: str) -> bool:
        return (
            attempt.chain_id == chain_id
            and attempt.chain_instance == self._instance
            and attempt.sender.lower() == sender.lower()
        )

    async def attempts(self, step_id: str) -> tuple[BroadcastAttempt, ...]:
        """Every attempt recorded for a step, oldest first."""
        return tuple(self._attempts.get(step_id, ()))

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        """Persist a signed attempt (before broadcast), stamped with this chain instance.

        Raises:
            ValueError: the attempt's nonce differs from the step's first attempt.
        """
        existing = self._attempts.setdefault(attempt.step_id, [])
        if existing and existing[0].nonce != attempt.nonce:
            raise ValueError("a step's attempts must share one nonce")
        existing.append(replace(attempt, chain_instance=self._instance))

    async def record_outcome(self, step_id: str, receipt: SendReceipt) -> None:
        """Persist the mined outcome of a step."""
        self._outcomes[step_id] = receipt

    async def outcome(self, step_id: str) -> SendReceipt | None:
        """The recorded outcome of a step, if any."""
        return self._outcomes.get(step_id)

    async def unfinished(self, chain_id: int, sender: str) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every step of `sender` on `chain_id` (this instance) with no
        outcome."""
        return tuple(
            attempts[-1]
            for step_id, attempts in self._attempts.items()
            if step_id not in self._outcomes and self._mine(attempts[-1], chain_id, sender)
        )

    async def highest_nonce(self, chain_id: int, sender: str) -> int | None:
        """The highest nonce recorded for `sender` on `chain_id` (this instance)."""
        nonces = [
            a.nonce
            for attempts in self._attempts.values()
            for a in attempts
            if self._mine(a, chain_id, sender)
        ]
        return max(nonces) if nonces else None

    async def vanished(self, chain_id: int) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every unsettled step with no outcome signed for another
        instance of `chain_id`, oldest first."""
        found = [
            attempts[-1]
            for step_id, attempts in self._attempts.items()
            if step_id not in self._outcomes
            and step_id not in self._settled
            and attempts[-1].chain_id == chain_id
            and attempts[-1].chain_instance != self._instance
        ]
        return tuple(sorted(found, key=lambda a: a.recorded_at))

    async def settle_vanished(self, step_id: str, at: datetime) -> None:
        """Mark a vanished step settled."""
        self._settled[step_id] = at
