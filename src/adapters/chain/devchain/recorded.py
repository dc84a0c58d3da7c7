"""Payloads recorded from the real services, the material the loopback fakes answer with.

See `payloads/README.md` for each file's source URL, date, and whether it is a real recording
or a documented example. Every call returns a fresh copy: callers may edit what they get.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

PAYLOADS_DIR = Path(__file__).parent / "payloads"


@cache
def _text(name: str) -> str:
    return (PAYLOADS_DIR / name).read_text(encoding="utf-8")


def recorded_text(name: str) -> str:
    """The payload file `name` as recorded, byte for byte."""
    return _text(name)


def recorded(name: str) -> Any:
    """The payload file `name`, parsed with numbers as Decimal (a fresh copy each call)."""
    return json.loads(_text(name), parse_float=Decimal)


__all__ = ["PAYLOADS_DIR", "recorded", "recorded_text"]
