"""Numbers and addresses that carry a rule are defined in one module each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def modules_defining(pattern: str) -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if re.search(pattern, path.read_text(encoding="utf-8")):
            found.append(str(path.relative_to(SRC)))
    return found


@pytest.mark.parametrize(
    ("what", "pattern", "home"),
    [
        ("the static yield 6.5 %", r"""Decimal\(["']0\.065["']\)""", "domain/baselines.py"),
        (
            "block explorer URLs",
            r"https://[a-z.]*(etherscan|arbiscan|basescan)\.",
            "domain/execution.py",
        ),
        ("an approval step's name", r"""=\s*["']approve["']""", "domain/execution.py"),
    ],
)
def test_a_value_that_carries_a_rule_has_one_home(what: str, pattern: str, home: str) -> None:
    assert modules_defining(pattern) == [home], f"{what} must be defined in {home} only"
