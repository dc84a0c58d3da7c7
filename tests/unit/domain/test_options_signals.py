"""Deribit's options fields in the signal and the black-swan detector: they count only when
known, and the implied-volatility spike warning is off unless configured."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.market import MarketPhase
from domain.safety import SafetyLimits, detect_black_swan
from domain.signals import SignalConfig, agreement, generate_signal
from domain.tactical import RatchetState
from tests.unit.domain.builders import NOW, market

D = Decimal


@pytest.mark.parametrize(
    ("mvrv", "fng", "funding", "put_call", "phase", "expected"),
    [
        # euphoria wants greed: a low ratio (calls dominate) agrees, a high one disagrees
        pytest.param("2", 70, "0.0002", "0.45", MarketPhase.EUPHORIA, D(1), id="greed-low-ratio"),
        pytest.param(
            "2", 70, "0.0002", "0.9", MarketPhase.EUPHORIA, D(2) / 3, id="greed-high-ratio"
        ),
        # a bear wants fear: a high ratio (puts bought as protection) agrees
        pytest.param("-1", 20, "-0.0001", "0.85", MarketPhase.BEAR, D(1), id="fear-high-ratio"),
        pytest.param("-1", 20, "-0.0001", "0.5", MarketPhase.BEAR, D(2) / 3, id="fear-low-ratio"),
    ],
)
def test_a_known_put_call_ratio_is_a_third_agreement_vote(
    mvrv: str, fng: int, funding: str, put_call: str, phase: MarketPhase, expected: Decimal
) -> None:
    data = market(mvrv=mvrv, fng=fng, funding=funding, put_call=put_call)
    assert abs(agreement(data, phase, SignalConfig()) - expected) < D("1e-20")


def test_an_unknown_put_call_ratio_neither_helps_nor_hurts_the_confidence() -> None:
    without, _ = generate_signal(market(mvrv="2", fng=70, funding="0.0002"), RatchetState(), NOW)
    unknown, _ = generate_signal(
        market(mvrv="2", fng=70, funding="0.0002", put_call=None), RatchetState(), NOW
    )
    assert unknown.confidence == without.confidence == D(1)
    assert unknown.target_allocations == without.target_allocations


def test_a_disagreeing_put_call_ratio_lowers_confidence_but_never_moves_the_targets() -> None:
    plain, _ = generate_signal(market(mvrv="2", fng=70, funding="0.0002"), RatchetState(), NOW)
    hedged, _ = generate_signal(
        market(mvrv="2", fng=70, funding="0.0002", put_call="1.2", btc_iv="95"),
        RatchetState(),
        NOW,
    )
    assert hedged.confidence < plain.confidence
    assert hedged.target_allocations == plain.target_allocations
    assert hedged.mode is plain.mode
    assert "put/call open interest 1.2" in hedged.reasoning
    assert "Implied volatility (DVOL) BTC 95." in hedged.reasoning


def test_put_call_thresholds_must_be_ordered() -> None:
    with pytest.raises(InvalidValue):
        SignalConfig(put_call_greed_at_most=D("0.8"), put_call_fear_at_least=D("0.7"))


def test_an_implied_volatility_spike_is_no_black_swan_by_default() -> None:
    calm_prices_iv_doubled = market(btc_change="0.01", btc_iv="110", btc_iv_change="1.0")
    assert detect_black_swan(calm_prices_iv_doubled, SafetyLimits()) is None


def test_an_implied_volatility_spike_is_an_early_warning_when_enabled() -> None:
    limits = SafetyLimits(black_swan_iv_spike_24h=D("0.5"))
    found = detect_black_swan(market(btc_change="0.01", eth_iv="120", eth_iv_change="0.62"), limits)
    assert found is not None
    assert found.reasons == (
        "ETH implied volatility +62.00% in 24 h (early-warning limit +50.00%)",
    )
    assert detect_black_swan(market(btc_iv_change="0.49", eth_iv_change="0.2"), limits) is None


def test_an_unknown_implied_volatility_never_counts_as_a_spike() -> None:
    limits = SafetyLimits(black_swan_iv_spike_24h=D("0.5"))
    assert detect_black_swan(market(btc_iv=None, btc_iv_change=None), limits) is None


def test_the_spike_limit_must_be_positive() -> None:
    with pytest.raises(InvalidValue):
        SafetyLimits(black_swan_iv_spike_24h=D(0))
