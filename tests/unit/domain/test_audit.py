"""The audit chain: canonical JSON, hashing, sealing and verification."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    canonical_json,
    chain_hash,
    seal_entry,
    verify_chain,
)
from domain.decisions import DecisionStatus
from domain.errors import InvalidValue

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        head = entries[-1] if entries else None
        entries.append(
            seal_entry(
                after_seq=head.seq if head else 0,
                prev_hash=head.hash if head else GENESIS_HASH,
                at=T0 + timedelta(minutes=i),
                actor="operator",
                action="decision.approved",
                subject_type="decision",
                subject_id=f"dec-{i}",
                payload={"amount_usd": Decimal("51234.56"), "step": i},
            )
        )
    return entries


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": True, "c": None}}) == (
        '{"a":{"c":null,"d":true},"b":1}'
    )


def test_canonical_json_renders_decimals_times_dates_and_enums_as_strings() -> None:
    text = canonical_json(
        {
            "amount": Decimal("0.100000000000000001"),
            "at": datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
            "day": date(2026, 3, 1),
            "status": DecisionStatus.APPROVED,
            "steps": (1, 2),
        }
    )
    assert text == (
        '{"amount":"0.100000000000000001","at":"2026-03-01T12:30:00+00:00",'
        '"day":"2026-03-01","status":"approved","steps":[1,2]}'
    )


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"amount": 0.1}, id="float"),
        pytest.param({"at": datetime(2026, 3, 1)}, id="naive-datetime"),  # noqa: DTZ001
        pytest.param({"amount": Decimal("NaN")}, id="nan"),
        pytest.param({1: "x"}, id="non-string-key"),
        pytest.param({"x": object()}, id="unserialisable"),
    ],
)
def test_canonical_json_refuses_values_that_would_not_round_trip_exactly(
    payload: dict[object, object],
) -> None:
    with pytest.raises(InvalidValue):
        canonical_json(payload)


def test_chain_hash_is_sha256_of_previous_hash_then_canonical_json() -> None:
    expected = hashlib.sha256((GENESIS_HASH + '{"a":1}').encode()).hexdigest()
    assert chain_hash(GENESIS_HASH, '{"a":1}') == expected


def test_sealed_entries_link_to_their_predecessor_and_count_from_one() -> None:
    entries = chain(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].hash == chain_hash(entries[1].hash, entries[2].canonical())
    assert entries[0].payload["amount_usd"] == "51234.56"


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(chain(5)) is None
    assert verify_chain([]) is None


def test_an_edited_payload_is_reported_at_its_row() -> None:
    entries = chain(5)
    entries[2] = replace(entries[2], payload={"amount_usd": "1.00", "step": 2})
    assert verify_chain(entries) == 3


def test_rehashing_an_edited_row_still_breaks_the_next_row() -> None:
    entries = chain(5)
    forged = replace(entries[1], actor="mallory")
    entries[1] = replace(forged, hash=forged.expected_hash())
    assert verify_chain(entries) == 3


def test_a_deleted_row_is_reported_where_the_gap_starts() -> None:
    entries = chain(5)
    del entries[1]
    assert verify_chain(entries) == 3


def test_verification_can_resume_after_a_batch() -> None:
    entries = chain(6)
    assert verify_chain(entries[3:], start_seq=4, prev_hash=entries[2].hash) is None
    assert verify_chain(entries[3:], start_seq=4, prev_hash=GENESIS_HASH) == 4


def test_entry_times_are_kept_in_utc() -> None:
    local = datetime(2026, 3, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    entry = seal_entry(
        after_seq=0,
        prev_hash=GENESIS_HASH,
        at=local,
        actor="a",
        action="b",
        subject_type="c",
        subject_id="d",
        payload={},
    )
    assert entry.at == T0
    assert entry.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("seq", 0, id="seq-zero"),
        pytest.param("actor", "", id="no-actor"),
        pytest.param("at", datetime(2026, 3, 1), id="naive-time"),  # noqa: DTZ001
    ],
)
def test_entries_refuse_invalid_fields(field: str, value: object) -> None:
    fields: dict[str, object] = {
        "seq": 1,
        "at": T0,
        "actor": "a",
        "action": "b",
        "subject_type": "c",
        "subject_id": "d",
    }
    fields[field] = value
    with pytest.raises(InvalidValue):
        AuditEntry(**fields)  # type: ignore[arg-type]
