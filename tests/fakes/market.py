"""Market fakes: the recorded payload shapes, an in-memory manual MVRV store, a movable clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from application.errors import TransientError

PAYLOADS = Path(__file__).parent / "market_payloads"


def payload_text(name: str) -> str:
    """A recorded payload file's text (copied from the shared reference payloads)."""
    return (PAYLOADS / f"{name}.json").read_text(encoding="utf-8")


def payload(name: str) -> Any:
    """A recorded payload, decoded (numbers as Decimal)."""
    return json.loads(payload_text(name), parse_float=Decimal)


class MovableClock:
    """A Clock that starts at a given (default: real) time and moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class InMemoryManualMvrv:
    """ManualMvrvStore in memory; `down` makes it fail like an unreachable database."""

    def __init__(self) -> None:
        self.values: list[tuple[Decimal, datetime, str]] = []
        self.down = False

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        if self.down:
            raise TransientError("database memory://: unreachable")
        self.values.append((value, at, set_by))

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        if self.down:
            raise TransientError("database memory://: unreachable")
        if not self.values:
            return None
        value, at, _ = max(self.values, key=lambda v: v[1])
        return value, at
