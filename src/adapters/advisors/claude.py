"""Claude as a bounded advisor, through the official `anthropic` SDK (AsyncAnthropic).

One Messages API call per cycle: the cached system prompt (strategy, MVRV table, limits), the
cycle's data as JSON in the user turn, and one tool, `submit_allocation_decision`, that the
model is forced to call (`tool_choice`). The tool's input schema is generated from the pydantic
model below; the answer is parsed from the raw response body with `parse_float=Decimal`, so no
float ever reaches a money value, then validated by that model and mapped to an
`AdvisorDecision`. `requires_approval` is not part of the tool: the safety policy computes it.

The request is valid for current models with a forced tool: the API refuses extended thinking
together with a forced `tool_choice`, and some current models think when the request does not
say otherwise, so it sends `thinking: {"type": "disabled"}` explicitly; `max_tokens` (at least
`MIN_MAX_TOKENS`) leaves room for the longest tool call the schema allows.

Failure modes, each raised as `AdvisorUnavailable("claude", reason)` for the fallback to
record: no API key; the overall deadline (`timeout_s`, default 20 s, covering the SDK's own
retries of 429/5xx/529) passing; an API error after retries (401, 400, ...); a connection
failure; an answer cut off at `max_tokens` (with or without a tool call: a cut answer is not
trusted); an answer without the tool call; tool input that fails validation. The API key is
never put in a message: every reason passes through `_scrub`.

At start-up `check_model` asks the Models API for the configured model (one cheap request): an
unknown or retired model stops start-up with `ClaudeModelUnknown`, naming the setting.

Cost is estimated from the token usage and `PRICES_PER_MTOK` (USD per million tokens, list
prices by model family; cache writes cost 1.25x input, cache reads 0.1x input). An unknown
model family records the cost as "unknown".
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import (
    Message,
    MessageParam,
    ModelParam,
    TextBlockParam,
    ThinkingConfigDisabledParam,
    ToolChoiceToolParam,
    ToolParam,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from adapters.advisors.claude_defaults import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT_S,
)
from adapters.advisors.claude_defaults import (
    MIN_MAX_TOKENS as MIN_MAX_TOKENS,
)
from adapters.advisors.prompt import prompt_hash, system_prompt, user_message
from application.errors import AdvisorUnavailable, PermanentError
from application.ports.advisor import AdvisorRequest
from domain.allocation import SUM_TOLERANCE, TargetAllocations
from domain.decisions import AdvisorDecision, DecisionKind
from domain.errors import DomainError
from domain.signals import RiskLevel, SignalConfig

log = logging.getLogger(__name__)

ADVISOR_NAME = "claude"
TOOL_NAME = "submit_allocation_decision"
REASONING_MAX_CHARS = 4000
MODEL_SETTING = "TREASURY_CLAUDE_MODEL"
MAX_TOKENS_SETTING = "TREASURY_CLAUDE_MAX_TOKENS"
THINKING_DISABLED = ThinkingConfigDisabledParam(type="disabled")

PRICES_PER_MTOK: Mapping[str, tuple[Decimal, Decimal]] = {
    # family: (input, output) USD per million tokens, Anthropic list prices; update with them.
    "opus": (Decimal(5), Decimal(25)),
    "sonnet": (Decimal(3), Decimal(15)),
    "haiku": (Decimal(1), Decimal(5)),
}
CACHE_WRITE_MULTIPLIER = Decimal("1.25")
CACHE_READ_MULTIPLIER = Decimal("0.1")
MILLION = Decimal(1_000_000)


def known_models() -> frozenset[str]:
    """Model ids the installed SDK lists in `anthropic.types.ModelParam`."""
    ids: set[str] = set()
    for arg in get_args(ModelParam):
        ids.update(a for a in get_args(arg) if isinstance(a, str))
    return frozenset(ids)


def deprecated_models() -> Mapping[str, str]:
    """Model ids the installed SDK marks deprecated, with their end-of-life dates.

    The table has moved between SDK releases (2.12 kept it beside the messages resource, 2.13
    in `anthropic._data`), so it is looked up in each known place.
    """
    for module_name in ("anthropic._data", "anthropic.resources.messages.messages"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        table = getattr(module, "DEPRECATED_MODELS", None)
        if isinstance(table, Mapping):
            return {str(k): str(v) for k, v in table.items()}
    return {}


Fraction = Annotated[
    Decimal, Field(ge=0, le=1), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})
]


class ToolAllocations(BaseModel):
    """Target fractions of the whole treasury per bucket."""

    model_config = ConfigDict(extra="forbid")

    base_yield: Fraction = Field(description="Share in stablecoin yield protocols.")
    tactical: Fraction = Field(description="Share in BTC/ETH.")
    cash: Fraction = Field(description="Share in idle stablecoins.")


class AllocationDecisionInput(BaseModel):
    """The input of the `submit_allocation_decision` tool: the spec's advisor output."""

    model_config = ConfigDict(extra="ignore", title="submit_allocation_decision")

    decision: Literal["hold", "rebalance", "emergency_exit"]
    target_allocations: ToolAllocations
    reasoning: str = Field(min_length=1, max_length=REASONING_MAX_CHARS)
    risk_assessment: Literal["low", "medium", "high"]
    confidence: Fraction

    @model_validator(mode="after")
    def _sums_to_one(self) -> AllocationDecisionInput:
        t = self.target_allocations
        total = t.base_yield + t.tactical + t.cash
        if abs(total - 1) > SUM_TOLERANCE:
            raise ValueError(f"target_allocations must sum to 1 (they sum to {total})")
        return self


