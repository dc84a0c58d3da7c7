"""The allocation signal: mode, targets, confidence, trigger and reasoning from market data.

Targets are fractions of the whole treasury. The base-yield sleeve keeps its share (60 %);
the tactical sleeve (40 %) holds `exposure` of itself in BTC/ETH and the rest as cash.

Confidence = completeness x (0.6 + 0.4 x agreement), where completeness loses each missing
input's weight (half of it when the value is stale) and agreement is the share of
sentiment indicators (Fear & Greed, funding) that point the way the phase does.

An MVRV threshold crossing forces a rebalance only when it changes the tactical exposure: a
move from 0 to 0.5, or a fall below 7 while the ratchet holds the sale, changes nothing and is
not a trigger. With MVRV unknown the exposure holds (see `domain.tactical`).

Deribit's options put/call open-interest ratio is a third vote, counted only when it is known
(a missing ratio neither helps nor hurts, and never trades): a high ratio (puts bought as
protection) agrees with fear phases, a low one with greed phases. The implied-volatility index
(DVOL) does not vote, since it rises in euphoric rallies as well as in crashes; it is reported
in the reasoning, and its spike is an optional early warning in the black-swan detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.allocation import TargetAllocations
from domain.errors import InvalidValue
from domain.market import MarketData, MarketField, MarketPhase
from domain.money import ONE, ZERO, require_aware, require_fraction, require_no_floats
from domain.phases import PhaseThresholds, classify_phase
from domain.tactical import (
    RatchetState,
    TacticalExposure,
    TacticalLadder,
    held_exposure,
    tactical_exposure,
)

CONFIDENCE_PLACES = Decimal("0.0001")


class AllocationMode(StrEnum):
    """The spec's allocation modes."""

    CONSERVATIVE = "conservative"
    TACTICAL = "tactical"
    AGGRESSIVE = "aggressive"
    HEDGE = "hedge"


class RiskLevel(StrEnum):
    """Low, medium or high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


MODE_BY_PHASE: Mapping[MarketPhase, AllocationMode] = MappingProxyType(
    {
        MarketPhase.ACCUMULATION: AllocationMode.AGGRESSIVE,
        MarketPhase.EUPHORIA: AllocationMode.TACTICAL,
        MarketPhase.TOP: AllocationMode.CONSERVATIVE,
        MarketPhase.BEAR: AllocationMode.HEDGE,
    }
)

# Market risk of the phase: cheap accumulation is low risk, a top or a bear is high.
RISK_BY_PHASE: Mapping[MarketPhase, RiskLevel] = MappingProxyType(
    {
        MarketPhase.ACCUMULATION: RiskLevel.LOW,
        MarketPhase.EUPHORIA: RiskLevel.MEDIUM,
        MarketPhase.TOP: RiskLevel.HIGH,
        MarketPhase.BEAR: RiskLevel.HIGH,
    }
)

DEFAULT_INPUT_WEIGHTS: Mapping[MarketField, Decimal] = MappingProxyType(
    {
        MarketField.MVRV_Z_SCORE: Decimal("0.40"),
        MarketField.BTC_PRICE: Decimal("0.20"),
        MarketField.ETH_PRICE: Decimal("0.10"),
        MarketField.FUNDING_RATE: Decimal("0.15"),
        MarketField.FEAR_GREED_INDEX: Decimal("0.15"),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalConfig:
    """Sleeve sizes, ladder and phase thresholds; defaults are the spec's numbers."""

    base_yield_share: Decimal = Decimal("0.6")
    tactical_share: Decimal = Decimal("0.4")
    ladder: TacticalLadder = field(default_factory=TacticalLadder)
    phases: PhaseThresholds = field(default_factory=PhaseThresholds)
    input_weights: Mapping[MarketField, Decimal] = field(
        default_factory=lambda: DEFAULT_INPUT_WEIGHTS
    )
    greed_at_least: int = 55
    fear_at_most: int = 45
    put_call_fear_at_least: Decimal = Decimal("0.7")
    put_call_greed_at_most: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        require_fraction(self.base_yield_share, "base_yield_share")
        require_fraction(self.tactical_share, "tactical_share")
        if self.base_yield_share + self.tactical_share != ONE:
            raise InvalidValue(
                "tactical_share", self.tactical_share, "sleeves must add up to the whole treasury"
            )
        if not ZERO <= self.put_call_greed_at_most <= self.put_call_fear_at_least:
            raise InvalidValue(
                "put_call_greed_at_most",
                self.put_call_greed_at_most,
                "must be between 0 and put_call_fear_at_least",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationSignal:
    """The spec's AllocationSignal, plus what it was derived from."""

    mode: AllocationMode
    target_allocations: TargetAllocations
    confidence: Decimal
    reasoning: str
    trigger: str
    recommended_actions: tuple[str, ...]
    risk_level: RiskLevel
    market_phase: MarketPhase
    tactical_exposure: Decimal
    created_at: datetime
    threshold_crossed: bool = False
    exposure_known: bool = True

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_fraction(self.confidence, "confidence")
        require_fraction(self.tactical_exposure, "tactical_exposure")
        require_aware(self.created_at, "created_at")


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_EVEN)}%"


