"""Walk-forward evaluation: choose a policy variant on one window, judge it on a later one.

A small grid of variants of the spec's policy is declared up front (`policy_grid`): the MVRV
levels of the sell ladder shifted down or up, the drift band, the tactical exposure outside
accumulation (euphoria) and the black-swan threshold. Each is replayed on the tuning window;
the variant with the best Sharpe ratio there, the static yield's return being the risk-free
rate, is chosen (ties go to the earlier variant in the grid, and the spec's policy is first).
The chosen variant and the spec's policy are then replayed on the later test window, which the
choice never saw.

The spec's policy stays the default unless the chosen variant beats it out of sample: a higher
Sharpe ratio (risk-free = static yield) on the test window without a deeper maximum drawdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import product

from domain.errors import InvalidValue
from domain.money import ZERO, require_fraction
from domain.strategy import StrategyConfig
from domain.tactical import SellRung

LADDER_SHIFTS = (Decimal(-1), ZERO, Decimal(1))
DRIFT_BANDS = (Decimal("0.05"), Decimal("0.10"))
EUPHORIA_EXPOSURES = (Decimal("0.6"), Decimal("0.8"))
BLACK_SWAN_DROPS = (Decimal("0.20"), Decimal("0.30"))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyVariant:
    """One variant of the policy: how it differs from the spec's.

    `ladder_shift` moves every sell rung's MVRV Z level by that much (-1 sells earlier);
    `euphoria_exposure` is the tactical sleeve's exposure outside accumulation (the ladder's
    normal exposure); `black_swan_drop` is the 24-hour fall that triggers the emergency exit.
    """

    ladder_shift: Decimal
    drift_band: Decimal
    euphoria_exposure: Decimal
    black_swan_drop: Decimal

    def __post_init__(self) -> None:
        require_fraction(self.drift_band, "drift_band")
        require_fraction(self.euphoria_exposure, "euphoria_exposure")
        require_fraction(self.black_swan_drop, "black_swan_drop")

    @property
    def name(self) -> str:
        """A short label such as `ladder+0 band 5% euphoria 60% swan 20%`."""
        shift = f"{self.ladder_shift:+}"
        return (
            f"ladder{shift} band {self.drift_band * 100:.0f}% "
            f"euphoria {self.euphoria_exposure * 100:.0f}% swan {self.black_swan_drop * 100:.0f}%"
        )


def variant_of(strategy: StrategyConfig) -> PolicyVariant:
    """The variant that leaves `strategy` as it is (no ladder shift)."""
    return PolicyVariant(
        ladder_shift=ZERO,
        drift_band=strategy.drift_band,
        euphoria_exposure=strategy.signal.ladder.normal_exposure,
        black_swan_drop=strategy.limits.black_swan_drop_24h,
    )


def apply_variant(strategy: StrategyConfig, variant: PolicyVariant) -> StrategyConfig:
    """`strategy` with the variant's ladder, drift band, exposure and black-swan threshold.

    Raises:
        InvalidValue: the shift would move a sell rung to or below the accumulation level.
    """
    ladder = strategy.signal.ladder
    rungs = tuple(
        SellRung(mvrv_above=r.mvrv_above + variant.ladder_shift, sell_fraction=r.sell_fraction)
        for r in ladder.rungs
    )
    if rungs and rungs[0].mvrv_above <= ladder.full_exposure_below:
        raise InvalidValue(
            "ladder_shift", variant.ladder_shift, "moves a sell rung into accumulation"
        )
    signal = replace(
        strategy.signal,
        ladder=replace(ladder, rungs=rungs, normal_exposure=variant.euphoria_exposure),
    )
    limits = replace(strategy.limits, black_swan_drop_24h=variant.black_swan_drop)
    return replace(strategy, signal=signal, limits=limits, drift_band=variant.drift_band)


def policy_grid(strategy: StrategyConfig) -> tuple[PolicyVariant, ...]:
    """The declared grid: the strategy's own policy first, then every other combination of
    `LADDER_SHIFTS`, `DRIFT_BANDS`, `EUPHORIA_EXPOSURES` and `BLACK_SWAN_DROPS` (24 in all
    with the spec's numbers)."""
    own = variant_of(strategy)
    others = [
        PolicyVariant(
            ladder_shift=shift, drift_band=band, euphoria_exposure=exposure, black_swan_drop=drop
        )
        for shift, band, exposure, drop in product(
            LADDER_SHIFTS, DRIFT_BANDS, EUPHORIA_EXPOSURES, BLACK_SWAN_DROPS
        )
    ]
    return (own, *(v for v in others if v != own))


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantScore:
    """A variant's figures on one window: Sharpe (risk-free = static yield) and max drawdown."""

    variant: PolicyVariant
    sharpe: Decimal | None
    max_drawdown: Decimal


def _key(score: VariantScore) -> Decimal:
    return score.sharpe if score.sharpe is not None else Decimal("-Infinity")


def choose(scores: Sequence[VariantScore]) -> VariantScore:
    """The best Sharpe ratio on the tuning window; the earliest in the grid on a tie.

    Raises:
        InvalidValue: no scores.
    """
    if not scores:
        raise InvalidValue("scores", 0, "the grid is empty")
    best = scores[0]
    for score in scores[1:]:
        if _key(score) > _key(best):
            best = score
    return best


def wins_out_of_sample(chosen: VariantScore, default: VariantScore) -> bool:
    """Whether the chosen variant beat the default on the test window: a higher Sharpe ratio
    (risk-free = static yield) and a max drawdown no deeper."""
    if chosen.variant == default.variant or chosen.sharpe is None:
        return False
    better = default.sharpe is None or chosen.sharpe > default.sharpe
    return better and chosen.max_drawdown <= default.max_drawdown
