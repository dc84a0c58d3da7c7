"""Exact money, quantities, fractions and on-chain base-unit conversion.

Money is `Decimal`, built from `str` or `int`, never from float. On-chain amounts are `int`
base units; this is the one module that converts between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

from domain.errors import (
    CurrencyMismatch,
    FractionOutOfRange,
    InvalidValue,
    NaiveDatetime,
    NegativeAmount,
)

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
USD_PRECISION = Decimal("0.000001")
FRACTION_PRECISION = Decimal("0.000001")


def to_decimal(value: Decimal | int | str, field: str = "value") -> Decimal:
    """Convert an int, str or Decimal to Decimal, refusing floats and non-finite values.

    Raises:
        InvalidValue: the value is a float, not a number, or not finite.
    """
    if isinstance(value, (bool, float)):
        raise InvalidValue(field, value, "build Decimals from str or int, never float")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise InvalidValue(field, value, "is not a number") from exc
    if not result.is_finite():
        raise InvalidValue(field, value, "must be finite")
    return result


_HOLDS_NO_FLOAT: dict[type, bool] = {}
"""Per type: True when its values can neither be nor hold a float (Decimal, int, str, date,
enums, dataclasses), so checking one is a dictionary lookup. Bounded by the program's types."""


def _cannot_hold_float(kind: type) -> bool:
    known = _HOLDS_NO_FLOAT.get(kind)
    if known is None:
        known = not issubclass(kind, (float, list, tuple, Mapping))
        _HOLDS_NO_FLOAT[kind] = known
    return known


def _refuse_float(value: object, field: str) -> None:
    """Refuse a float, also inside a mapping, list or tuple (a dataclass checks itself).

    Raises:
        InvalidValue: a float was found.
    """
    if _cannot_hold_float(type(value)):
        return
    if isinstance(value, float):
        raise InvalidValue(field, value, "build Decimals from str or int, never float")
    holds_no_float = _HOLDS_NO_FLOAT
    items = value.items() if isinstance(value, Mapping) else enumerate(value)  # type: ignore[arg-type]
    for key, item in items:
        # The common case (a Decimal, a dataclass) is one lookup: no call, no field name built.
        if not holds_no_float.get(type(item)):
            _refuse_float(item, f"{field}[{key}]")


def require_no_floats(instance: object) -> None:
    """Refuse a dataclass whose fields hold a float anywhere: money never passes through float.

    Raises:
        InvalidValue: a field, or a value in a field's mapping or tuple, is a float.
    """
    kind = type(instance)
    names = None if isinstance(instance, type) else _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(instance):
            raise InvalidValue("instance", kind.__name__, "must be a dataclass")
        names = tuple(item.name for item in fields(instance))
        if not isinstance(instance, type):
            _FIELD_NAMES[kind] = names
    holds_no_float = _HOLDS_NO_FLOAT
    for name in names:
        value = getattr(instance, name)
        if not (holds_no_float.get(type(value)) or _cannot_hold_float(type(value))):
            _refuse_float(value, name)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
"""Per dataclass: its field names (`dataclasses.fields` is slow for a check run per object)."""


def require_non_negative(value: Decimal, field: str) -> Decimal:
    """Return `value` if it is zero or more.

    Raises:
        InvalidValue: the value is a float.
        NegativeAmount: the value is below zero.
    """
    _refuse_float(value, field)
    if value < ZERO:
        raise NegativeAmount(field, value)
    return value


def require_fraction(value: Decimal, field: str) -> Decimal:
    """Return `value` if it lies in [0, 1].

    Raises:
        InvalidValue: the value is a float.
        FractionOutOfRange: the value is below 0 or above 1.
    """
    _refuse_float(value, field)
    if value < ZERO or value > ONE:
        raise FractionOutOfRange(field, value)
    return value


def require_aware(value: datetime, field: str) -> datetime:
    """Return `value` if it carries a timezone.

    Raises:
        NaiveDatetime: the datetime has no tzinfo.
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(field, value)
    return value


def round_usd(value: Decimal) -> Decimal:
    """Round a USD figure to cents, half-even (banker's rounding) for reports."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Convert a token amount to integer base units, rounding down so we never overspend.

    Raises:
        NegativeAmount: the amount is negative.
        InvalidValue: decimals is outside 0..36.
    """
    require_non_negative(amount, "amount")
    if not 0 <= decimals <= 36:
        raise InvalidValue("decimals", decimals, "must be between 0 and 36")
    scaled = (amount * (Decimal(10) ** decimals)).to_integral_value(rounding=ROUND_DOWN)
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    """Convert integer base units to a token amount, exactly.

    Raises:
        NegativeAmount: units is negative.
        InvalidValue: decimals is outside 0..36.
    """
    if units < 0:
        raise NegativeAmount("units", units)
    if not 0 <= decimals <= 36:
        raise InvalidValue("decimals", decimals, "must be between 0 and 36")
    return Decimal(units).scaleb(-decimals)


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """An exact amount of a currency (USD unless stated); refuses to mix currencies."""

    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount, "amount"))
        if not self.currency:
            raise InvalidValue("currency", self.currency, "must be named")

    @classmethod
    def usd(cls, amount: Decimal | int | str) -> Money:
        """Build a USD amount from an int, str or Decimal."""
        return cls(amount=to_decimal(amount, "amount"))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(amount=self.amount * to_decimal(factor, "factor"), currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def rounded(self) -> Money:
        """This amount rounded to cents."""
        return Money(amount=round_usd(self.amount), currency=self.currency)

    def __str__(self) -> str:
        return f"{round_usd(self.amount):,} {self.currency}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity:
    """An exact, non-negative amount of one asset; refuses to mix assets."""

    amount: Decimal
    asset: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount, "amount"))
        require_non_negative(self.amount, "amount")
        if not self.asset:
            raise InvalidValue("asset", self.asset, "must be named")

    def __add__(self, other: Quantity) -> Quantity:
        if other.asset != self.asset:
            raise CurrencyMismatch(self.asset, other.asset)
        return Quantity(amount=self.amount + other.amount, asset=self.asset)

    def __sub__(self, other: Quantity) -> Quantity:
        if other.asset != self.asset:
            raise CurrencyMismatch(self.asset, other.asset)
        return Quantity(amount=self.amount - other.amount, asset=self.asset)

    def value(self, price_usd: Decimal) -> Money:
        """The USD value of this quantity at a unit price."""
        return Money.usd(self.amount * price_usd)

    def to_base_units(self, decimals: int) -> int:
        """This quantity in integer base units (rounded down)."""
        return to_base_units(self.amount, decimals)
