"""The in-memory step journal passes the StepJournal contract."""

from __future__ import annotations

import pytest

from adapters.chain.journal import InMemoryStepJournal
from tests.contracts.step_journal import OpenJournal, StepJournalContract


class TestInMemoryStepJournal(StepJournalContract):
    @pytest.fixture
    def open_journal(self) -> OpenJournal:
        shared = InMemoryStepJournal()
        return shared.reopen
