"""The in-memory unit of work passes the persistence contract."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.persistence.errors import DatabaseUnavailable
from adapters.persistence.memory import InMemoryDatabase, InMemoryUnitOfWorkFactory
from tests.contracts.persistence import Tamper, UnitOfWorkContract


class TestInMemoryUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()

    @pytest.fixture
    def tamper_audit(self, uow_factory: InMemoryUnitOfWorkFactory) -> Tamper:
        async def tamper(seq: int) -> None:
            audit = uow_factory.database.committed.audit
            index = next(i for i, e in enumerate(audit) if e.seq == seq)
            audit[index] = replace(audit[index], payload={"i": 999})

        return tamper

    async def test_a_unit_cannot_be_used_outside_its_block(
        self, uow_factory: InMemoryUnitOfWorkFactory
    ) -> None:
        uow = uow_factory()
        with pytest.raises(RuntimeError, match="async with"):
            await uow.commit()


async def test_a_unit_nested_in_another_fails_as_busy_instead_of_hanging() -> None:
    factory = InMemoryUnitOfWorkFactory(InMemoryDatabase(busy_timeout_s=0.05))
    async with factory():
        with pytest.raises(DatabaseUnavailable, match="busy"):
            await factory().__aenter__()
