"""The advisor the settings select, for the service and for `treasury advise`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.advisors.rules import RulesAdvisor
from application.advice import FallbackAdvisor
from application.ports.advisor import AllocationAdvisor
from domain.strategy import StrategyConfig
from entrypoints.settings.advisor import AdvisorSettings
from entrypoints.settings.service import AdvisorChoice

if TYPE_CHECKING:
    from adapters.advisors.claude import ClaudeAdvisor


def build_advisor(
    choice: AdvisorChoice, settings: AdvisorSettings, strategy: StrategyConfig
) -> tuple[AllocationAdvisor, ClaudeAdvisor | None]:
    """The advisor the settings select: the rules, or Claude with the rules as fallback.

    Returns the advisor and the Claude adapter (to close), if any.
    """
    rules = RulesAdvisor(drift_band=strategy.drift_band, planner=strategy.planner)
    if choice is AdvisorChoice.RULES:
        return rules, None
    # Only here: the anthropic SDK is about 75 MiB that a rules-advised service never uses.
    from adapters.advisors.claude import ClaudeAdvisor

    claude = ClaudeAdvisor(
        api_key=settings.api_key(),
        base_url=settings.anthropic_base_url,
        model=settings.claude_model,
        timeout_s=settings.claude_timeout_s,
        max_tokens=settings.claude_max_tokens,
        max_retries=settings.claude_max_retries,
        signal_config=strategy.signal,
    )
    return FallbackAdvisor(claude, rules), claude


__all__ = ["build_advisor"]
