"""The ManualMvrvStore port over units of work (SQL or in-memory): each call is its own short
unit of work, so the market adapter holds no session open between fetches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self

from application.ports.market import ManualMvrvStore


class ManualMvrvUnit(Protocol):
    """The part of a unit of work this store needs."""

    @property
    def manual_mvrv(self) -> ManualMvrvStore:
        """The manual MVRV repository of the open unit of work."""
        ...

    async def commit(self) -> None:
        """Make the changes durable."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkManualMvrv:
    """Reads and writes the operator's manual MVRV Z value through units of work."""

    def __init__(self, uow: Callable[[], ManualMvrvUnit]) -> None:
        self._uow = uow

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        """Store a manual value with its time and who set it."""
        async with self._uow() as uow:
            await uow.manual_mvrv.set_manual_mvrv(value, at, set_by)
            await uow.commit()

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        """The newest manual value and when it was set."""
        async with self._uow() as uow:
            return await uow.manual_mvrv.get_manual_mvrv()
