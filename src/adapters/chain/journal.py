"""An in-memory StepJournal: the engine persists the same records in its database.

It behaves like the durable one (ordering, outcomes, highest nonce), so executor tests, and
a restart simulated by building a new executor over the same journal, exercise real logic.
"""

from __future__ import annotations

from application.ports.chain import BroadcastAttempt, SendReceipt


class InMemoryStepJournal:
    """Attempts and outcomes kept in dictionaries."""

    def __init__(self) -> None:
        self._attempts: dict[str, list[BroadcastAttempt]] = {}
        self._outcomes: dict[str, SendReceipt] = {}

    async def attempts(self, step_id: str) -> tuple[BroadcastAttempt, ...]:
        """Every attempt recorded for a step, oldest first."""
        return tuple(self._attempts.get(step_id, ()))

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        """Persist a signed attempt (before broadcast).

        Raises:
            ValueError: the attempt's nonce differs from the step's first attempt.
        """
        existing = self._attempts.setdefault(attempt.step_id, [])
        if existing and existing[0].nonce != attempt.nonce:
            raise ValueError("a step's attempts must share one nonce")
        existing.append(attempt)

    async def record_outcome(self, step_id: str, receipt: SendReceipt) -> None:
        """Persist the mined outcome of a step."""
        self._outcomes[step_id] = receipt

    async def outcome(self, step_id: str) -> SendReceipt | None:
        """The recorded outcome of a step, if any."""
        return self._outcomes.get(step_id)

    async def unfinished(self, chain_id: int, sender: str) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every step of `sender` on `chain_id` with no outcome."""
        return tuple(
            attempts[-1]
            for step_id, attempts in self._attempts.items()
            if step_id not in self._outcomes
            and attempts[-1].chain_id == chain_id
            and attempts[-1].sender.lower() == sender.lower()
        )

    async def highest_nonce(self, chain_id: int, sender: str) -> int | None:
        """The highest nonce recorded for `sender` on `chain_id`."""
        nonces = [
            a.nonce
            for attempts in self._attempts.values()
            for a in attempts
            if a.chain_id == chain_id and a.sender.lower() == sender.lower()
        ]
        return max(nonces) if nonces else None
