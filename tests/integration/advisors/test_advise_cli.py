"""`treasury advise --json`: the configured advisor's decision now, nothing executed."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from domain.portfolio import PortfolioState
from entrypoints.cli.main import app
from tests.integration.advisors.conftest import API_KEY
from tests.integration.advisors.fake_messages_api import FakeMessagesApi, tool_reply
from tests.integration.advisors.test_claude_cycle import decision_input


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh data directory (no database yet) and no Anthropic settings from the machine."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "TREASURY_ADVISOR", "TREASURY_MODE"):
        monkeypatch.delenv(name, raising=False)
    return {"TREASURY_DATA_DIR": str(tmp_path / "var"), "TREASURY_MARKET_DATA": "simulated"}


def migrated_database(env: dict[str, str], sqlite_template: Path) -> Path:
    """The data directory's database, migrated and empty."""
    path = Path(env["TREASURY_DATA_DIR"]) / "treasury.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def stocked(env: dict[str, str], sqlite_template: Path) -> dict[str, str]:
    """`env` with a database holding one portfolio snapshot: $400,000 of idle USDC."""
    path = migrated_database(env, sqlite_template)

    async def store() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with SqlUnitOfWorkFactory(engine)() as uow:
                await uow.snapshots.add(
                    PortfolioState.build(
                        positions=(), cash_balance=Decimal(400_000), as_of=datetime.now(UTC)
                    )
                )
                await uow.commit()
        finally:
            await engine.dispose()

    asyncio.run(store())
    return env


def test_advise_in_paper_mode_prints_the_rules_decision_as_json(stocked: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["advise", "--json"], env=stocked)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["advisor"] == "rules"
    assert body["configured_advisor"] == "rules"
    assert body["executed"] is False
    assert body["decision"] in {"hold", "rebalance", "emergency_exit"}
    assert sum(float(v) for v in body["target_allocations"].values()) == pytest.approx(1)
    assert body["risk_assessment"] in {"low", "medium", "high"}
    assert 0 <= float(body["confidence"]) <= 1


def test_advise_with_claude_configured_asks_the_messages_api(
    stocked: dict[str, str], messages_api: FakeMessagesApi
) -> None:
    messages_api.add(tool_reply(decision_input()))
    env = stocked | {
        "TREASURY_ADVISOR": "claude",
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": messages_api.base_url,
    }

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["advisor"] == "claude"
    assert body["decision"] == "rebalance"
    assert body["target_allocations"] == {"base_yield": "0.6", "tactical": "0.24", "cash": "0.16"}
    assert body["metadata"]["cost_usd"] == "0.008015"
    assert len(messages_api.requests) == 1
    assert API_KEY not in result.output


def test_advise_with_claude_but_no_key_says_why_the_rules_decided(stocked: dict[str, str]) -> None:
    env = stocked | {"TREASURY_ADVISOR": "claude"}
    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["advisor"] == "rules"
    assert body["configured_advisor"] == "claude"
    assert body["fallback_reason"] == (
        "claude unavailable: no API key configured (ANTHROPIC_API_KEY)"
    )


def test_advise_prints_a_table_for_people(stocked: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["advise"], env=stocked)

    assert result.exit_code == 0, result.output
    assert "Advice (not executed)" in result.output
    assert "rules" in result.output


def test_advise_json_shows_the_plan_and_verdict_the_policy_would_make_of_a_greedy_advice(
    stocked: dict[str, str], messages_api: FakeMessagesApi
) -> None:
    messages_api.add(tool_reply(decision_input(base="0.05", tactical="0.95", cash="0")))
    env = stocked | {
        "TREASURY_ADVISOR": "claude",
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": messages_api.base_url,
    }

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["target_allocations"]["tactical"] == "0.95"
    policy = body["policy"]
    signal = {k: Decimal(v) for k, v in body["signal"]["target_allocations"].items()}
    planned = {k: Decimal(v) for k, v in policy["targets"].items()}
    assert all(abs(planned[k] - signal[k]) <= Decimal("0.10") for k in signal)
    deviation = next(r for r in policy["verdict"]["rules"] if r["rule"] == "max_advisor_deviation")
    assert deviation["passed"] is False
    assert "95.00%" in deviation["message"]
    assert policy["plan"] is not None
    assert policy["plan"]["required_transactions"]
    assert policy["verdict"]["outcome"] in {"allowed", "needs_approval", "rejected"}


def test_advise_in_paper_mode_without_a_snapshot_invents_no_portfolio(
    env: dict[str, str],
) -> None:
    env |= {"TREASURY_PAPER_CAPITAL_USD": "250000"}

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 3, result.output  # not found: there is no portfolio to advise on
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "no portfolio snapshot" in lines[0]
    assert "250,000" not in result.output
    assert result.stdout == ""
    assert not (Path(env["TREASURY_DATA_DIR"]) / "treasury.db").exists()


def test_advise_in_live_mode_without_a_snapshot_invents_no_portfolio(env: dict[str, str]) -> None:
    env |= {"TREASURY_MODE": "live"}

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 3, result.output  # not found: there is no portfolio to advise on
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "no portfolio snapshot" in lines[0]
    assert "treasury serve" in lines[0]


def test_advise_with_a_database_but_no_snapshot_invents_no_portfolio(
    env: dict[str, str], sqlite_template: Path
) -> None:
    migrated_database(env, sqlite_template)

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "no portfolio snapshot to advise on (the database holds no snapshot)" in lines[0]
