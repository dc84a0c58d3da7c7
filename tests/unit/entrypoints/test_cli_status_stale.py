"""`treasury status` says which position could not be read and shows its last value as such."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from entrypoints.cli import client
from entrypoints.cli.client import register

runner = CliRunner()
app = typer.Typer()
register(app)

STATUS: dict[str, Any] = {
    "age_seconds": 3,
    "stale": False,
    "stale_reason": None,
    "total_value_usd": 232000,
    "cash_balance": 64000,
    "positions": [
        {
            "protocol": "aave",
            "asset": "USDC",
            "amount": 96000,
            "value_usd": 96000,
            "apy": 0.05,
            "current_return": 0,
            "chain": "ethereum",
            "stale": False,
            "stale_reason": None,
        },
        {
            "protocol": "pendle",
            "asset": "PT-USDC",
            "amount": 72000,
            "value_usd": 72000,
            "apy": 0.07,
            "current_return": 0,
            "chain": "ethereum",
            "stale": True,
            "stale_reason": "pendle: connection refused; value as read at 2026-03-02T11:00:00",
        },
    ],
    "allocations": {},
}


def test_status_marks_the_stale_position_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(self: Any, method: str, path: str, body: Any = None) -> Any:
        assert path == "/portfolio/status"
        return STATUS

    monkeypatch.setattr(client.ServiceClient, "request", answer)
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200", "TREASURY_API_TOKEN": "x"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = [line for line in lines if "│" in line]
    [pendle] = [line for line in rows if "PT-USDC" in line]
    [aave] = [line for line in rows if "aave" in line]
    assert "stale" in pendle
    assert "stale" not in aave
    assert "connection refused" in result.stdout
