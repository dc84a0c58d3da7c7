"""Market phase detection at and around every threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.market import MarketPhase
from domain.phases import PhaseThresholds, classify_phase

D = Decimal


@pytest.mark.parametrize(
    ("mvrv", "fng", "funding", "phase"),
    [
        pytest.param(D("-0.01"), 80, D("0.001"), MarketPhase.ACCUMULATION, id="just-below-0"),
        pytest.param(
            D("0"), 50, D("0.0001"), MarketPhase.EUPHORIA, id="exactly-0-is-not-accumulation"
        ),
        pytest.param(D("3.5"), 50, D("0.0001"), MarketPhase.EUPHORIA, id="exactly-3.5-is-not-top"),
        pytest.param(D("3.51"), 10, D("-0.001"), MarketPhase.TOP, id="just-above-3.5-is-top"),
        pytest.param(D("2"), 25, D("-0.0001"), MarketPhase.BEAR, id="fear-25-negative-funding"),
        pytest.param(D("2"), 26, D("-0.0001"), MarketPhase.EUPHORIA, id="fear-26-is-not-bear"),
        pytest.param(D("2"), 10, D("0"), MarketPhase.EUPHORIA, id="zero-funding-is-not-bear"),
        pytest.param(D("2"), None, D("-0.001"), MarketPhase.EUPHORIA, id="unknown-fng"),
        pytest.param(None, 10, D("-0.001"), MarketPhase.BEAR, id="unknown-mvrv-bear-by-sentiment"),
        pytest.param(None, None, None, MarketPhase.EUPHORIA, id="nothing-known"),
    ],
)
def test_phase_rule(
    mvrv: Decimal | None, fng: int | None, funding: Decimal | None, phase: MarketPhase
) -> None:
    assert classify_phase(mvrv, fng, funding) is phase


def test_thresholds_are_configurable() -> None:
    t = PhaseThresholds(accumulation_below=D("0.5"), top_above=D(6))
    assert classify_phase(D("0.4"), 50, D(0), t) is MarketPhase.ACCUMULATION
    assert classify_phase(D(5), 50, D(0), t) is MarketPhase.EUPHORIA


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(InvalidValue):
        PhaseThresholds(accumulation_below=D(4), top_above=D("3.5"))
    with pytest.raises(InvalidValue):
        PhaseThresholds(bear_fear_at_most=101)
