"""The live state file is written atomically with the spec's field names and exact numbers."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.persistence.state_file import read_state_file, write_state_file
from tests.contracts.persistence import EXACT, make_state


def test_the_state_file_uses_the_spec_field_names_and_exact_numbers(tmp_path: Path) -> None:
    state = make_state(cash=str(EXACT))
    path = write_state_file(state, tmp_path / "var" / "portfolio_state.json")
    text = path.read_text()
    data = json.loads(text, parse_float=Decimal)
    assert list(data)[:8] == [
        "total_value_usd",
        "positions",
        "cash_balance",
        "allocations",
        "last_rebalance",
        "performance_24h",
        "performance_7d",
        "performance_30d",
    ]
    assert data["cash_balance"] == EXACT
    assert f'"cash_balance": {EXACT}' in text  # a JSON number, not a string, not a float
    assert set(data["positions"][0]) >= {
        "protocol",
        "asset",
        "amount",
        "value_usd",
        "apy",
        "entered_at",
        "current_return",
    }
    assert data["allocations"]["base_yield"]["target"] == Decimal("0.6")
    assert data["performance_30d"] is None


def test_the_state_file_reads_back_to_the_same_state(tmp_path: Path) -> None:
    state = make_state(cash=str(EXACT))
    path = write_state_file(state, tmp_path / "state.json")
    assert read_state_file(path) == replace(state, extra={})  # `extra` is not in the spec


def test_a_rewrite_replaces_the_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state_file(make_state(cash="1"), path)
    inode_before = path.stat().st_ino
    write_state_file(make_state(cash="2"), path)
    assert json.loads(path.read_text(), parse_float=Decimal)["cash_balance"] == Decimal(2)
    assert path.stat().st_ino != inode_before  # renamed into place, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_state_file(make_state(cash="1"), path)
    before = path.read_text()

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_state_file(make_state(cash="2"), path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
