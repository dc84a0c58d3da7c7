"""EIP-1559 fee arithmetic: the tip, the gas cap, replacements and cancellations."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from adapters.chain.fees import (
    GWEI,
    NoFeeUnderCap,
    bumped,
    cancellation_fees,
    capped_fees,
    gas_cost_usd,
    gas_limit,
    next_block_fees,
    replacement_fees,
    tip_from_rewards,
)
from application.ports.chain import FeeQuote, GasPriceAboveCap

BUMP = Decimal("0.125")


def quote(base_gwei: int, tip_gwei: int) -> FeeQuote:
    return next_block_fees(base_gwei * GWEI, tip_gwei * GWEI)


def test_the_tip_is_the_median_reward_and_unknown_without_history() -> None:
    assert tip_from_rewards([3, 1, 2]) == 2
    assert tip_from_rewards([1, 2, 3, 10]) == 2  # the median of an even count, rounded down
    assert tip_from_rewards([]) is None


def test_next_block_fees_survive_two_full_base_fee_rises() -> None:
    expected = FeeQuote(base_fee=10 * GWEI, max_priority_fee=2 * GWEI, max_fee=22 * GWEI)
    assert quote(10, 2) == expected


@pytest.mark.parametrize(
    ("base", "tip", "cap", "expected_tip", "expected_max"),
    [
        pytest.param(10, 2, 100, 2, 22, id="well under the cap: unchanged"),
        pytest.param(10, 2, 15, 2, 15, id="max fee held at the cap"),
        pytest.param(10, 8, 15, 5, 15, id="tip held to what the cap leaves"),
        pytest.param(15, 2, 15, 0, 15, id="base fee at the cap: no tip left"),
    ],
)
def test_capped_fees_never_exceed_the_cap(
    base: int, tip: int, cap: int, expected_tip: int, expected_max: int
) -> None:
    capped = capped_fees(quote(base, tip), cap * GWEI)
    assert capped.max_priority_fee == expected_tip * GWEI
    assert capped.max_fee == expected_max * GWEI
    assert capped.base_fee == base * GWEI


def test_a_base_fee_above_the_cap_is_refused() -> None:
    with pytest.raises(GasPriceAboveCap):
        capped_fees(quote(101, 1), 100 * GWEI)


def test_a_bump_rounds_up_so_the_node_never_sees_a_wei_short() -> None:
    assert bumped(100, BUMP) == 113  # 112.5 rounded up
    assert bumped(8, BUMP) == 9


def test_a_replacement_is_at_least_the_bump_dearer_and_what_the_market_asks() -> None:
    calm = replacement_fees(22 * GWEI, 2 * GWEI, quote(10, 1), bump=BUMP, cap=100 * GWEI)
    assert calm.max_priority_fee == bumped(2 * GWEI, BUMP)
    assert calm.max_fee == bumped(22 * GWEI, BUMP)
    busy = replacement_fees(22 * GWEI, 2 * GWEI, quote(30, 5), bump=BUMP, cap=100 * GWEI)
    assert busy.max_priority_fee == 5 * GWEI
    assert busy.max_fee == 65 * GWEI  # 2 x 30 + 5: the market asks more than the bump
    held = replacement_fees(22 * GWEI, 2 * GWEI, quote(30, 5), bump=BUMP, cap=40 * GWEI)
    assert held.max_fee == 40 * GWEI


def test_a_replacement_the_cap_leaves_no_room_for_is_refused() -> None:
    with pytest.raises(
        NoFeeUnderCap, match=re.escape("12.5% dearer would exceed the gas cap of 23.00 gwei")
    ):
        replacement_fees(22 * GWEI, 2 * GWEI, quote(10, 1), bump=BUMP, cap=23 * GWEI)


def test_a_replacement_under_a_base_fee_above_the_cap_is_refused() -> None:
    with pytest.raises(
        NoFeeUnderCap, match=re.escape("next base fee of 60.00 gwei is above the gas cap")
    ):
        replacement_fees(2 * GWEI, 1 * GWEI, quote(60, 1), bump=BUMP, cap=50 * GWEI)


def test_a_cancellation_pays_what_the_market_asks_or_the_floors_of_a_pooled_transaction() -> None:
    fresh = cancellation_fees(quote(10, 2), cap=100 * GWEI)
    assert fresh == FeeQuote(base_fee=10 * GWEI, max_priority_fee=2 * GWEI, max_fee=22 * GWEI)
    pooled = cancellation_fees(
        quote(10, 2), cap=100 * GWEI, least_max_fee=50 * GWEI, least_priority=4 * GWEI
    )
    assert pooled.max_fee == 50 * GWEI
    assert pooled.max_priority_fee == 4 * GWEI


@pytest.mark.parametrize(
    ("base", "least_max_fee", "cap"),
    [
        pytest.param(10, 60, 50, id="the pooled transaction's bump is above the cap"),
        pytest.param(60, 1, 50, id="the next base fee is above the cap"),
    ],
)
def test_a_cancellation_above_the_cap_is_refused(base: int, least_max_fee: int, cap: int) -> None:
    with pytest.raises(NoFeeUnderCap, match=re.escape(f"more than the gas cap of {cap}.00 gwei")):
        cancellation_fees(quote(base, 1), cap=cap * GWEI, least_max_fee=least_max_fee * GWEI)


def test_the_gas_limit_adds_the_margin_rounded_up() -> None:
    assert gas_limit(100_000, Decimal("0.25")) == 125_000
    assert gas_limit(21_001, Decimal("0.25")) == 26_252  # 26,251.25 rounded up


def test_gas_cost_in_usd_is_gas_times_price_times_eth() -> None:
    # 300k gas at 20 gwei is 0.006 ETH; at $3,000 that is $18.
    assert gas_cost_usd(300_000, 20 * GWEI, Decimal(3000)) == Decimal(18)
