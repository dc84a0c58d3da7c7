"""A step's kind is written to its row as the same plain string earlier versions wrote."""

from __future__ import annotations

import pytest

from adapters.persistence.codec import execution_values
from domain.execution import StepKind
from tests.unit.domain.test_step_kind import step


@pytest.mark.parametrize("kind", list(StepKind))
def test_the_kind_column_holds_the_plain_string(kind: StepKind) -> None:
    column = execution_values(step(kind))["kind"]
    assert column == kind.value
    assert type(column) is str
