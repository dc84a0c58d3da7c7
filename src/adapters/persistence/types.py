"""Column types that keep money exact and times in UTC on every database.

SQLite has no exact decimal type (its NUMERIC affinity may store REAL), so `ExactDecimal` keeps
amounts as text there and as NUMERIC(38, 18) on PostgreSQL. `UtcDateTime` stores aware UTC
times and always reads them back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

SCALE = 18
PRECISION = 38
_QUANTUM = Decimal(1).scaleb(-SCALE)
_CONTEXT = Context(prec=PRECISION + 2)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly with 18 decimal places: NUMERIC(38, 18), or text on SQLite."""

    impl = Numeric(PRECISION, SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Text on SQLite, NUMERIC(38, 18) elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(PRECISION + 2))
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Refuse floats; round to 18 places (half-even, like NUMERIC) for SQLite's text."""
        if value is None:
            return None
        if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
            raise TypeError(f"ExactDecimal takes Decimal or int, not {type(value).__name__}")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError(f"ExactDecimal cannot store {amount}")
        if amount != 0 and amount.adjusted() >= PRECISION - SCALE:
            raise ValueError(f"{amount} has more than {PRECISION - SCALE} integer digits")
        if dialect.name == "sqlite":
            return format(amount.quantize(_QUANTUM, context=_CONTEXT), "f")
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Always a Decimal (never float)."""
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware time stored in UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Convert to UTC; SQLite keeps naive UTC text."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"UtcDateTime needs a timezone-aware datetime, got {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Always aware UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
