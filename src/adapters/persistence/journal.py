"""The durable StepJournal: what the executor signs is on disk before it is broadcast.

Each write is its own committed transaction (SQLite: `BEGIN IMMEDIATE` plus `synchronous=FULL`;
PostgreSQL: a normal commit), so after a crash the engine finds every attempt it may have
broadcast and reconciles it with the chain instead of signing a second transaction.

A journal is opened for one chain instance (the connected chain's genesis block hash): it
stamps the attempts it records, and the next-nonce and rebroadcast queries see only that
instance, so a dev chain started again with the same chain id never inherits the old nonces.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence import tables as t
from application.ports.chain import BroadcastAttempt, SendReceipt


def _attempt(row: t.BroadcastAttemptRow) -> BroadcastAttempt:
    return BroadcastAttempt(
        step_id=row.step_id,
        chain_id=int(row.chain_id),
        sender=row.sender,
        nonce=int(row.nonce),
        tx_hash=row.tx_hash,
        raw_transaction=row.raw_transaction,
        max_fee_per_gas=int(row.max_fee_per_gas),
        max_priority_fee_per_gas=int(row.max_priority_fee_per_gas),
        gas_limit=int(row.gas_limit),
        gas_estimated=int(row.gas_estimated),
        attempt=int(row.attempt),
        recorded_at=row.recorded_at,
        chain_instance=row.chain_instance,
    )


class SqlStepJournal:
    """Attempts and outcomes in the `broadcast_attempts` and `step_outcomes` tables."""

    def __init__(self, engine: AsyncEngine, chain_instance: str = "") -> None:
        self._sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self._instance = chain_instance

    @property
    def chain_instance(self) -> str:
        """The genesis hash of the chain this journal serves ("" when unknown)."""
        return self._instance

    async def adopt_unlabelled(self, chain_id: int) -> int:
        """Stamp attempts on `chain_id` recorded before instances were kept with this
        instance; for a chain that outlives the service (a live node). Returns how many."""
        if not self._instance:
            return 0
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(t.BroadcastAttemptRow)
                .where(t.BroadcastAttemptRow.chain_id == chain_id)
                .where(t.BroadcastAttemptRow.chain_instance == "")
                .values(chain_instance=self._instance)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def attempts(self, step_id: str) -> tuple[BroadcastAttempt, ...]:
        """Every attempt recorded for a step, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(t.BroadcastAttemptRow)
                .where(t.BroadcastAttemptRow.step_id == step_id)
                .order_by(t.BroadcastAttemptRow.attempt)
            )
            return tuple(_attempt(r) for r in rows)

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        """Persist a signed attempt, committed before this returns (before broadcast).

        Raises:
            ValueError: the attempt's nonce differs from the step's first attempt.
        """
        async with self._sessions() as session, session.begin():
            first = await session.scalar(
                select(t.BroadcastAttemptRow)
                .where(t.BroadcastAttemptRow.step_id == attempt.step_id)
                .order_by(t.BroadcastAttemptRow.attempt)
                .limit(1)
            )
            if first is not None and int(first.nonce) != attempt.nonce:
                raise ValueError("a step's attempts must share one nonce")
            session.add(
                t.BroadcastAttemptRow(
                    step_id=attempt.step_id,
                    attempt=attempt.attempt,
                    chain_id=attempt.chain_id,
                    sender=attempt.sender,
                    nonce=attempt.nonce,
                    tx_hash=attempt.tx_hash,
                    raw_transaction=attempt.raw_transaction,
                    max_fee_per_gas=Decimal(attempt.max_fee_per_gas),
                    max_priority_fee_per_gas=Decimal(attempt.max_priority_fee_per_gas),
                    gas_limit=attempt.gas_limit,
                    gas_estimated=attempt.gas_estimated,
                    recorded_at=attempt.recorded_at,
                    chain_instance=self._instance,
                )
            )

    async def record_outcome(self, step_id: str, receipt: SendReceipt) -> None:
        """Persist the mined outcome of a step (replacing an earlier one)."""
        async with self._sessions() as session, session.begin():
            existing = await session.get(t.StepOutcomeRow, step_id)
            if existing is not None:
                await session.delete(existing)
                await session.flush()
            session.add(
                t.StepOutcomeRow(
                    step_id=step_id,
                    tx_hash=receipt.tx_hash,
                    nonce=receipt.nonce,
                    success=receipt.success,
                    gas_estimated=receipt.gas_estimated,
                    gas_used=receipt.gas_used,
                    effective_gas_price=Decimal(receipt.effective_gas_price),
                    block_number=receipt.block_number,
                    replaced_hashes=",".join(receipt.replaced_hashes),
                )
            )

    async def outcome(self, step_id: str) -> SendReceipt | None:
        """The recorded outcome of a step, if any."""
        async with self._sessions() as session:
            row = await session.get(t.StepOutcomeRow, step_id)
            if row is None:
                return None
            return SendReceipt(
                tx_hash=row.tx_hash,
                nonce=int(row.nonce),
                success=bool(row.success),
                gas_estimated=int(row.gas_estimated),
                gas_used=int(row.gas_used),
                effective_gas_price=int(row.effective_gas_price),
                block_number=int(row.block_number),
                replaced_hashes=tuple(h for h in row.replaced_hashes.split(",") if h),
            )

    async def unfinished(self, chain_id: int, sender: str) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every step of `sender` on `chain_id` (this instance) with no
        outcome."""
        latest = (
            select(t.BroadcastAttemptRow.step_id, func.max(t.BroadcastAttemptRow.attempt))
            .where(t.BroadcastAttemptRow.chain_id == chain_id)
            .where(t.BroadcastAttemptRow.chain_instance == self._instance)
            .where(func.lower(t.BroadcastAttemptRow.sender) == sender.lower())
            .where(t.BroadcastAttemptRow.step_id.not_in(select(t.StepOutcomeRow.step_id)))
            .group_by(t.BroadcastAttemptRow.step_id)
        )
        return tuple(sorted(await self._latest(latest), key=lambda a: a.nonce))

    async def _latest(self, keys_query: Select[str, int]) -> list[BroadcastAttempt]:
        async with self._sessions() as session:
            keys = (await session.execute(keys_query)).all()
            result: list[BroadcastAttempt] = []
            for step_id, attempt in keys:
                row = await session.get(t.BroadcastAttemptRow, (step_id, attempt))
                if row is not None:
                    result.append(_attempt(row))
            return result

    async def highest_nonce(self, chain_id: int, sender: str) -> int | None:
        """The highest nonce recorded for `sender` on `chain_id` (this instance)."""
        async with self._sessions() as session:
            value = await session.scalar(
                select(func.max(t.BroadcastAttemptRow.nonce))
                .where(t.BroadcastAttemptRow.chain_id == chain_id)
                .where(t.BroadcastAttemptRow.chain_instance == self._instance)
                .where(func.lower(t.BroadcastAttemptRow.sender) == sender.lower())
            )
            return None if value is None else int(value)

    async def vanished(self, chain_id: int) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every unsettled step with no outcome signed for another
        instance of `chain_id` (a chain that no longer exists), oldest first."""
        latest = (
            select(t.BroadcastAttemptRow.step_id, func.max(t.BroadcastAttemptRow.attempt))
            .where(t.BroadcastAttemptRow.chain_id == chain_id)
            .where(t.BroadcastAttemptRow.chain_instance != self._instance)
            .where(t.BroadcastAttemptRow.settled_at.is_(None))
            .where(t.BroadcastAttemptRow.step_id.not_in(select(t.StepOutcomeRow.step_id)))
            .group_by(t.BroadcastAttemptRow.step_id)
        )
        return tuple(sorted(await self._latest(latest), key=lambda a: a.recorded_at))

    async def settle_vanished(self, step_id: str, at: datetime) -> None:
        """Mark every attempt of a vanished step settled (committed before this returns)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(t.BroadcastAttemptRow)
                .where(t.BroadcastAttemptRow.step_id == step_id)
                .values(settled_at=at)
            )
