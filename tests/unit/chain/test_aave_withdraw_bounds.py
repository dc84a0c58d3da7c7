"""The aToken check on an Aave withdrawal: interest accrued meanwhile is not a failure."""

from __future__ import annotations

from adapters.chain.aave import ROUNDING_UNITS, withdraw_max_a_token_delta
from application.ports.chain import BalanceCheck

USDC = 10**6


def a_token_check(expected: int, position: int) -> BalanceCheck:
    return BalanceCheck(
        token="0xa",
        holder="0xb",
        min_delta=-(expected + ROUNDING_UNITS),
        max_delta=withdraw_max_a_token_delta(expected, position),
    )


def test_the_burn_offset_by_interest_on_the_position_passes() -> None:
    # Seen in a 1,000-cycle paper run: withdrawing 600.532055 USDC from a ~$96K position, the
    # aUSDC balance fell by 147 units less than the amount, interest accrued between the
    # simulated block and the one that included the withdrawal.
    check = a_token_check(600_532_055, 96_000 * USDC)
    assert check.holds(-600_531_908)
    assert check.holds(-600_532_055)


def test_a_fall_larger_than_the_amount_fails() -> None:
    check = a_token_check(600 * USDC, 96_000 * USDC)
    assert not check.holds(-600 * USDC - ROUNDING_UNITS - 1)


def test_a_balance_that_barely_falls_fails() -> None:
    # More than 0.1 % of the position offsetting the burn is not interest: the burn is missing.
    check = a_token_check(600 * USDC, 96_000 * USDC)
    assert not check.holds(-600 * USDC + 96 * USDC + ROUNDING_UNITS + 1)
    assert not check.holds(0)