def tool_definition() -> ToolParam:
    """The tool Claude must call, with its input schema generated from the pydantic model."""
    schema = AllocationDecisionInput.model_json_schema()
    schema.pop("title", None)
    schema["additionalProperties"] = False
    return ToolParam(
        name=TOOL_NAME,
        description=(
            "Submit the treasury allocation decision for this cycle. Fractions are of the "
            "whole treasury and must sum to 1."
        ),
        input_schema=schema,
    )


def estimate_cost_usd(model: str, usage: Mapping[str, int]) -> Decimal | None:
    """Estimated USD cost of one call from its token usage (None for an unknown model)."""
    family = next((f for f in PRICES_PER_MTOK if f in model), None)
    if family is None:
        return None
    price_in, price_out = PRICES_PER_MTOK[family]
    cost = (
        Decimal(usage.get("input_tokens", 0)) * price_in
        + Decimal(usage.get("cache_creation_input_tokens", 0)) * price_in * CACHE_WRITE_MULTIPLIER
        + Decimal(usage.get("cache_read_input_tokens", 0)) * price_in * CACHE_READ_MULTIPLIER
        + Decimal(usage.get("output_tokens", 0)) * price_out
    ) / MILLION
    return cost.quantize(Decimal("0.000001"))


def parse_tool_input(raw: Mapping[str, Any]) -> AllocationDecisionInput:
    """Validate the tool input (numbers already Decimal).

    Raises:
        AdvisorUnavailable: the input does not match the schema or the sum rule.
    """
    try:
        return AllocationDecisionInput.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        raise AdvisorUnavailable(ADVISOR_NAME, f"invalid tool input: {problems}") from exc


def _to_domain(
    parsed: AllocationDecisionInput, model: str, metadata: dict[str, str]
) -> AdvisorDecision:
    t = parsed.target_allocations
    try:
        return AdvisorDecision(
            decision=DecisionKind(parsed.decision),
            target_allocations=TargetAllocations(
                base_yield=t.base_yield, tactical=t.tactical, cash=t.cash
            ),
            reasoning=parsed.reasoning.strip(),
            risk_assessment=RiskLevel(parsed.risk_assessment),
            confidence=parsed.confidence,
            advisor=ADVISOR_NAME,
            model=model,
            metadata=metadata,
        )
    except DomainError as exc:
        raise AdvisorUnavailable(ADVISOR_NAME, f"invalid tool input: {exc}") from exc


def _usage(message: Message) -> dict[str, int]:
    u = message.usage
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens or 0,
        "cache_read_input_tokens": u.cache_read_input_tokens or 0,
    }


