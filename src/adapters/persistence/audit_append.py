"""Appending to the hash-chained audit log, shared by the in-memory and the SQL log.

Both seal the next entry after the head in the same way (`domain.audit.seal_entry`); they
differ only in how they read the head (the SQL log first takes the lock that serialises
writers) and where they keep the entry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime

from domain.audit import GENESIS_HASH, AuditEntry, seal_entry


class AppendsSealedEntries(ABC):
    """The `append` of the AuditLog port; a subclass reads the head and keeps the entry."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    @abstractmethod
    async def _head(self) -> tuple[int, str] | None:
        """The newest entry's seq and hash (None for an empty log), read so that no other
        writer can append after it before this transaction ends."""

    @abstractmethod
    async def _keep(self, entry: AuditEntry) -> None:
        """Store the sealed entry in this transaction."""

    async def append(
        self,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        payload: Mapping[str, object],
        *,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Seal and append an entry after the head (at `at`, else the clock's now)."""
        head = await self._head()
        after_seq, prev_hash = head if head is not None else (0, GENESIS_HASH)
        entry = seal_entry(
            after_seq=after_seq,
            prev_hash=prev_hash,
            at=at if at is not None else self._clock(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=payload,
        )
        await self._keep(entry)
        return entry
