"""The StepJournal contract: the in-memory journal (unit tests) and the SQL one on SQLite and
PostgreSQL (integration tests) must all pass it.

A subclass provides `open_journal(chain_instance)`: a journal for that chain instance over
records shared by every journal it opened (one database), as service restarts on a new dev
chain see them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from application.ports.chain import BroadcastAttempt, SendReceipt, StepJournal

OpenJournal = Callable[[str], StepJournal]

CHAIN = 131277322940537
SENDER = "0xAb610e955c7ABB9CEBa16b1ab6831bA60439A888"
OLD = "0x" + "0a" * 32
NEW = "0x" + "0b" * 32
T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def attempt(step_id: str, nonce: int, *, n: int = 0, chain_id: int = CHAIN) -> BroadcastAttempt:
    return BroadcastAttempt(
        step_id=step_id,
        chain_id=chain_id,
        sender=SENDER,
        nonce=nonce,
        tx_hash=f"0x{nonce:02x}{n:02x}" + "cd" * 30,
        raw_transaction="0x02f8",
        max_fee_per_gas=2_000_000_000,
        max_priority_fee_per_gas=1_000_000_000,
        gas_limit=100_000,
        gas_estimated=80_000,
        attempt=n,
        recorded_at=T0 + timedelta(seconds=nonce),
    )


def receipt(nonce: int) -> SendReceipt:
    return SendReceipt(
        tx_hash=f"0x{nonce:02x}00" + "cd" * 30,
        nonce=nonce,
        success=True,
        gas_estimated=80_000,
        gas_used=70_000,
        effective_gas_price=1_500_000_000,
        block_number=10 + nonce,
    )


class StepJournalContract:
    @pytest.fixture
    def open_journal(self) -> OpenJournal:
        raise NotImplementedError

    async def test_an_attempt_is_stamped_with_the_chain_instance_it_was_signed_for(
        self, open_journal: OpenJournal
    ) -> None:
        journal = open_journal(OLD)
        await journal.record_attempt(attempt("p:0", 0))
        (stored,) = await journal.attempts("p:0")
        assert stored.chain_instance == OLD
        assert stored.nonce == 0

    async def test_the_next_nonce_and_unfinished_steps_come_only_from_the_connected_chain(
        self, open_journal: OpenJournal
    ) -> None:
        old = open_journal(OLD)
        for nonce in range(10):
            await old.record_attempt(attempt(f"seed:{nonce}", nonce))
            if nonce < 9:
                await old.record_outcome(f"seed:{nonce}", receipt(nonce))
        assert await old.highest_nonce(CHAIN, SENDER) == 9
        assert [a.step_id for a in await old.unfinished(CHAIN, SENDER)] == ["seed:9"]

        new = open_journal(NEW)
        assert await new.highest_nonce(CHAIN, SENDER) is None
        assert await new.unfinished(CHAIN, SENDER) == ()
        await new.record_attempt(attempt("restore:0", 0))
        assert await new.highest_nonce(CHAIN, SENDER) == 0
        assert [a.step_id for a in await new.unfinished(CHAIN, SENDER)] == ["restore:0"]

    async def test_steps_of_a_vanished_chain_are_reported_until_settled(
        self, open_journal: OpenJournal
    ) -> None:
        old = open_journal(OLD)
        await old.record_attempt(attempt("done:0", 0))
        await old.record_outcome("done:0", receipt(0))
        await old.record_attempt(attempt("sent:1", 1))
        await old.record_attempt(attempt("sent:1", 1, n=1))
        await old.record_attempt(attempt("other-chain:0", 0, chain_id=1))
        assert await old.vanished(CHAIN) == ()

        new = open_journal(NEW)
        (gone,) = await new.vanished(CHAIN)
        assert (gone.step_id, gone.attempt, gone.chain_instance) == ("sent:1", 1, OLD)
        await new.settle_vanished("sent:1", T0 + timedelta(hours=1))
        assert await new.vanished(CHAIN) == ()
        assert len(await new.attempts("sent:1")) == 2  # the history stays
