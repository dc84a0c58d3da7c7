"""The real clock and id generator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class SystemClock:
    """The Clock port over the system clock, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class UuidIds:
    """The IdGenerator port: `<prefix>-<uuid4 hex>`, unique across processes and restarts."""

    def new_id(self, prefix: str) -> str:
        """A new id such as `dec-3f2a...`."""
        return f"{prefix}-{uuid.uuid4().hex}"
