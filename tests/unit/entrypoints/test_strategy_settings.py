"""One StrategyConfig, built once from `TREASURY_` settings, feeds planner, policy and prompt."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.advisors.prompt import system_prompt
from entrypoints.container import AppSettings, strategy_for
from entrypoints.settings.strategy import StrategySettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("TREASURY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))


def test_the_approval_threshold_set_in_the_environment_reaches_planner_and_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_APPROVAL_THRESHOLD_USD", "20000")

    strategy = strategy_for(AppSettings.load())

    assert strategy.limits.approval_threshold_usd == Decimal(20_000)
    assert strategy.planner.approval_threshold_usd == Decimal(20_000)
    assert "$20,000" in system_prompt(strategy.limits, strategy.signal)


def test_the_gas_cap_quoted_to_claude_is_the_one_set_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_GAS_CAP_GWEI", "40")
    monkeypatch.setenv("TREASURY_MAX_GAS_SHARE", "0.02")

    strategy = strategy_for(AppSettings.load())

    assert strategy.limits.gas_price_cap_gwei == Decimal(40)
    assert strategy.planner.max_gas_share == Decimal("0.02")
    assert "above 40 gwei" in system_prompt(strategy.limits, strategy.signal)


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        pytest.param("MAX_TRADES_PER_DAY", "4", lambda s: s.limits.max_trades_per_day, id="trades"),
        pytest.param(
            "MAX_VOLATILE_SHARE", "0.3", lambda s: s.planner.max_volatile_share, id="volatile"
        ),
        pytest.param(
            "MAX_SINGLE_POSITION_SHARE",
            "0.2",
            lambda s: s.limits.max_single_position_share,
            id="position",
        ),
        pytest.param("DRIFT_BAND", "0.08", lambda s: s.drift_band, id="drift-band"),
        pytest.param(
            "CASH_BUFFER_SHARE", "0.03", lambda s: s.planner.cash_buffer_share, id="cash-buffer"
        ),
        pytest.param(
            "MAX_ADVISOR_DEVIATION", "0.15", lambda s: s.limits.max_advisor_deviation, id="advisor"
        ),
        pytest.param(
            "SLIPPAGE_BUDGET_SHARE", "0.02", lambda s: s.limits.slippage_budget.fraction, id="slip"
        ),
    ],
)
def test_each_strategy_setting_reaches_the_strategy_config(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: object
) -> None:
    monkeypatch.setenv(f"TREASURY_{name}", value)

    strategy = strategy_for(AppSettings.load())

    assert read(strategy) == Decimal(value)  # type: ignore[operator]


def test_defaults_are_the_spec_numbers() -> None:
    from domain.strategy import StrategyConfig

    assert strategy_for(AppSettings.load()) == StrategyConfig()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("MAX_VOLATILE_SHARE", "1.5", id="share-above-one"),
        pytest.param("APPROVAL_THRESHOLD_USD", "-1", id="negative-threshold"),
        pytest.param("MAX_TRADES_PER_DAY", "ten", id="not-a-number"),
        pytest.param("GAS_CAP_GWEI", "0", id="zero-gas-cap"),
    ],
)
def test_a_limit_out_of_range_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"TREASURY_{name}", value)

    with pytest.raises(ValidationError, match=name.lower()):
        AppSettings.load()


def test_every_strategy_setting_is_listed_in_the_configuration_docs_with_its_default() -> None:
    readme = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, info in StrategySettings.model_fields.items():
        row = next(
            (line for line in readme.splitlines() if f"`TREASURY_{name.upper()}`" in line), None
        )
        assert row is not None, f"TREASURY_{name.upper()} is not in docs/configuration.md"
        default = "off" if info.default is None else info.default
        assert f"`{default}`" in row, f"docs/configuration.md row of {name} lacks its default"


def test_a_limit_out_of_range_stops_the_service_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from entrypoints.cli.main import app

    monkeypatch.setenv("TREASURY_MAX_VOLATILE_SHARE", "1.5")

    result = CliRunner().invoke(app, ["paper", "--cycles", "1"])

    assert result.exit_code == 2  # invalid input: a setting
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "TREASURY_MAX_VOLATILE_SHARE" in lines[0]
    assert "1.5" in lines[0]
