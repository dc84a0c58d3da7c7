"""`treasury advise --json`: the configured advisor's decision now, nothing executed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

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


def test_advise_in_paper_mode_prints_the_rules_decision_as_json(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["advisor"] == "rules"
    assert body["configured_advisor"] == "rules"
    assert body["executed"] is False
    assert body["decision"] in {"hold", "rebalance", "emergency_exit"}
    assert sum(float(v) for v in body["target_allocations"].values()) == pytest.approx(1)
    assert body["risk_assessment"] in {"low", "medium", "high"}
    assert 0 <= float(body["confidence"]) <= 1
    assert any("paper starting state" in n for n in body["notes"])
    assert not (Path(env["TREASURY_DATA_DIR"]) / "treasury.db").exists()


def test_advise_with_claude_configured_asks_the_messages_api(
    env: dict[str, str], messages_api: FakeMessagesApi
) -> None:
    messages_api.add(tool_reply(decision_input()))
    env |= {
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


def test_advise_with_claude_but_no_key_says_why_the_rules_decided(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["advise", "--json"], env=env | {"TREASURY_ADVISOR": "claude"})

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["advisor"] == "rules"
    assert body["configured_advisor"] == "claude"
    assert body["fallback_reason"] == (
        "claude unavailable: no API key configured (ANTHROPIC_API_KEY)"
    )


def test_advise_prints_a_table_for_people(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["advise"], env=env)

    assert result.exit_code == 0, result.output
    assert "Advice (not executed)" in result.output
    assert "rules" in result.output


def test_advise_json_shows_the_plan_and_verdict_the_policy_would_make_of_a_greedy_advice(
    env: dict[str, str], messages_api: FakeMessagesApi
) -> None:
    messages_api.add(tool_reply(decision_input(base="0.05", tactical="0.95", cash="0")))
    env |= {
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


def test_advise_in_paper_mode_without_a_snapshot_starts_from_the_configured_capital(
    env: dict[str, str],
) -> None:
    env |= {"TREASURY_PAPER_CAPITAL_USD": "250000"}

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert any("$250,000 in USDC" in n for n in body["notes"]), body["notes"]
    plan = (body.get("policy") or {}).get("plan")
    if plan is not None:
        assert sum(t["amount_usd"] for t in plan["required_transactions"]) <= 250_000


def test_advise_in_live_mode_without_a_snapshot_invents_no_portfolio(env: dict[str, str]) -> None:
    env |= {"TREASURY_MODE": "live"}

    result = CliRunner().invoke(app, ["advise", "--json"], env=env)

    assert result.exit_code == 3, result.output  # not found: there is no portfolio to advise on
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "no portfolio snapshot" in lines[0]
    assert "treasury serve" in lines[0]
