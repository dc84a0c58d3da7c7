"""`treasury backtest --tune-from ... --test-to ...`: the walk-forward report end to end."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from entrypoints.cli.main import app

WAVE = [Decimal(v) for v in ("0.8", "1.5", "2.5", "4", "6", "8", "9.5", "6", "3", "0.5", "-0.5")]


def _cycles_csv(path: Path, days: int = 440) -> Path:
    """Two years of a market that rises with MVRV Z through the ladder and falls back, twice."""
    lines = ["date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed"]
    start = date(2022, 1, 1)
    for i in range(days):
        z = WAVE[(i // 20) % len(WAVE)]
        price = (Decimal(20_000) * (1 + z / 10) * Decimal("1.001") ** i).quantize(Decimal("0.01"))
        lines.append(f"{start + timedelta(days=i)},{price},,{z},0.0001,60")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_walk_forward_report_lists_the_grid_the_choice_and_the_test_window(
    tmp_path: Path,
) -> None:
    data = _cycles_csv(tmp_path / "history.csv")
    out = tmp_path / "report"

    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--data",
            str(data),
            "--tune-from",
            "2022-01-01",
            "--tune-to",
            "2022-08-31",
            "--test-from",
            "2022-09-01",
            "--test-to",
            "2023-03-16",
            "--report",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Test window 2022-09-01 to 2023-03-16" in result.output
    payload = json.loads((out / "walk_forward.json").read_text(encoding="utf-8"))
    assert len(payload["grid"]) == 24
    assert payload["grid"][0]["is_default"] is True
    names = {row["name"] for row in payload["grid"]}
    assert payload["chosen"] in names
    assert payload["windows"]["test"] == {"from": "2022-09-01", "to": "2023-03-16"}
    assert set(payload["test_window"]) == {
        "chosen",
        "default",
        "static_yield",
        "btc_hold",
        "static_60_40",
    }
    for figures in payload["test_window"].values():
        assert {"annualised_return", "max_drawdown", "sharpe_365_rf_zero"} <= set(figures)
    assert isinstance(payload["adopted"], bool)
    assert payload["verdict"]


def test_walk_forward_needs_all_four_dates(tmp_path: Path) -> None:
    data = _cycles_csv(tmp_path / "history.csv", days=30)

    result = CliRunner().invoke(app, ["backtest", "--data", str(data), "--tune-from", "2022-01-01"])

    assert result.exit_code != 0
    assert "--tune-to" in result.output
