"""The market-data port and the health report each source gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from domain.market import MarketData


class SourceStatus(StrEnum):
    """A source's health."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceHealth:
    """One market source's health for `/health`."""

    source: str
    status: SourceStatus
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None = None


class MarketDataSource(Protocol):
    """Reads MarketData: concurrent, cached, honest about what it could not fetch."""

    async def fetch(self) -> MarketData:
        """Current market data; fields whose sources failed are None or flagged stale.

        Raises:
            MarketDataUnavailable: no field at all could be produced.
        """
        ...

    async def health(self) -> list[SourceHealth]:
        """Health of every source behind this port."""
        ...


class ManualMvrvStore(Protocol):
    """Where an operator's manual MVRV Z value is kept (the spec's fallback)."""

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        """Store a manual MVRV Z value with its time."""
        ...

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        """The latest manual value and when it was set, if any."""
        ...