def completeness(market: MarketData, weights: Mapping[MarketField, Decimal]) -> Decimal:
    """1 minus the weight of each missing input (half weight for a stale one)."""
    missing = set(market.missing_fields())
    stale = set(market.stale_fields())
    lost = sum((w for f, w in weights.items() if f in missing), ZERO)
    lost += sum((w / 2 for f, w in weights.items() if f in stale and f not in missing), ZERO)
    return max(ZERO, ONE - lost)


def agreement(market: MarketData, phase: MarketPhase, config: SignalConfig) -> Decimal:
    """Share of sentiment indicators agreeing with the phase; 0.5 for each unknown one.

    The put/call ratio votes only when it is known.
    """
    fng = market.fear_greed_index
    funding = market.funding_rate
    votes: list[Decimal] = []
    if phase is MarketPhase.BEAR:
        wants_greed: bool | None = False
        wants_positive_funding: bool | None = False
    elif phase is MarketPhase.ACCUMULATION:
        wants_greed, wants_positive_funding = False, False
    elif phase is MarketPhase.TOP:
        wants_greed, wants_positive_funding = True, True
    else:
        wants_greed, wants_positive_funding = True, True
    if fng is None:
        votes.append(Decimal("0.5"))
    elif wants_greed:
        votes.append(ONE if fng >= config.greed_at_least else ZERO)
    else:
        votes.append(ONE if fng <= config.fear_at_most else ZERO)
    if funding is None:
        votes.append(Decimal("0.5"))
    elif wants_positive_funding:
        votes.append(ONE if funding > 0 else ZERO)
    else:
        votes.append(ONE if funding <= 0 else ZERO)
    ratio = market.put_call_ratio
    if ratio is not None:
        if wants_greed:
            votes.append(ONE if ratio <= config.put_call_greed_at_most else ZERO)
        else:
            votes.append(ONE if ratio >= config.put_call_fear_at_least else ZERO)
    return sum(votes, ZERO) / len(votes)


def find_trigger(
    mvrv_now: Decimal | None,
    mvrv_before: Decimal | None,
    phase_now: MarketPhase,
    phase_before: MarketPhase | None,
    ladder: TacticalLadder,
    *,
    exposure_changed: bool = True,
) -> tuple[str, bool]:
    """Describe what triggered this signal, and whether an MVRV threshold was crossed.

    A crossing that leaves the exposure unchanged (`exposure_changed` False) is no trigger.
    """
    if mvrv_now is not None and mvrv_before is not None and exposure_changed:
        for level in sorted(ladder.thresholds(), reverse=True):
            if mvrv_before <= level < mvrv_now:
                return f"MVRV Z {mvrv_now} crossed {level}", True
        for level in sorted(ladder.thresholds()):
            if mvrv_now <= level < mvrv_before:
                return f"MVRV Z {mvrv_now} fell to or below {level}", True
    if phase_before is not None and phase_before is not phase_now:
        return f"phase changed from {phase_before.value} to {phase_now.value}", False
    if mvrv_now is None:
        return "scheduled review (MVRV Z unavailable)", False
    return "scheduled review", False


def _actions(
    exposure: TacticalExposure, targets: TargetAllocations, phase: MarketPhase
) -> tuple[str, ...]:
    actions = [f"Hold base yield at {_pct(targets.base_yield)} of the treasury"]
    if exposure.sold_fraction > 0:
        actions.append(
            f"Keep {_pct(exposure.sold_fraction)} of tactical exposure sold (ratchet)"
            if exposure.ratchet_held
            else f"Sell {_pct(exposure.sold_fraction)} of tactical exposure"
        )
    actions.append(f"Hold {_pct(targets.tactical)} of the treasury in BTC/ETH")
    if targets.cash > 0:
        actions.append(f"Keep {_pct(targets.cash)} in stablecoins")
    if phase is MarketPhase.ACCUMULATION:
        actions.append("Deploy the whole tactical sleeve into BTC/ETH")
    return tuple(actions)


