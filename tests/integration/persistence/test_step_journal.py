"""The SQL step journal passes the StepJournal contract on SQLite and PostgreSQL."""

from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.journal import SqlStepJournal
from tests.contracts.step_journal import OpenJournal, StepJournalContract


class TestSqliteStepJournal(StepJournalContract):
    @pytest.fixture
    def open_journal(self, sqlite_engine: AsyncEngine) -> OpenJournal:
        return partial(SqlStepJournal, sqlite_engine)


@pytest.mark.postgres
class TestPostgresStepJournal(StepJournalContract):
    @pytest.fixture
    def open_journal(self, pg_engine: AsyncEngine) -> OpenJournal:
        return partial(SqlStepJournal, pg_engine)
