"""The MVRV ladder and its ratchet, at and around every rung."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.errors import InvalidValue, NaiveDatetime
from domain.market import MarketPhase
from domain.phases import classify_phase
from domain.tactical import RatchetState, SellRung, TacticalLadder, tactical_exposure

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _exposure(
    mvrv: Decimal | None, state: RatchetState | None = None
) -> tuple[Decimal, RatchetState]:
    state = state or RatchetState()
    phase = classify_phase(mvrv, 50, D("0.0001"))
    result, new_state = tactical_exposure(mvrv, phase, state, NOW)
    return result.exposure, new_state


@pytest.mark.parametrize(
    ("mvrv", "exposure"),
    [
        pytest.param(D("-0.5"), D("1"), id="accumulation-full"),
        pytest.param(D("-0.0001"), D("1"), id="just-below-0-full"),
        pytest.param(D("0"), D("0.6"), id="at-0-normal"),
        pytest.param(D("3.5"), D("0.6"), id="at-3.5-nothing-sold"),
        pytest.param(D("3.5001"), D("0.450"), id="above-3.5-sell-25pct"),
        pytest.param(D("5"), D("0.450"), id="at-5-still-25pct"),
        pytest.param(D("5.01"), D("0.30"), id="above-5-sell-50pct"),
        pytest.param(D("7"), D("0.30"), id="at-7-still-50pct"),
        pytest.param(D("7.01"), D("0.198"), id="above-7-sell-67pct"),
        pytest.param(D("9"), D("0.198"), id="at-9-still-67pct"),
        pytest.param(D("9.01"), D("0"), id="above-9-exit"),
    ],
)
def test_ladder_exposure_at_each_threshold(mvrv: Decimal, exposure: Decimal) -> None:
    got, _ = _exposure(mvrv)
    assert got == exposure


def test_ratchet_does_not_buy_back_while_mvrv_falls() -> None:
    state = RatchetState()
    path = [D("4"), D("6"), D("7.5"), D("6"), D("4"), D("2"), D("0.5")]
    exposures = []
    for mvrv in path:
        exposure, state = _exposure(mvrv, state)
        exposures.append(exposure)
    assert exposures == [
        D("0.450"),
        D("0.30"),
        D("0.198"),
        D("0.198"),
        D("0.198"),
        D("0.198"),
        D("0.198"),
    ]
    assert state.sold_fraction == D("0.67")


def test_ratchet_resets_when_the_phase_returns_to_accumulation() -> None:
    state = RatchetState(sold_fraction=D("0.67"))
    exposure, state = _exposure(D("-0.2"), state)
    assert exposure == 1
    assert state.sold_fraction == 0
    exposure, state = _exposure(D("1"), state)
    assert exposure == D("0.6")


def test_unknown_mvrv_holds_the_ratchet_and_never_buys() -> None:
    state = RatchetState(sold_fraction=D("0.5"), last_mvrv_z_score=D("5.5"))
    result, new_state = tactical_exposure(None, MarketPhase.EUPHORIA, state, NOW)
    assert result.exposure == D("0.30")
    assert result.sold_fraction == D("0.5")
    assert new_state.last_mvrv_z_score == D("5.5")
    assert new_state.updated_at == NOW


def test_ratchet_state_records_what_happened() -> None:
    _, state = _exposure(D("5.2"))
    assert state.last_mvrv_z_score == D("5.2")
    assert state.last_phase is MarketPhase.TOP
    assert state.updated_at == NOW


def test_ladder_validates_its_rungs() -> None:
    with pytest.raises(InvalidValue):
        TacticalLadder(
            rungs=(
                SellRung(mvrv_above=D(5), sell_fraction=D("0.5")),
                SellRung(mvrv_above=D(4), sell_fraction=D("0.6")),
            )
        )
    with pytest.raises(InvalidValue):
        TacticalLadder(
            rungs=(
                SellRung(mvrv_above=D(4), sell_fraction=D("0.6")),
                SellRung(mvrv_above=D(5), sell_fraction=D("0.5")),
            )
        )
    assert TacticalLadder().thresholds() == (D(0), D("3.5"), D(5), D(7), D(9))


def test_tactical_exposure_needs_an_aware_clock() -> None:
    with pytest.raises(NaiveDatetime):
        tactical_exposure(D(1), MarketPhase.EUPHORIA, RatchetState(), datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(NaiveDatetime):
        RatchetState(updated_at=datetime(2026, 1, 1))  # noqa: DTZ001
