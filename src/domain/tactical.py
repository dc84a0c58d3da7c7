"""The tactical sleeve's MVRV ladder and its sell ratchet.

Exposure is the share of the tactical sleeve held in BTC/ETH; the rest of the sleeve sits in
stablecoins. Base exposure is 100 % when MVRV Z is below 0, else 60 %. Above each rung
(3.5, 5, 7, 9: strictly above) a fraction of that exposure is sold (25 %, 50 %, 67 %, 100 %).
The sold fraction ratchets: once sold at a rung it is not bought back while MVRV falls,
until the phase returns to ACCUMULATION, which resets it.

With MVRV unknown the exposure is the last known one: the base and the ladder read the last
MVRV seen, so missing data never moves the target in either direction. When no MVRV has ever
been seen, the exposure is unknown (`exposure_known` False) and the strategy holds what is held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from domain.errors import InvalidValue
from domain.market import MarketPhase
from domain.money import ONE, ZERO, require_aware, require_fraction, require_no_floats


@dataclass(frozen=True, slots=True, kw_only=True)
class SellRung:
    """Above `mvrv_above`, sell `sell_fraction` of the base exposure."""

    mvrv_above: Decimal
    sell_fraction: Decimal

    def __post_init__(self) -> None:
        require_fraction(self.sell_fraction, "sell_fraction")


DEFAULT_RUNGS: tuple[SellRung, ...] = (
    SellRung(mvrv_above=Decimal("3.5"), sell_fraction=Decimal("0.25")),
    SellRung(mvrv_above=Decimal(5), sell_fraction=Decimal("0.50")),
    SellRung(mvrv_above=Decimal(7), sell_fraction=Decimal("0.67")),
    SellRung(mvrv_above=Decimal(9), sell_fraction=Decimal("1.00")),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TacticalLadder:
    """The ladder's parameters; defaults are the spec's MVRV table."""

    full_exposure_below: Decimal = Decimal(0)
    full_exposure: Decimal = Decimal(1)
    normal_exposure: Decimal = Decimal("0.6")
    rungs: tuple[SellRung, ...] = DEFAULT_RUNGS

    def __post_init__(self) -> None:
        require_fraction(self.full_exposure, "full_exposure")
        require_fraction(self.normal_exposure, "normal_exposure")
        levels = [r.mvrv_above for r in self.rungs]
        fractions = [r.sell_fraction for r in self.rungs]
        if levels != sorted(levels) or len(set(levels)) != len(levels):
            raise InvalidValue("rungs", levels, "levels must be strictly increasing")
        if fractions != sorted(fractions):
            raise InvalidValue("rungs", fractions, "sell fractions must not decrease")

    def sell_fraction_at(self, mvrv_z_score: Decimal) -> Decimal:
        """The fraction of exposure the ladder sells at this MVRV Z (0 below the first rung)."""
        sold = ZERO
        for rung in self.rungs:
            if mvrv_z_score > rung.mvrv_above:
                sold = rung.sell_fraction
        return sold

    def thresholds(self) -> tuple[Decimal, ...]:
        """Every MVRV level at which the ladder changes behaviour, ascending."""
        return (self.full_exposure_below, *(r.mvrv_above for r in self.rungs))


@dataclass(frozen=True, slots=True, kw_only=True)
class RatchetState:
    """What the strategy remembers between cycles; persisted by the application.

    `last_exit_at` is when the last exit executed: it starts the re-entry cooldown (None when
    there is none, or a human lifted it).
    """

    sold_fraction: Decimal = ZERO
    last_mvrv_z_score: Decimal | None = None
    last_phase: MarketPhase | None = None
    updated_at: datetime | None = None
    last_exit_at: datetime | None = None

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_fraction(self.sold_fraction, "sold_fraction")
        if self.updated_at is not None:
            require_aware(self.updated_at, "updated_at")
        if self.last_exit_at is not None:
            require_aware(self.last_exit_at, "last_exit_at")


@dataclass(frozen=True, slots=True, kw_only=True)
class TacticalExposure:
    """The tactical sleeve's exposure this cycle and how it was derived."""

    base_exposure: Decimal
    ladder_sell_fraction: Decimal
    sold_fraction: Decimal
    exposure: Decimal
    ratchet_held: bool
    exposure_known: bool = True


def held_exposure(state: RatchetState, ladder: TacticalLadder = TacticalLadder()) -> Decimal | None:
    """The exposure the last cycle set, from its MVRV and sold fraction (None: no MVRV seen)."""
    mvrv = state.last_mvrv_z_score
    if mvrv is None:
        return None
    base = ladder.full_exposure if mvrv < ladder.full_exposure_below else ladder.normal_exposure
    return base * (ONE - state.sold_fraction)


def tactical_exposure(
    mvrv_z_score: Decimal | None,
    phase: MarketPhase,
    state: RatchetState,
    now: datetime,
    ladder: TacticalLadder = TacticalLadder(),
) -> tuple[TacticalExposure, RatchetState]:
    """Compute this cycle's exposure and the ratchet state to persist.

    With MVRV unknown the last MVRV seen stands in for it, so the exposure holds: missing data
    never trades in either direction. With none ever seen, `exposure_known` is False.
    """
    require_aware(now, "now")
    sold_before = ZERO if phase is MarketPhase.ACCUMULATION else state.sold_fraction
    mvrv = mvrv_z_score if mvrv_z_score is not None else state.last_mvrv_z_score
    if mvrv is not None and mvrv < ladder.full_exposure_below:
        base = ladder.full_exposure
    else:
        base = ladder.normal_exposure
    ladder_fraction = ladder.sell_fraction_at(mvrv) if mvrv is not None else ZERO
    sold = max(sold_before, ladder_fraction)
    exposure = base * (ONE - sold)
    result = TacticalExposure(
        base_exposure=base,
        ladder_sell_fraction=ladder_fraction,
        sold_fraction=sold,
        exposure=exposure,
        ratchet_held=sold > ladder_fraction,
        exposure_known=mvrv is not None,
    )
    new_state = replace(
        state,
        sold_fraction=sold,
        last_mvrv_z_score=mvrv_z_score if mvrv_z_score is not None else state.last_mvrv_z_score,
        last_phase=phase,
        updated_at=now,
    )
    return result, new_state
