"""The advisor port: Claude or the rules propose; the safety policy decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from application.ports.persistence import DecisionOutcome
from domain.decisions import AdvisorDecision
from domain.market import MarketData
from domain.portfolio import PortfolioState
from domain.safety import SafetyLimits
from domain.signals import AllocationSignal


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisorRequest:
    """What an advisor sees: market, portfolio, signal, the limits, and how recent decisions
    turned out (the learning loop)."""

    market: MarketData
    portfolio: PortfolioState
    signal: AllocationSignal
    limits: SafetyLimits
    recent_outcomes: tuple[DecisionOutcome, ...] = field(default=())


class AllocationAdvisor(Protocol):
    """Proposes a decision. Never decides whether approval is needed: the policy does."""

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        """A proposal for this cycle.

        Raises:
            AdvisorUnavailable: the advisor could not answer (timeout, API error, bad output).
        """
        ...
