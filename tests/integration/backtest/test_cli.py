"""`treasury backtest` end to end: history in, terminal table and report files out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from entrypoints.cli.main import app

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _project_csv(path: Path, days: int = 400) -> Path:
    # A market that rises 0.3 % a day with MVRV Z climbing from 0.5 through the 3.5 rung.
    lines = ["date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed"]
    start = date(2022, 1, 1)
    for i in range(days):
        price = (Decimal(20_000) * Decimal("1.003") ** i).quantize(Decimal("0.01"))
        z = Decimal("0.5") + Decimal(i) / 100
        lines.append(f"{start + timedelta(days=i)},{price},,{z},0.0001,60")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _check_report(directory: Path) -> dict[str, Any]:
    payload = json.loads((directory / "backtest.json").read_text(encoding="utf-8"))
    # Our own file, just written: not untrusted input.
    svg_root = ET.parse(directory / "backtest.svg").getroot()  # noqa: S314
    assert svg_root.tag.endswith("svg")
    assert (directory / "backtest.png").read_bytes().startswith(PNG_SIGNATURE)
    page = (directory / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "backtest.svg" in page
    assert "Spec claim" in page
    return payload  # type: ignore[no-any-return]


def test_the_cli_backtests_a_project_csv_and_writes_json_svg_png_and_html(tmp_path: Path) -> None:
    data = _project_csv(tmp_path / "history.csv")
    out = tmp_path / "report"

    result = CliRunner().invoke(
        app, ["backtest", "--data", str(data), "--capital", "400000", "--report", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "static 60/40" in result.output
    payload = _check_report(out)
    assert payload["days"] == 400
    assert set(payload["curves"]) == {"strategy", "static_yield", "btc_hold", "static_60_40"}
    assert payload["trades"] > 0
    assert set(payload["phase_days"]) == {"accumulation", "euphoria", "top", "bear"}


def test_the_cli_replays_a_simulated_scenario(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["backtest", "--scenario", "crash", "--report", str(tmp_path / "r")]
    )

    assert result.exit_code == 0, result.output
    payload = _check_report(tmp_path / "r")
    assert payload["tactical_assets"] == ["WBTC", "WETH"]


def test_the_cli_refuses_a_missing_file_with_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "none.csv")])

    assert result.exit_code == 1
    assert "none.csv" in result.output


def test_the_cli_backtests_the_real_history_with_approvals_denied(
    real_history: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--data",
            str(real_history),
            "--from",
            "2018-01-01",
            "--to",
            "2025-12-31",
            "--deny-approvals",
            "--report",
            str(tmp_path),
        ],
    )

    assert result.exit_code == 0, result.output
    payload = _check_report(tmp_path)
    # Every first deployment of $400,000 has moves above $50,000, so nothing is ever deployed.
    assert payload["trades"] == 0
    assert payload["decisions"]["denied"] > 0


def test_the_real_2018_to_2025_run_matches_the_figures_in_the_docs(
    real_history: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--data",
            str(real_history),
            "--from",
            "2018-01-01",
            "--to",
            "2025-12-31",
            "--report",
            str(tmp_path),
        ],
    )

    assert result.exit_code == 0, result.output
    payload = _check_report(tmp_path)
    strategy = payload["curves"]["strategy"]
    assert strategy["end_value_usd"].startswith("1449351.")
    assert Decimal(strategy["sharpe_365_rf_zero"]).quantize(Decimal("0.01")) == Decimal("1.35")
    assert Decimal(strategy["sharpe_365_rf_static_yield"]).quantize(Decimal("0.01")) == Decimal(
        "0.83"
    )
    claims = payload["spec_claims"]
    assert claims["six_month_24_to_44pct"]["held"] is False
    assert claims["six_month_24_to_44pct"]["share_of_windows_inside"].startswith("0.108")
    multiple = claims["two_to_three_times_static_yield"]
    assert multiple["full_period_inside_range"] is True
    assert multiple["share_of_windows_below_static"].startswith("0.372")
    assert multiple["held"] is False


def test_a_history_long_enough_for_the_progress_bar_prints_its_table(tmp_path: Path) -> None:
    # From 1,000 days the replay shows a progress bar on rich's console; the console is loaded
    # lazily (entrypoints.cli.output), and handing rich a stand-in broke exactly this path.
    data = _project_csv(tmp_path / "history.csv", days=1_050)

    result = CliRunner().invoke(app, ["backtest", "--data", str(data)])

    assert result.exit_code == 0, result.output
    assert "static 60/40" in result.output
