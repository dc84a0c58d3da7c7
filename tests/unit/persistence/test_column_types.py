"""Column types keep money exact and times aware, whatever the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from adapters.persistence.types import ExactDecimal, UtcDateTime

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()


def test_sqlite_keeps_amounts_as_exact_decimal_text_with_18_places() -> None:
    widest = Decimal("12345678901234567890.123456789012345678")
    stored = ExactDecimal().process_bind_param(widest, SQLITE)
    assert stored == "12345678901234567890.123456789012345678"
    assert ExactDecimal().process_result_value(stored, SQLITE) == widest
    assert ExactDecimal().process_bind_param(Decimal("0.1"), SQLITE) == "0.100000000000000000"


def test_postgres_gets_the_decimal_itself() -> None:
    assert ExactDecimal().process_bind_param(Decimal("1.5"), POSTGRES) == Decimal("1.5")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.5, id="float"),
        pytest.param(Decimal("Infinity"), id="infinite"),
        pytest.param(Decimal("123456789012345678901"), id="21-integer-digits"),
        pytest.param("1.5", id="string"),
    ],
)
def test_amounts_that_cannot_be_stored_exactly_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        ExactDecimal().process_bind_param(value, SQLITE)


def test_times_are_stored_in_utc_and_read_back_aware() -> None:
    local = datetime(2026, 3, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    stored = UtcDateTime().process_bind_param(local, SQLITE)
    assert stored == datetime(2026, 3, 1, 12)  # noqa: DTZ001 - SQLite keeps naive UTC
    assert UtcDateTime().process_result_value(stored, SQLITE) == local
    assert UtcDateTime().process_bind_param(local, POSTGRES).tzinfo is UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        UtcDateTime().process_bind_param(datetime(2026, 3, 1), SQLITE)  # noqa: DTZ001
