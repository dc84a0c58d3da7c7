"""The real anthropic SDK against a fake Messages API on 127.0.0.1, inside the real decision
cycle: every scenario ends in a decision recorded in SQLite with the right advisor and reason."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest

from adapters.advisors.claude import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    MIN_MAX_TOKENS,
    TOOL_NAME,
    ClaudeAdvisor,
    ClaudeModelUnknown,
)
from application.cycle import CycleOutcome
from domain.decisions import DecisionStatus
from domain.strategy import StrategyConfig
from entrypoints.container import AppSettings, StartupRefused, open_advisor
from tests.integration.advisors.conftest import API_KEY, DeskFactory
from tests.integration.advisors.fake_messages_api import (
    FakeMessagesApi,
    Reply,
    overloaded,
    payload,
    text_reply,
    tool_reply,
)

D = Decimal


def decision_input(
    base: str = "0.6", tactical: str = "0.24", cash: str = "0.16", **extra: Any
) -> dict[str, Any]:
    """A tool input as a model would send it (numbers are JSON numbers)."""
    return {
        "decision": "rebalance",
        "target_allocations": {
            "base_yield": float(base),
            "tactical": float(tactical),
            "cash": float(cash),
        },
        "reasoning": "MVRV Z 2 is mid-euphoria; deploy the idle cash to the 60/24/16 targets.",
        "risk_assessment": "medium",
        "confidence": 0.7,
        **extra,
    }


async def test_a_valid_tool_call_is_recorded_as_claudes_decision_with_its_log_data(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input(), text_first="Let me weigh the data."))

    result = await desk.run()

    decision, audit = await desk.recorded(result.decision.id)
    assert decision.advisor == "claude"
    assert decision.model == DEFAULT_MODEL
    assert decision.fallback_reason is None
    assert decision.target_allocations.as_dict() == {
        "base_yield": D("0.6"),
        "tactical": D("0.24"),
        "cash": D("0.16"),
    }
    metadata = audit["metadata"]
    assert isinstance(metadata, dict)
    assert len(metadata["prompt_sha256"]) == 64
    assert json.loads(metadata["usage"]) == {
        "input_tokens": 1532,
        "output_tokens": 187,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
    }
    # Sonnet at $3/$15 per Mtok, cache reads at 0.1x: (1532*3 + 2048*0.3 + 187*15) / 1e6.
    assert D(metadata["cost_usd"]) == D("0.008015")
    assert D(metadata["latency_ms"]) > 0
    assert json.loads(metadata["tool_input"])["target_allocations"]["tactical"] == "0.24"


async def test_the_request_forces_the_tool_and_caches_the_static_system_prompt(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input()))

    await desk.run()

    body = messages_api.requests[0].body
    assert body["model"] == DEFAULT_MODEL
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert [t["name"] for t in body["tools"]] == [TOOL_NAME]
    assert "requires_approval" not in json.dumps(body["tools"][0]["input_schema"])
    system = body["system"][-1]
    assert system["cache_control"] == {"type": "ephemeral"}
    for limit in ("40%", "25%", "$10,000,000", "$50,000", "10 trades", "100 gwei", "MVRV Z > 9"):
        assert limit in system["text"]
    user = body["messages"][0]["content"]
    data = json.loads(user.split("```json\n", 1)[1].rsplit("\n```", 1)[0])
    assert data["market"]["mvrv_z_score"] == "2"
    assert data["portfolio"]["total_value_usd"] == "400000"


async def test_the_models_approval_flag_is_ignored_and_the_policy_decides(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input(requires_approval=False)))

    result = await desk.run()

    decision, audit = await desk.recorded(result.decision.id)
    assert decision.advisor == "claude"
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    assert decision.status is DecisionStatus.PENDING
    assert any("approval_threshold FAILED" in r for r in decision.verdict_reasons)
    metadata = audit["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["ignored_fields"] == "requires_approval"


async def test_malformed_tool_input_falls_back_to_the_rules_with_the_reason(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    broken = decision_input()
    broken["decision"] = "buy_the_dip"
    del broken["confidence"]
    messages_api.add(tool_reply(broken))

    result = await desk.run()

    decision, audit = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason is not None
    assert "invalid tool input" in decision.fallback_reason
    assert "decision" in decision.fallback_reason
    assert "confidence" in decision.fallback_reason
    assert audit["fallback_reason"] == decision.fallback_reason


async def test_allocations_that_do_not_sum_to_one_fall_back_to_the_rules(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input("0.6", "0.3", "0.2")))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason is not None
    assert "must sum to 1" in decision.fallback_reason


async def test_a_tactical_target_above_the_volatile_cap_is_brought_back_toward_the_signal(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input("0.45", "0.55", "0")))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "claude"
    assert decision.target_allocations.tactical == D("0.55")
    assert decision.plan_id is not None
    async with desk.uow() as uow:
        plan = await uow.plans.get(decision.plan_id)
    # max_advisor_deviation moves the advice toward the signal's targets before planning (to
    # the volatile cap at most), so the planner has nothing to cut into idle cash.
    assert plan.target_allocations.tactical <= D("0.40")
    assert not any("clamped" in n for n in plan.notes)
    assert any("max_advisor_deviation CLAMPED" in r for r in decision.verdict_reasons)
    assert result.verdict is not None
    volatile = next(v for v in result.verdict.verdicts if v.rule == "max_volatile_share")
    assert volatile.passed
    assert D(volatile.actual.rstrip("%")) <= D(40)
    # The clamped plan still moves more than $50K per step: a human decides, not the model.
    assert decision.status is DecisionStatus.PENDING
    assert any("approval_threshold FAILED" in r for r in decision.verdict_reasons)


async def test_overloaded_then_success_is_retried_by_the_sdk_and_claude_decides(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(max_retries=1)
    messages_api.add(overloaded(), tool_reply(decision_input()))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert len(messages_api.requests) == 2
    assert decision.advisor == "claude"
    assert decision.fallback_reason is None


async def test_overloaded_until_retries_run_out_falls_back_with_the_status(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(max_retries=1)
    messages_api.add(overloaded(), overloaded())

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason == (
        "claude unavailable: Messages API answered HTTP 529 (overloaded_error)"
    )


async def test_a_slow_answer_times_out_and_the_rules_decide(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(timeout_s=0.5, max_retries=0)
    slow = tool_reply(decision_input())
    messages_api.add(Reply(slow.status, slow.body, delay_s=2.0))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason == "claude unavailable: no answer within 0.5 s"
    assert result.timings_ms["advisor"] < D(1500)


async def test_a_text_only_answer_falls_back_to_the_rules(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(text_reply("I would hold here, the market looks balanced."))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason == (
        "claude unavailable: answered without calling the tool (stop_reason end_turn)"
    )


async def test_a_rejected_key_falls_back_to_the_rules_with_the_401(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(api_key="sk-ant-wrong-key-000000000000")
    messages_api.add(tool_reply(decision_input()))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason == (
        "claude unavailable: Messages API answered HTTP 401 (authentication_error)"
    )
    assert len(messages_api.requests) == 1  # a 401 is not retried


async def test_no_key_falls_back_without_calling_the_api(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(api_key=None)

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason == (
        "claude unavailable: no API key configured (ANTHROPIC_API_KEY)"
    )
    assert messages_api.requests == []


async def test_the_sdk_sends_the_key_the_fake_api_checks(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input()))

    await desk.run()

    headers = messages_api.requests[0].headers
    sent = headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")
    assert sent == API_KEY
    assert headers["anthropic-version"]  # the SDK sets its own API version
    assert payload("anthropic_error_authentication")["error"]["type"] == "authentication_error"


async def test_claude_answering_emergency_exit_in_a_calm_market_gets_no_automatic_exit(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    holdings = {
        ("aave", "USDC"): D(96_000),
        ("pendle", "PT-USDC"): D(72_000),
        ("curve", "3CRV"): D(72_000),
        ("wallet", "WBTC"): D(48_000),
        ("wallet", "WETH"): D(48_000),
    }
    desk = await make_desk(cash=64_000, holdings=holdings)
    before = desk.book.state().volatile_value()
    messages_api.add(
        tool_reply(
            decision_input(
                "0.6",
                "0",
                "0.4",
                decision="emergency_exit",
                reasoning="I fear a crash; sell all BTC/ETH now.",
            )
        )
    )

    result = await desk.run()

    assert result.advice.advisor == "claude"
    assert result.plan is not None
    assert result.plan.kind.value == "emergency_exit"
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    assert result.execution is None
    assert desk.book.state().volatile_value() == before
    decision, _ = await desk.recorded(result.decision.id)
    assert decision.status is DecisionStatus.PENDING
    assert any("automatic_exit_needs_black_swan" in r for r in decision.verdict_reasons)


async def test_the_request_disables_thinking_because_the_tool_is_forced(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    # The API refuses thinking with a forced tool_choice, and some current models think when
    # the request says nothing: the request must say "disabled".
    desk = await make_desk()
    messages_api.add(tool_reply(decision_input()))

    await desk.run()

    body = messages_api.requests[0].body
    assert body["thinking"] == {"type": "disabled"}
    assert body["tool_choice"]["type"] == "tool"
    assert body["max_tokens"] >= MIN_MAX_TOKENS


def cut_reply(with_tool_call: bool) -> Reply:
    """A 200 cut off at max_tokens: text only, or a tool call that may be incomplete."""
    reply = tool_reply(decision_input()) if with_tool_call else text_reply("Considering the")
    reply.body["stop_reason"] = "max_tokens"
    return reply


@pytest.mark.parametrize(
    "with_tool_call",
    [pytest.param(False, id="no tool call"), pytest.param(True, id="with a tool call")],
)
async def test_an_answer_cut_at_max_tokens_falls_back_naming_the_setting(
    make_desk: DeskFactory, messages_api: FakeMessagesApi, with_tool_call: bool
) -> None:
    desk = await make_desk()
    messages_api.add(cut_reply(with_tool_call))

    result = await desk.run()

    decision, _ = await desk.recorded(result.decision.id)
    assert decision.advisor == "rules"
    assert decision.fallback_reason is not None
    assert "max_tokens" in decision.fallback_reason
    assert "TREASURY_CLAUDE_MAX_TOKENS" in decision.fallback_reason


async def test_a_model_the_api_does_not_know_is_refused_at_start_up_naming_the_setting(
    messages_api: FakeMessagesApi,
) -> None:
    claude = ClaudeAdvisor(
        api_key=API_KEY, base_url=messages_api.base_url, model="claude-sonnet-9-9-typo"
    )
    try:
        with pytest.raises(ClaudeModelUnknown) as refused:
            await claude.check_model()
    finally:
        await claude.aclose()
    assert "TREASURY_CLAUDE_MODEL" in str(refused.value)
    assert "claude-sonnet-9-9-typo" in str(refused.value)
    assert messages_api.requests[-1].path == "/v1/models/claude-sonnet-9-9-typo"


async def test_the_default_model_passes_the_start_up_check(
    messages_api: FakeMessagesApi,
) -> None:
    claude = ClaudeAdvisor(api_key=API_KEY, base_url=messages_api.base_url)
    try:
        await claude.check_model()
    finally:
        await claude.aclose()
    assert [r.path for r in messages_api.requests] == [f"/v1/models/{DEFAULT_MODEL}"]


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        pytest.param("claude-sonnet-9-9-typo", True, id="unknown model"),
        pytest.param(DEFAULT_MODEL, False, id="current model"),
    ],
)
async def test_service_start_up_checks_the_claude_model_and_names_the_setting(
    messages_api: FakeMessagesApi, monkeypatch: pytest.MonkeyPatch, model: str, refused: bool
) -> None:
    monkeypatch.setenv("TREASURY_ADVISOR", "claude")
    monkeypatch.setenv("TREASURY_CLAUDE_MODEL", model)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    opened = contextlib.asynccontextmanager(open_advisor)(AppSettings.load(), StrategyConfig())
    if refused:
        with pytest.raises(StartupRefused, match=f"TREASURY_CLAUDE_MODEL={model}"):
            async with opened:
                pass
    else:
        async with opened as wiring:
            assert wiring.advisor is not None
    assert messages_api.requests[0].path == f"/v1/models/{model}"
