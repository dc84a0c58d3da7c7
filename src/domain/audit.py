"""The append-only audit trail: entries, their canonical JSON, and the hash chain that seals them.

Each entry stores `hash = sha256(prev_hash + canonical_json(entry))`, where `prev_hash` is the
hash of the entry before it (64 zeros for the first). Editing, inserting or deleting any entry
but the last breaks every hash after it, so `verify_chain` names the first row that no longer
fits. (Deleting the newest rows leaves a shorter valid chain; an outside copy of the head hash
catches that.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import TypeAlias

from domain.errors import InvalidValue
from domain.money import require_aware

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry."""

JsonValue: TypeAlias = "bool | int | str | list[JsonValue] | dict[str, JsonValue] | None"


def to_json_value(value: object, path: str = "payload") -> JsonValue:
    """Turn a payload into plain JSON values: Decimals, datetimes, dates and enums become strings.

    Datetimes must be timezone-aware and are rendered in UTC (ISO 8601). Tuples become lists.

    Raises:
        InvalidValue: a float (money is never float), a naive datetime, a non-string mapping
            key, text that is not valid Unicode (a lone surrogate), or a type JSON cannot hold.
    """
    if isinstance(value, str):
        return _text(value, path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_json_value(value.value, path)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        raise InvalidValue(path, value, "floats are not allowed; use Decimal or str")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValue(path, value, "must be finite")
        return str(value)
    if isinstance(value, datetime):
        return require_aware(value, path).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            name = key.value if isinstance(key, Enum) else key
            if not isinstance(name, str):
                raise InvalidValue(path, key, "mapping keys must be strings")
            name = _text(name, f"{path} key")
            result[name] = to_json_value(item, f"{path}.{name}")
        return result
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidValue(path, type(value).__name__, "cannot be written to the audit log")


def _text(value: str, path: str) -> str:
    """Return `value` if it can be stored as UTF-8 (a lone surrogate cannot, nor hashed).

    Raises:
        InvalidValue: the text holds a lone surrogate.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(
            path,
            value.encode("utf-8", "backslashreplace").decode("ascii"),
            "is not valid Unicode text",
        ) from exc
    return value


def canonical_json(value: object) -> str:
    """Canonical JSON: sorted keys, no whitespace, Decimal and datetime rendered as strings.

    Raises:
        InvalidValue: the value holds something `to_json_value` refuses.
    """
    return json.dumps(
        to_json_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def chain_hash(prev_hash: str, canonical: str) -> str:
    """SHA-256 (hex) of the previous entry's hash followed by this entry's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One sealed audit row. `seq` counts from 1 without gaps; `payload` is plain JSON values."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: Mapping[str, JsonValue] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise InvalidValue("seq", self.seq, "must be 1 or more")
        require_aware(self.at, "at")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        for name in ("actor", "action", "subject_type"):
            if not getattr(self, name):
                raise InvalidValue(name, getattr(self, name), "must not be empty")
        object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    def body(self) -> dict[str, object]:
        """What the hash covers: every field except the two hashes."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "payload": dict(self.payload),
        }

    def canonical(self) -> str:
        """This entry's canonical JSON (the text the hash seals)."""
        return canonical_json(self.body())

    def expected_hash(self) -> str:
        """The hash this entry should carry given its `prev_hash`."""
        return chain_hash(self.prev_hash, self.canonical())


def seal_entry(
    *,
    after_seq: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    payload: Mapping[str, object],
) -> AuditEntry:
    """Build the entry that follows the head (`after_seq` 0 and GENESIS_HASH for the first).

    Raises:
        InvalidValue: the payload holds a float or an unserialisable value, or a field is empty.
    """
    plain = to_json_value(payload)
    if not isinstance(plain, dict):  # pragma: no cover - a Mapping always becomes a dict
        raise InvalidValue("payload", payload, "must be a mapping")
    draft = AuditEntry(
        seq=after_seq + 1,
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=plain,
        prev_hash=prev_hash,
    )
    return replace(draft, hash=draft.expected_hash())


def verify_chain(
    entries: Iterable[AuditEntry], *, start_seq: int = 1, prev_hash: str = GENESIS_HASH
) -> int | None:
    """Walk entries in `seq` order and return the seq of the first that breaks the chain.

    An entry breaks the chain when its seq is not the previous plus one (a row was removed or
    inserted), its `prev_hash` is not the previous entry's hash, or its own hash does not match
    its content. Returns None when every entry fits. `start_seq` and `prev_hash` let a caller
    verify a long log in batches, continuing after the last entry of the previous batch.
    """
    expected_seq = start_seq
    expected_prev = prev_hash
    for entry in entries:
        if (
            entry.seq != expected_seq
            or entry.prev_hash != expected_prev
            or entry.hash != entry.expected_hash()
        ):
            return entry.seq
        expected_seq = entry.seq + 1
        expected_prev = entry.hash
    return None
