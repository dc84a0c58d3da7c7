"""The preflight's checks, from the settings and the opened runtime: the same checks in paper
mode (against the simulated market and the dev chain) and in live mode (against the real
services). Read-only: nothing is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from adapters.advisors.preflight import ClaudeModelCheck, RulesAdvisorCheck
from adapters.market.preflight import MarketSourcesCheck
from application.ports.preflight import PreflightCheck
from application.preflight import Preflight
from entrypoints.settings.service import AdvisorChoice

if TYPE_CHECKING:
    from application.ports.market import MarketDataSource
    from entrypoints.container import AppSettings
    from entrypoints.wiring.chain import ChainWiring


def advisor_check(settings: AppSettings) -> PreflightCheck:
    """Claude's key and model when Claude advises, else the rules (nothing to check)."""
    if settings.service.advisor is AdvisorChoice.CLAUDE:
        advisor = settings.advisor
        return ClaudeModelCheck(
            api_key=advisor.api_key(),
            model=advisor.claude_model,
            base_url=advisor.anthropic_base_url,
            timeout_s=advisor.claude_timeout_s,
        )
    return RulesAdvisorCheck()


def preflight_checks(
    settings: AppSettings, market: MarketDataSource, chain: ChainWiring
) -> Sequence[PreflightCheck]:
    """Market sources, the chain (chain id, keystore and gas, protocol reads), the advisor."""
    return (MarketSourcesCheck(market), *chain.checks, advisor_check(settings))


def preflight_for(settings: AppSettings, market: MarketDataSource, chain: ChainWiring) -> Preflight:
    """The Preflight use case over this wiring."""
    return Preflight(preflight_checks(settings, market, chain))