class ClaudeModelUnknown(PermanentError):
    """The Anthropic API does not serve the configured model (unknown id, or retired)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        super().__init__(
            f"{MODEL_SETTING}={model}: {reason}; set it to a current model such as {DEFAULT_MODEL}"
        )


class ClaudeAdvisor:
    """AllocationAdvisor backed by Claude; raises AdvisorUnavailable on every failure."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        signal_config: SignalConfig | None = None,
    ) -> None:
        self._api_key = api_key or None
        self._model = model
        self._timeout_s = timeout_s
        self._max_tokens = max_tokens
        self._signal_config = signal_config or SignalConfig()
        self._tool = tool_definition()
        self._client: AsyncAnthropic | None = None
        if self._api_key is not None:
            self._client = AsyncAnthropic(
                api_key=self._api_key,
                base_url=base_url,
                timeout=timeout_s,
                max_retries=max_retries,
            )

    @property
    def model(self) -> str:
        """The model id this advisor asks."""
        return self._model

    def __repr__(self) -> str:
        return f"ClaudeAdvisor(model={self._model!r}, key={'set' if self._api_key else 'unset'})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _unavailable(self, reason: str) -> AdvisorUnavailable:
        return AdvisorUnavailable(ADVISOR_NAME, self._scrub(reason))

    async def check_model(self) -> None:
        """Ask the Models API whether the configured model exists (one cheap request).

        Without a key there is nothing to check (every cycle falls back). An outage, a timeout
        or a refused key is logged and left to the cycles, which fall back and record why.

        Raises:
            ClaudeModelUnknown: the API answers 404 for the model, or lists it as retired.
        """
        if self._client is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                info = await self._client.models.retrieve(self._model)
        except anthropic.NotFoundError:
            raise ClaudeModelUnknown(self._model, "the Anthropic API has no such model") from None
        except (TimeoutError, anthropic.APIError) as exc:
            log.warning(
                "claude model check skipped: the Models API did not answer",
                extra={"model": self._model, "error": self._scrub(type(exc).__name__)},
            )
            return
        if getattr(info, "lifecycle", None) == "retired":
            raise ClaudeModelUnknown(self._model, "the Anthropic API lists it as retired")
        log.info("claude model available", extra={"model": self._model})

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        """Ask Claude for a decision through the forced tool.

        Raises:
            AdvisorUnavailable: no key, timeout, API or connection error, no tool call, or
                invalid tool input (the reason says which).
        """
        if self._client is None:
            raise AdvisorUnavailable(ADVISOR_NAME, "no API key configured (ANTHROPIC_API_KEY)")
        system = system_prompt(request.limits, self._signal_config)
        user = user_message(request)
        digest = prompt_hash(self._model, system, self._tool, user)
        user_turn: MessageParam = {"role": "user", "content": user}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                raw = await self._client.messages.with_raw_response.create(
                    model=self._model,
                    max_tokens=self._max_tokens,
                    system=[
                        TextBlockParam(
                            type="text", text=system, cache_control={"type": "ephemeral"}
                        )
                    ],
                    tools=[self._tool],
                    tool_choice=ToolChoiceToolParam(type="tool", name=TOOL_NAME),
                    thinking=THINKING_DISABLED,
                    messages=[user_turn],
                )
                body = await raw.text()
                message = await raw.parse()
        except (TimeoutError, anthropic.APITimeoutError) as exc:
            raise self._unavailable(f"no answer within {self._timeout_s:g} s") from exc
        except anthropic.APIStatusError as exc:
            # Not chained: the SDK's message repeats the server's text, which we do not control.
            kind = exc.body.get("error", {}).get("type") if isinstance(exc.body, dict) else None
            raise self._unavailable(
                f"Messages API answered HTTP {exc.status_code} ({kind or 'unknown error'})"
            ) from None
        except anthropic.APIConnectionError as exc:
            raise self._unavailable("could not connect to the Messages API") from exc
        latency_ms = Decimal(f"{(time.perf_counter() - started) * 1000:.1f}")
        if message.stop_reason == "max_tokens":
            # Cut off: no tool call, or one whose input may be incomplete. Not an answer.
            raise self._unavailable(
                f"answer cut off at max_tokens ({self._max_tokens}); raise {MAX_TOKENS_SETTING}"
            )
        usage = _usage(message)
        cost = estimate_cost_usd(message.model or self._model, usage)
        raw_input = self._tool_input(body)
        metadata = {
            "model": message.model or self._model,
            "prompt_sha256": digest,
            "message_id": message.id,
            "stop_reason": str(message.stop_reason),
            "tool_input": json.dumps(raw_input, default=str, sort_keys=True),
            "usage": json.dumps(usage, sort_keys=True),
            "cost_usd": "unknown" if cost is None else str(cost),
            "latency_ms": str(latency_ms),
        }
        parsed = parse_tool_input(raw_input)
        ignored = sorted(set(raw_input) - set(AllocationDecisionInput.model_fields))
        if ignored:
            metadata["ignored_fields"] = ",".join(ignored)
        log.info(
            "claude advised",
            extra={
                "model": metadata["model"],
                "decision": parsed.decision,
                "prompt_sha256": digest,
                "usage": usage,
                "cost_usd": metadata["cost_usd"],
                "latency_ms": str(latency_ms),
            },
        )
        return _to_domain(parsed, metadata["model"], metadata)

    def _tool_input(self, body: str) -> dict[str, Any]:
        """The tool call's input from the raw response body, numbers as Decimal."""
        try:
            data = json.loads(body, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise self._unavailable(
                "the Messages API answered with a body that is not JSON"
            ) from exc
        blocks = data.get("content") if isinstance(data, dict) else None
        for block in blocks or []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                if block.get("name") != TOOL_NAME:
                    raise self._unavailable(f"called an unknown tool {block.get('name')!r}")
                tool_input = block.get("input")
                if not isinstance(tool_input, dict):
                    raise self._unavailable("invalid tool input: not a JSON object")
                return tool_input
        stop = data.get("stop_reason") if isinstance(data, dict) else None
        raise self._unavailable(f"answered without calling the tool (stop_reason {stop})")
