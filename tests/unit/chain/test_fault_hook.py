"""The crash-injection hook: off unless set, kills at exactly the named boundary."""

from __future__ import annotations

import pytest

from adapters.faults import FaultSpec, KillAt
from application.ports.faults import FaultPoint
from entrypoints.settings.service import ServiceSettings


def test_the_hook_is_off_unless_treasury_fault_at_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREASURY_FAULT_AT", raising=False)
    assert ServiceSettings().fault_spec is None


def test_treasury_fault_at_names_a_boundary_and_an_optional_occurrence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_FAULT_AT", "after_sign@2")
    assert ServiceSettings().fault_spec == FaultSpec(FaultPoint.AFTER_SIGN, 2)


def test_an_unknown_boundary_is_refused_at_start_up_with_the_known_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_FAULT_AT", "after_lunch")
    with pytest.raises(ValueError, match="after_intent, mid_simulation"):
        ServiceSettings()


@pytest.mark.parametrize("text", ["after_sign@0", "after_sign@x"])
def test_a_bad_occurrence_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"occurrence|invalid literal"):
        FaultSpec.parse(text)


def test_kill_at_fires_only_at_the_chosen_occurrence_of_the_chosen_boundary() -> None:
    killed: list[int] = []
    hook = KillAt(FaultSpec(FaultPoint.AFTER_RECEIPT, 2), kill=lambda: killed.append(1))
    hook.reach(FaultPoint.AFTER_SIGN)
    hook.reach(FaultPoint.AFTER_RECEIPT)
    assert killed == []
    hook.reach(FaultPoint.AFTER_SIGN)
    hook.reach(FaultPoint.AFTER_RECEIPT)
    assert killed == [1]
    hook.reach(FaultPoint.AFTER_RECEIPT)
    assert killed == [1]
