"""Market-phase detection.

The rule, in order:
1. MVRV Z below `accumulation_below` (default 0) is ACCUMULATION.
2. MVRV Z above `top_above` (default 3.5) is TOP.
3. Otherwise BEAR when Fear & Greed is at or below `bear_fear_at_most` (default 25) and the
   funding rate is below `bear_funding_below` (default 0): fear and shorts paying longs.
4. Otherwise EUPHORIA.

With MVRV unknown, rules 1 and 2 cannot fire, so the phase comes from sentiment alone and
the signal's confidence drops (see `signals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.errors import InvalidValue
from domain.market import MarketPhase


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseThresholds:
    """Configurable thresholds for phase detection; defaults are the spec's numbers."""

    accumulation_below: Decimal = Decimal(0)
    top_above: Decimal = Decimal("3.5")
    bear_fear_at_most: int = 25
    bear_funding_below: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.top_above <= self.accumulation_below:
            raise InvalidValue("top_above", self.top_above, "must be above accumulation_below")
        if not 0 <= self.bear_fear_at_most <= 100:
            raise InvalidValue("bear_fear_at_most", self.bear_fear_at_most, "must be 0..100")


def classify_phase(
    mvrv_z_score: Decimal | None,
    fear_greed_index: int | None,
    funding_rate: Decimal | None,
    thresholds: PhaseThresholds = PhaseThresholds(),
) -> MarketPhase:
    """Classify the market phase from MVRV Z, Fear & Greed and funding (see module doc)."""
    if mvrv_z_score is not None:
        if mvrv_z_score < thresholds.accumulation_below:
            return MarketPhase.ACCUMULATION
        if mvrv_z_score > thresholds.top_above:
            return MarketPhase.TOP
    if (
        fear_greed_index is not None
        and funding_rate is not None
        and fear_greed_index <= thresholds.bear_fear_at_most
        and funding_rate < thresholds.bear_funding_below
    ):
        return MarketPhase.BEAR
    return MarketPhase.EUPHORIA
