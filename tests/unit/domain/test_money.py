"""Money, quantities, fractions and base-unit conversion are exact and refuse bad input."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from domain.errors import (
    CurrencyMismatch,
    FractionOutOfRange,
    InvalidValue,
    NaiveDatetime,
    NegativeAmount,
)
from domain.money import (
    Money,
    Quantity,
    from_base_units,
    require_aware,
    require_fraction,
    round_usd,
    to_base_units,
    to_decimal,
)


def test_money_adds_and_subtracts_exactly() -> None:
    total = Money.usd("0.1") + Money.usd("0.2")
    assert total.amount == Decimal("0.3")
    assert (total - Money.usd("0.3")).amount == 0


def test_money_refuses_to_mix_currencies() -> None:
    with pytest.raises(CurrencyMismatch, match="USD with EUR"):
        Money.usd(1) + Money(amount=Decimal(1), currency="EUR")


def test_money_refuses_floats() -> None:
    with pytest.raises(InvalidValue, match="never float"):
        Money.usd(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity"])
def test_to_decimal_refuses_non_numbers(bad: str) -> None:
    with pytest.raises(InvalidValue):
        to_decimal(bad)


def test_money_compares_multiplies_rounds_and_prints() -> None:
    a = Money.usd("10.005")
    assert Money.usd(1) < a
    assert a <= a
    assert (a * 2).amount == Decimal("20.010")
    assert a.rounded().amount == Decimal("10.00")  # half-even
    assert str(Money.usd("1234.5")) == "1,234.50 USD"


def test_money_needs_a_currency() -> None:
    with pytest.raises(InvalidValue):
        Money(amount=Decimal(1), currency="")


def test_quantity_is_non_negative_and_keeps_its_asset() -> None:
    q = Quantity(amount=Decimal("1.5"), asset="WETH") + Quantity(
        amount=Decimal("0.5"), asset="WETH"
    )
    assert q.amount == 2
    assert (q - Quantity(amount=Decimal(1), asset="WETH")).amount == 1
    assert q.value(Decimal(3000)).amount == 6000
    assert q.to_base_units(18) == 2 * 10**18
    with pytest.raises(CurrencyMismatch):
        q + Quantity(amount=Decimal(1), asset="WBTC")
    with pytest.raises(CurrencyMismatch):
        q - Quantity(amount=Decimal(1), asset="WBTC")
    with pytest.raises(NegativeAmount):
        Quantity(amount=Decimal(-1), asset="WETH")
    with pytest.raises(InvalidValue):
        Quantity(amount=Decimal(1), asset="")


@pytest.mark.parametrize(
    ("amount", "decimals", "units"),
    [
        pytest.param(Decimal("1"), 6, 1_000_000, id="one-usdc"),
        pytest.param(Decimal("0.0000019"), 6, 1, id="rounds-down-never-overspends"),
        pytest.param(Decimal("1.23456789"), 8, 123_456_789, id="wbtc"),
        pytest.param(Decimal("0"), 18, 0, id="zero"),
    ],
)
def test_base_unit_conversion(amount: Decimal, decimals: int, units: int) -> None:
    assert to_base_units(amount, decimals) == units


def test_base_units_round_trip_exactly() -> None:
    assert from_base_units(123_456_789, 8) == Decimal("1.23456789")
    assert to_base_units(from_base_units(10**18 + 1, 18), 18) == 10**18 + 1


@pytest.mark.parametrize("decimals", [-1, 37])
def test_base_unit_conversion_rejects_bad_decimals(decimals: int) -> None:
    with pytest.raises(InvalidValue):
        to_base_units(Decimal(1), decimals)
    with pytest.raises(InvalidValue):
        from_base_units(1, decimals)


def test_negative_amounts_and_units_are_rejected() -> None:
    with pytest.raises(NegativeAmount):
        to_base_units(Decimal(-1), 6)
    with pytest.raises(NegativeAmount):
        from_base_units(-1, 6)


@pytest.mark.parametrize("value", [Decimal("-0.0001"), Decimal("1.0001")])
def test_fractions_outside_zero_to_one_are_rejected(value: Decimal) -> None:
    with pytest.raises(FractionOutOfRange, match="between 0 and 1"):
        require_fraction(value, "share")


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(NaiveDatetime):
        require_aware(datetime(2026, 1, 1), "at")  # noqa: DTZ001


def test_round_usd_uses_bankers_rounding() -> None:
    assert round_usd(Decimal("0.125")) == Decimal("0.12")
    assert round_usd(Decimal("0.135")) == Decimal("0.14")
