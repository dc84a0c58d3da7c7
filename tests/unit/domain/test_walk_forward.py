"""The walk-forward grid, the choice on the tuning window and the out-of-sample verdict."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.strategy import StrategyConfig
from domain.walk_forward import (
    PolicyVariant,
    VariantScore,
    apply_variant,
    choose,
    policy_grid,
    variant_of,
    wins_out_of_sample,
)

D = Decimal
SPEC = StrategyConfig()


def _variant(
    shift: str = "0", band: str = "0.05", exposure: str = "0.6", swan: str = "0.2"
) -> PolicyVariant:
    return PolicyVariant(
        ladder_shift=D(shift),
        drift_band=D(band),
        euphoria_exposure=D(exposure),
        black_swan_drop=D(swan),
    )


def _score(variant: PolicyVariant, sharpe: str | None, drawdown: str) -> VariantScore:
    return VariantScore(
        variant=variant, sharpe=None if sharpe is None else D(sharpe), max_drawdown=D(drawdown)
    )


def test_the_grid_starts_with_the_spec_policy_and_declares_24_distinct_variants() -> None:
    grid = policy_grid(SPEC)

    assert grid[0] == variant_of(SPEC)
    assert len(grid) == 24
    assert len(set(grid)) == 24
    assert len({v.name for v in grid}) == 24


def test_a_variant_shifts_every_rung_and_sets_band_exposure_and_black_swan_threshold() -> None:
    varied = apply_variant(SPEC, _variant(shift="-1", band="0.1", exposure="0.8", swan="0.3"))

    assert [r.mvrv_above for r in varied.signal.ladder.rungs] == [D("2.5"), D(4), D(6), D(8)]
    assert [r.sell_fraction for r in varied.signal.ladder.rungs] == [
        r.sell_fraction for r in SPEC.signal.ladder.rungs
    ]
    assert varied.drift_band == D("0.1")
    assert varied.signal.ladder.normal_exposure == D("0.8")
    assert varied.limits.black_swan_drop_24h == D("0.3")
    assert apply_variant(SPEC, variant_of(SPEC)) == SPEC


def test_a_shift_that_moves_a_rung_into_accumulation_is_refused() -> None:
    with pytest.raises(InvalidValue):
        apply_variant(SPEC, _variant(shift="-4"))


def test_the_tuning_choice_is_the_best_sharpe_and_the_earliest_variant_on_a_tie() -> None:
    a, b, c = _variant(), _variant(band="0.1"), _variant(swan="0.3")

    assert choose([_score(a, "0.5", "0.1"), _score(b, "0.7", "0.3"), _score(c, "0.7", "0.1")]) == (
        _score(b, "0.7", "0.3")
    )
    assert choose([_score(a, None, "0"), _score(b, "-0.2", "0.1")]).variant == b


@pytest.mark.parametrize(
    ("chosen_sharpe", "chosen_drawdown", "wins"),
    [
        pytest.param("0.9", "0.15", True, id="higher-sharpe-same-drawdown"),
        pytest.param("0.9", "0.10", True, id="higher-sharpe-shallower-drawdown"),
        pytest.param("0.9", "0.16", False, id="higher-sharpe-deeper-drawdown"),
        pytest.param("0.8", "0.10", False, id="equal-sharpe"),
        pytest.param("0.7", "0.10", False, id="lower-sharpe"),
    ],
)
def test_a_variant_replaces_the_default_only_with_a_higher_test_sharpe_and_no_deeper_drawdown(
    chosen_sharpe: str, chosen_drawdown: str, wins: bool
) -> None:
    default = _score(_variant(), "0.8", "0.15")
    chosen = _score(_variant(band="0.1"), chosen_sharpe, chosen_drawdown)

    assert wins_out_of_sample(chosen, default) is wins


def test_the_default_chosen_again_is_not_a_win() -> None:
    default = _score(_variant(), "0.8", "0.15")
    assert wins_out_of_sample(default, default) is False
