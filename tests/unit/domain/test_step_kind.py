"""What an on-chain step does is a StepKind, stored as the same plain strings as before."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.ports.chain import StepKind as PortStepKind
from domain.errors import InvalidValue
from domain.execution import ExecutedTransaction, StepKind, StepStatus, moved_money

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def step(kind: StepKind | str, status: StepStatus = StepStatus.CONFIRMED) -> ExecutedTransaction:
    return ExecutedTransaction(
        id="t-1",
        plan_id="p",
        step_index=0,
        chain_id=1,
        kind=kind,  # type: ignore[arg-type]  # the strings older code and rows hold
        description="a step",
        status=status,
        amount_usd=Decimal(100),
        created_at=NOW,
        updated_at=NOW,
    )


def test_the_stored_names_of_the_step_kinds_do_not_change() -> None:
    # Rows written by earlier versions hold these strings; they must keep reading back.
    assert {k.value for k in StepKind} == {
        "approve",
        "deposit",
        "withdraw",
        "swap",
        "redeem",
        "transfer",
    }
    assert PortStepKind is StepKind


@pytest.mark.parametrize("kind", list(StepKind))
def test_a_step_kind_given_as_its_stored_string_becomes_the_enum(kind: StepKind) -> None:
    assert step(kind.value).kind is kind


def test_an_unknown_step_kind_is_refused() -> None:
    with pytest.raises(InvalidValue, match="kind"):
        step("aprove")


@given(st.lists(st.tuples(st.sampled_from(list(StepKind)), st.sampled_from(list(StepStatus)))))
def test_an_approval_is_never_a_trade(steps: list[tuple[StepKind, StepStatus]]) -> None:
    built = [step(kind, status) for kind, status in steps]
    trades = [s for s in built if s.kind is not StepKind.APPROVE]
    assert [s.is_trade for s in built] == [s in trades for s in built]
    assert moved_money(built) == any(s.status is StepStatus.CONFIRMED for s in trades)
