"""Unknown market data never moves the target, and only a crossing that changes the exposure
forces a rebalance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.market import MarketPhase
from domain.signals import generate_signal
from domain.tactical import RatchetState
from tests.unit.domain.builders import NOW, market

D = Decimal


def test_missing_mvrv_after_accumulation_does_not_cut_the_exposure_to_60_percent() -> None:
    cheap, ratchet = generate_signal(
        market(mvrv="-0.5", fng=20, funding="-0.0001"), RatchetState(), NOW
    )
    assert cheap.tactical_exposure == 1
    unknown, _ = generate_signal(market(mvrv=None, fng=20, funding="-0.0001"), ratchet, NOW)
    assert unknown.tactical_exposure == 1
    assert unknown.target_allocations == cheap.target_allocations


@pytest.mark.parametrize(
    ("mvrv", "fng", "funding"),
    [
        pytest.param("-0.5", 20, "-0.0001", id="accumulation"),
        pytest.param("2", 60, "0.0001", id="euphoria"),
        pytest.param("5.5", 80, "0.0003", id="top"),
        pytest.param("1", 20, "-0.0002", id="bear"),
    ],
)
def test_missing_mvrv_holds_the_last_known_targets(mvrv: str, fng: int, funding: str) -> None:
    known, ratchet = generate_signal(
        market(mvrv=mvrv, fng=fng, funding=funding), RatchetState(), NOW
    )
    for missing in ({"mvrv": None}, {"mvrv": None, "fng": None, "funding": None}):
        unknown, _ = generate_signal(
            market(**{"mvrv": mvrv, "fng": fng, "funding": funding, **missing}),  # type: ignore[arg-type]
            ratchet,
            NOW,
        )
        assert unknown.target_allocations == known.target_allocations
        assert not unknown.threshold_crossed


def test_mvrv_moving_from_0_to_half_does_not_force_a_rebalance() -> None:
    state = RatchetState(last_mvrv_z_score=D(0), last_phase=MarketPhase.EUPHORIA)
    signal, _ = generate_signal(market(mvrv="0.5"), state, NOW)
    assert signal.tactical_exposure == D("0.6")
    assert not signal.threshold_crossed
    assert "crossed" not in signal.trigger


def test_a_ratchet_that_holds_while_mvrv_falls_below_7_does_not_force_a_rebalance() -> None:
    state = RatchetState(
        sold_fraction=D("0.67"), last_mvrv_z_score=D("7.5"), last_phase=MarketPhase.TOP
    )
    signal, _ = generate_signal(market(mvrv="6.5", fng=80, funding="0.0003"), state, NOW)
    assert signal.tactical_exposure == D("0.6") * (1 - D("0.67"))
    assert not signal.threshold_crossed
    assert "fell to or below" not in signal.trigger


@pytest.mark.parametrize(
    ("before", "now", "sold"),
    [
        pytest.param("4.8", "5.2", "0.25", id="up-through-5"),
        pytest.param("0.2", "-0.1", "0.5", id="down-through-0-resets-the-ratchet"),
        pytest.param("-0.1", "0.1", "0", id="up-through-0-leaves-accumulation"),
    ],
)
def test_a_crossing_that_changes_the_exposure_still_forces_a_rebalance(
    before: str, now: str, sold: str
) -> None:
    state = RatchetState(
        sold_fraction=D(sold), last_mvrv_z_score=D(before), last_phase=MarketPhase.EUPHORIA
    )
    signal, _ = generate_signal(market(mvrv=now), state, NOW)
    assert signal.threshold_crossed
