"""The ManualMvrvStore port over any UnitOfWork (SQL or in-memory): each call is its own
short unit of work, so the market adapter holds no session open."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from application.ports.persistence import UnitOfWorkFactory


class UnitOfWorkManualMvrv:
    """Reads and writes the operator's manual MVRV Z value through units of work."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
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
