"""A frozen domain value as its fields by name, and a domain value from a record's attributes.

The database rows (`adapters/persistence/codec.py`) and the API's answers
(`entrypoints/api/dto.py`) are built from the same domain values under the same field names;
these two functions are that one mapping, so each side names only what it stores or shows
differently (a nested value, a column that is not a field) instead of copying every field by
hand. A field added to a value then reaches a row as a column that must exist (or the row
refuses it), and never goes missing silently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import Field, fields
from enum import Enum
from typing import Any, ClassVar, Protocol, TypeVar


class DataclassValue(Protocol):
    """Any dataclass instance (what `dataclasses.fields` accepts)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


V = TypeVar("V", bound=DataclassValue)


def field_values(
    value: DataclassValue, /, *, omit: Collection[str] = (), **given: Any
) -> dict[str, Any]:
    """The value's fields by name, shallow, an enum as its value (its string); `omit` names
    fields left out and `given` replaces or adds entries.

    Raises:
        ValueError: `omit` names something that is not a field of the value.
    """
    names = [f.name for f in fields(value)]
    unknown = set(omit) - set(names)
    if unknown:
        raise ValueError(f"{type(value).__name__} has no field {sorted(unknown)}")
    plain: dict[str, Any] = {}
    for name in names:
        if name in omit:
            continue
        item = getattr(value, name)
        plain[name] = item.value if isinstance(item, Enum) else item
    plain.update(given)
    return plain


def from_attributes(kind: type[V], source: object, /, **given: Any) -> V:
    """A `kind` whose fields are `source`'s attributes of the same names, except those in
    `given`, which are taken as given (an enum from its stored string, a nested value).

    Raises:
        AttributeError: `source` lacks a field that is not given.
    """
    values = {f.name: getattr(source, f.name) for f in fields(kind) if f.name not in given}
    return kind(**values, **given)