def generate_signal(
    market: MarketData,
    ratchet: RatchetState,
    now: datetime,
    config: SignalConfig = SignalConfig(),
) -> tuple[AllocationSignal, RatchetState]:
    """Turn market data and the ratchet into an allocation signal and the next ratchet state."""
    phase = classify_phase(
        market.mvrv_z_score, market.fear_greed_index, market.funding_rate, config.phases
    )
    exposure, new_ratchet = tactical_exposure(
        market.mvrv_z_score, phase, ratchet, now, config.ladder
    )
    targets = _targets(exposure, config)
    complete = completeness(market, config.input_weights)
    agree = agreement(market, phase, config)
    confidence = (complete * (Decimal("0.6") + Decimal("0.4") * agree)).quantize(
        CONFIDENCE_PLACES, rounding=ROUND_HALF_EVEN
    )
    trigger, crossed = find_trigger(
        market.mvrv_z_score,
        ratchet.last_mvrv_z_score,
        phase,
        ratchet.last_phase,
        config.ladder,
        exposure_changed=exposure.exposure != held_exposure(ratchet, config.ladder),
    )
    reasoning = [
        *_exposure_sentences(market, phase, exposure),
        *_indicator_sentences(market),
        *_data_quality_sentences(market),
        f"Confidence {confidence} (completeness {complete}, agreement {agree}).",
    ]
    signal = AllocationSignal(
        mode=MODE_BY_PHASE[phase],
        target_allocations=targets,
        confidence=confidence,
        reasoning=" ".join(reasoning),
        trigger=trigger,
        recommended_actions=_actions(exposure, targets, phase),
        risk_level=RISK_BY_PHASE[phase],
        market_phase=phase,
        tactical_exposure=exposure.exposure,
        created_at=now,
        threshold_crossed=crossed,
        exposure_known=exposure.exposure_known,
    )
    return signal, new_ratchet


def _targets(exposure: TacticalExposure, config: SignalConfig) -> TargetAllocations:
    """The base sleeve as configured; the tactical sleeve split by exposure into BTC/ETH, cash."""
    tactical = config.tactical_share * exposure.exposure
    return TargetAllocations(
        base_yield=config.base_yield_share,
        tactical=tactical,
        cash=config.tactical_share - tactical,
    )


def _exposure_sentences(
    market: MarketData, phase: MarketPhase, exposure: TacticalExposure
) -> list[str]:
    """The reasoning's first sentences: the phase MVRV shows and the exposure it gives."""
    mvrv_text = "unknown" if market.mvrv_z_score is None else str(market.mvrv_z_score)
    sentences = [
        f"MVRV Z {mvrv_text} puts the market in {phase.value}.",
        f"Tactical exposure {_pct(exposure.exposure)} of the sleeve "
        f"(base {_pct(exposure.base_exposure)}, sold {_pct(exposure.sold_fraction)}).",
    ]
    if exposure.ratchet_held:
        sentences.append(
            f"The ratchet keeps {_pct(exposure.sold_fraction)} sold although the ladder alone "
            f"would sell {_pct(exposure.ladder_sell_fraction)}."
        )
    return sentences


def _indicator_sentences(market: MarketData) -> list[str]:
    """The sentiment and options readings that are known, one sentence each."""
    sentences: list[str] = []
    if market.fear_greed_index is not None:
        sentences.append(f"Fear & Greed {market.fear_greed_index}.")
    if market.funding_rate is not None:
        sentences.append(f"Funding {market.funding_rate * 100}% per 8 h.")
    if market.put_call_ratio is not None:
        sentences.append(f"Options put/call open interest {market.put_call_ratio}.")
    ivs = [
        f"{name} {value}"
        for name, value in (
            ("BTC", market.btc_implied_volatility),
            ("ETH", market.eth_implied_volatility),
        )
        if value is not None
    ]
    if ivs:
        sentences.append("Implied volatility (DVOL) " + ", ".join(ivs) + ".")
    return sentences


def _data_quality_sentences(market: MarketData) -> list[str]:
    """Which inputs are missing and which are served stale, when any are."""
    sentences: list[str] = []
    missing = market.missing_fields()
    if missing:
        sentences.append("Missing: " + ", ".join(f.value for f in missing) + ".")
    stale = market.stale_fields()
    if stale:
        sentences.append("Stale: " + ", ".join(f.value for f in stale) + ".")
    return sentences
