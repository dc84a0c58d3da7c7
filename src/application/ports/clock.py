"""Time and identity, passed in so that use cases stay deterministic under test."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the current time, timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time."""
        ...


class IdGenerator(Protocol):
    """Makes unique identifiers for decisions, plans and transactions."""

    def new_id(self, prefix: str) -> str:
        """A new unique id starting with `prefix`."""
        ...
