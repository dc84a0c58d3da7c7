"""The allocation signal: mode, targets, confidence, trigger and reasoning."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.errors import InvalidValue
from domain.market import MarketField, MarketPhase
from domain.signals import (
    AllocationMode,
    RiskLevel,
    SignalConfig,
    agreement,
    completeness,
    find_trigger,
    generate_signal,
)
from domain.tactical import RatchetState, TacticalLadder
from tests.unit.domain.builders import NOW, market

D = Decimal


@pytest.mark.parametrize(
    ("mvrv", "fng", "funding", "mode", "risk", "targets"),
    [
        pytest.param(
            "-0.5",
            20,
            "-0.0001",
            AllocationMode.AGGRESSIVE,
            RiskLevel.LOW,
            ("0.6", "0.4", "0"),
            id="accumulation",
        ),
        pytest.param(
            "2",
            60,
            "0.0001",
            AllocationMode.TACTICAL,
            RiskLevel.MEDIUM,
            ("0.6", "0.24", "0.16"),
            id="euphoria",
        ),
        pytest.param(
            "5.2",
            80,
            "0.0003",
            AllocationMode.CONSERVATIVE,
            RiskLevel.HIGH,
            ("0.6", "0.12", "0.28"),
            id="top-above-5",
        ),
        pytest.param(
            "2",
            20,
            "-0.0002",
            AllocationMode.HEDGE,
            RiskLevel.HIGH,
            ("0.6", "0.24", "0.16"),
            id="bear",
        ),
        pytest.param(
            "9.5",
            90,
            "0.001",
            AllocationMode.CONSERVATIVE,
            RiskLevel.HIGH,
            ("0.6", "0", "0.4"),
            id="exit-above-9",
        ),
    ],
)
def test_signal_mode_risk_and_targets_follow_the_phase(
    mvrv: str,
    fng: int,
    funding: str,
    mode: AllocationMode,
    risk: RiskLevel,
    targets: tuple[str, str, str],
) -> None:
    signal, _ = generate_signal(market(mvrv=mvrv, fng=fng, funding=funding), RatchetState(), NOW)
    assert signal.mode is mode
    assert signal.risk_level is risk
    assert signal.target_allocations == TargetAllocations(
        D(targets[0]), D(targets[1]), D(targets[2])
    )


def test_confidence_is_highest_with_complete_agreeing_data() -> None:
    signal, _ = generate_signal(market(mvrv="2", fng=70, funding="0.0002"), RatchetState(), NOW)
    assert signal.confidence == D("1.0000")


def test_confidence_falls_when_indicators_disagree() -> None:
    agree, _ = generate_signal(market(mvrv="2", fng=70, funding="0.0002"), RatchetState(), NOW)
    disagree, _ = generate_signal(market(mvrv="2", fng=40, funding="0.0002"), RatchetState(), NOW)
    assert disagree.confidence == D("0.8000")  # 1 x (0.6 + 0.4 x 0.5)
    assert disagree.confidence < agree.confidence


def test_confidence_falls_with_missing_and_stale_inputs() -> None:
    full, _ = generate_signal(market(), RatchetState(), NOW)
    no_mvrv, _ = generate_signal(market(mvrv=None), RatchetState(), NOW)
    stale_mvrv, _ = generate_signal(market(stale=(MarketField.MVRV_Z_SCORE,)), RatchetState(), NOW)
    assert no_mvrv.confidence < stale_mvrv.confidence < full.confidence
    assert "Missing: mvrv_z_score" in no_mvrv.reasoning
    assert "Stale: mvrv_z_score" in stale_mvrv.reasoning


def test_completeness_and_agreement_figures() -> None:
    weights = SignalConfig().input_weights
    assert completeness(market(), weights) == 1
    assert completeness(market(mvrv=None, fng=None), weights) == D("0.45")
    assert agreement(market(fng=None, funding=None), MarketPhase.EUPHORIA, SignalConfig()) == D(
        "0.5"
    )
    assert (
        agreement(market(fng=10, funding="-0.001"), MarketPhase.ACCUMULATION, SignalConfig()) == 1
    )
    assert agreement(market(fng=90, funding="0.001"), MarketPhase.TOP, SignalConfig()) == 1


@pytest.mark.parametrize(
    ("before", "now", "text", "crossed"),
    [
        pytest.param("4.8", "5.2", "MVRV Z 5.2 crossed 5", True, id="up-through-5"),
        pytest.param("3.5", "3.6", "MVRV Z 3.6 crossed 3.5", True, id="from-exactly-3.5"),
        pytest.param("0.2", "-0.1", "MVRV Z -0.1 fell to or below 0", True, id="down-through-0"),
        pytest.param("2", "2.5", "scheduled review", False, id="no-crossing"),
    ],
)
def test_trigger_names_the_threshold_crossed(
    before: str, now: str, text: str, crossed: bool
) -> None:
    got, did_cross = find_trigger(
        D(now), D(before), MarketPhase.EUPHORIA, MarketPhase.EUPHORIA, TacticalLadder()
    )
    assert got == text
    assert did_cross is crossed


def test_trigger_reports_phase_changes_and_missing_mvrv() -> None:
    ladder = TacticalLadder()
    assert find_trigger(D(2), D(2), MarketPhase.BEAR, MarketPhase.EUPHORIA, ladder)[0] == (
        "phase changed from euphoria to bear"
    )
    assert find_trigger(None, D(2), MarketPhase.EUPHORIA, None, ladder)[0].startswith(
        "scheduled review (MVRV"
    )


def test_signal_reasoning_and_actions_explain_the_ratchet() -> None:
    state = RatchetState(
        sold_fraction=D("0.67"), last_mvrv_z_score=D("7.5"), last_phase=MarketPhase.TOP
    )
    signal, new_state = generate_signal(market(mvrv="4", fng=70, funding="0.0002"), state, NOW)
    assert signal.tactical_exposure == D("0.198")
    assert "ratchet keeps 67.0% sold" in signal.reasoning
    assert any("ratchet" in a for a in signal.recommended_actions)
    # MVRV fell through 7 and 5, but the ratchet holds the exposure: no crossing to act on.
    assert signal.trigger == "scheduled review"
    assert not signal.threshold_crossed
    assert new_state.sold_fraction == D("0.67")


def test_accumulation_recommends_deploying_the_sleeve() -> None:
    signal, _ = generate_signal(market(mvrv="-0.3", fng=15, funding="-0.0001"), RatchetState(), NOW)
    assert "Deploy the whole tactical sleeve into BTC/ETH" in signal.recommended_actions


def test_signal_config_sleeves_must_cover_the_treasury() -> None:
    with pytest.raises(InvalidValue):
        SignalConfig(base_yield_share=D("0.5"), tactical_share=D("0.4"))
