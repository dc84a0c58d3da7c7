"""Claude adapter pieces without the network: model choice, tool schema, parsing, cost, prompt
and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from adapters.advisors.claude import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    MIN_MAX_TOKENS,
    AllocationDecisionInput,
    ClaudeAdvisor,
    deprecated_models,
    estimate_cost_usd,
    known_models,
    parse_tool_input,
    tool_definition,
)
from adapters.advisors.prompt import outcome_summary, system_prompt, user_message
from application.errors import AdvisorUnavailable
from application.ports.advisor import AdvisorRequest
from application.ports.persistence import DecisionOutcome
from domain.safety import SafetyLimits
from domain.signals import SignalConfig, generate_signal
from domain.tactical import RatchetState
from entrypoints.settings.advisor import AdvisorSettings
from tests.unit.domain.builders import NOW, balanced_400k, market

D = Decimal


def test_the_default_model_is_a_current_sonnet_from_the_installed_sdk() -> None:
    assert DEFAULT_MODEL == "claude-sonnet-5-5"
    assert DEFAULT_MODEL in known_models()
    assert DEFAULT_MODEL not in deprecated_models()
    assert "sonnet" in DEFAULT_MODEL


def test_the_tool_schema_is_the_spec_output_without_requires_approval() -> None:
    tool = tool_definition()
    schema = tool["input_schema"]

    assert tool["name"] == "submit_allocation_decision"
    assert schema["required"] == [
        "decision",
        "target_allocations",
        "reasoning",
        "risk_assessment",
        "confidence",
    ]
    assert schema["properties"]["decision"]["enum"] == ["hold", "rebalance", "emergency_exit"]
    assert schema["properties"]["risk_assessment"]["enum"] == ["low", "medium", "high"]
    assert schema["properties"]["confidence"] == {
        "maximum": 1,
        "minimum": 0,
        "title": "Confidence",
        "type": "number",
    }
    assert "requires_approval" not in json.dumps(schema)
    generated = AllocationDecisionInput.model_json_schema()
    assert schema["properties"] == generated["properties"]
    assert schema["additionalProperties"] is False


def _input(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "decision": "rebalance",
        "target_allocations": {"base_yield": D("0.6"), "tactical": D("0.3"), "cash": D("0.1")},
        "reasoning": "MVRV at 6.2 indicates late euphoria.",
        "risk_assessment": "medium",
        "confidence": D("0.7"),
    }
    raw.update(changes)
    return raw


def test_tool_input_keeps_decimals_exact() -> None:
    parsed = parse_tool_input(_input())

    assert parsed.target_allocations.tactical == D("0.3")
    assert isinstance(parsed.confidence, Decimal)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"decision": "yolo"}, "decision", id="unknown-decision"),
        pytest.param({"risk_assessment": "extreme"}, "risk_assessment", id="unknown-risk"),
        pytest.param({"confidence": D("1.2")}, "confidence", id="confidence-above-one"),
        pytest.param({"reasoning": ""}, "reasoning", id="empty-reasoning"),
        pytest.param(
            {"target_allocations": {"base_yield": D("0.6"), "tactical": D("0.4")}},
            "target_allocations.cash",
            id="missing-bucket",
        ),
        pytest.param(
            {"target_allocations": {"base_yield": D("0.7"), "tactical": D("0.4"), "cash": D(0)}},
            "must sum to 1",
            id="sum-above-one",
        ),
        pytest.param(
            {"target_allocations": {"base_yield": D("1.1"), "tactical": D(0), "cash": D(-0.1)}},
            "base_yield",
            id="fraction-out-of-range",
        ),
    ],
)
def test_invalid_tool_input_is_refused_with_the_field_named(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(AdvisorUnavailable) as raised:
        parse_tool_input(_input(**changes))

    assert raised.value.advisor == "claude"
    assert raised.value.reason.startswith("invalid tool input")
    assert problem in raised.value.reason


def test_an_extra_requires_approval_field_is_ignored_not_trusted() -> None:
    parsed = parse_tool_input(_input(requires_approval=False))

    assert "requires_approval" not in parsed.model_dump()


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        pytest.param(
            "claude-sonnet-5-5",
            {"input_tokens": 1_000_000, "output_tokens": 0},
            D(3),
            id="sonnet-input",
        ),
        pytest.param(
            "claude-sonnet-5-5",
            {"input_tokens": 0, "output_tokens": 1_000_000},
            D(15),
            id="sonnet-output",
        ),
        pytest.param(
            "claude-opus-5-5",
            {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1_000_000},
            D("6.25"),
            id="opus-cache-write",
        ),
        pytest.param(
            "claude-haiku-5-5",
            {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 1_000_000},
            D("0.1"),
            id="haiku-cache-read",
        ),
    ],
)
def test_cost_is_estimated_from_usage_and_list_prices(
    model: str, usage: dict[str, int], expected: Decimal
) -> None:
    assert estimate_cost_usd(model, usage) == expected


def test_cost_of_an_unknown_model_family_is_unknown() -> None:
    assert estimate_cost_usd("claude-fable-5-2", {"input_tokens": 10}) is None


async def test_without_a_key_the_adapter_refuses_before_any_request() -> None:
    signal, _ = generate_signal(market(), RatchetState(), NOW)
    request = AdvisorRequest(
        market=market(), portfolio=balanced_400k(), signal=signal, limits=SafetyLimits()
    )

    with pytest.raises(AdvisorUnavailable, match="no API key configured"):
        await ClaudeAdvisor(api_key=None).advise(request)


def test_the_system_prompt_states_the_strategy_the_mvrv_table_and_every_limit() -> None:
    text = system_prompt(SafetyLimits(), SignalConfig())

    for expected in (
        "| MVRV Z < 0 | accumulation | 100% of the tactical sleeve in BTC/ETH |",
        "| 0 to 3.5 | euphoria | 60% of the tactical sleeve",
        "| MVRV Z > 3.5 | top forming | sell 25% of the tactical exposure |",
        "| MVRV Z > 5 | top forming | sell 50%",
        "| MVRV Z > 7 | top forming | sell 67%",
        "| MVRV Z > 9 | exit | sell 100%",
        "At most 40% of the treasury in volatile assets",
        "At most 25% of the treasury in any single position",
        "TVL of at least $10,000,000",
        "risk score of at most 5/10",
        "more than $50,000 in total, or any single move\n  above $50,000, needs human approval",
        "At most 10 trades per day",
        "above 100 gwei",
        "1% of the treasury per 7 days",
        "20% or more in 24 h",
        "more than 2% off its peg",
        "After 3 consecutive failed executions",
        "submit_allocation_decision",
    ):
        assert expected in text, expected


def test_the_system_prompt_is_the_same_every_cycle_so_it_can_be_cached() -> None:
    assert system_prompt(SafetyLimits(), SignalConfig()) == system_prompt(
        SafetyLimits(), SignalConfig()
    )


def test_recent_outcomes_are_summarised_in_the_user_turn() -> None:
    at = datetime(2026, 3, 8, tzinfo=UTC)
    outcomes = (
        DecisionOutcome(
            decision_id="dec-1",
            horizon_days=7,
            portfolio_return=D("0.02"),
            hold_return=D("0.01"),
            measured_at=at,
        ),
        DecisionOutcome(
            decision_id="dec-2",
            horizon_days=7,
            portfolio_return=D("-0.01"),
            hold_return=D("0.01"),
            measured_at=at,
        ),
    )
    signal, _ = generate_signal(market(), RatchetState(), NOW)
    request = AdvisorRequest(
        market=market(),
        portfolio=balanced_400k(),
        signal=signal,
        limits=SafetyLimits(),
        recent_outcomes=outcomes,
    )

    text = user_message(request)
    data = json.loads(text.split("```json\n", 1)[1].rsplit("\n```", 1)[0])

    summary = "1 of the last 2 measured decisions beat holding the previous allocation; "
    assert data["recent_outcomes"]["summary"] == summary + "mean excess return -0.5%."
    assert [d["excess_return"] for d in data["recent_outcomes"]["decisions"]] == ["0.01", "-0.02"]
    assert outcome_summary(()) == "No measured outcomes yet."


def test_settings_read_the_sdk_variables_and_the_treasury_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-settings-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TREASURY_CLAUDE_TIMEOUT_S", "15")
    monkeypatch.setenv("TREASURY_OUTCOME_HORIZON_DAYS", "14")

    settings = AdvisorSettings()

    assert settings.api_key() == "sk-ant-test-settings-key"
    assert isinstance(settings.anthropic_api_key, SecretStr)
    assert "sk-ant-test-settings-key" not in repr(settings)
    assert settings.anthropic_base_url == "http://127.0.0.1:9"
    assert settings.claude_timeout_s == 15
    assert settings.claude_model == DEFAULT_MODEL
    assert settings.claude_max_tokens == DEFAULT_MAX_TOKENS
    assert settings.outcome_horizon_days == 14
    assert settings.outcome_history == 5


def test_settings_refuse_a_model_the_sdk_marks_deprecated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_CLAUDE_MODEL", "claude-sonnet-4-5")

    with pytest.raises(ValidationError, match="deprecated"):
        AdvisorSettings()


def test_settings_keep_the_timeout_inside_the_30_second_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_CLAUDE_TIMEOUT_S", "45")

    with pytest.raises(ValidationError):
        AdvisorSettings()


def test_settings_refuse_a_max_tokens_without_room_for_the_tool_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_CLAUDE_MAX_TOKENS", str(MIN_MAX_TOKENS - 1))
    with pytest.raises(ValidationError, match="claude_max_tokens"):
        AdvisorSettings()
    assert DEFAULT_MAX_TOKENS >= MIN_MAX_TOKENS
