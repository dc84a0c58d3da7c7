"""A fake advisor that follows the signal, like the rules advisor, and can be told to fail."""

from __future__ import annotations

from application.errors import AdvisorUnavailable
from application.ports.advisor import AdvisorRequest
from domain.allocation import TargetAllocations
from domain.decisions import AdvisorDecision, DecisionKind
from domain.safety import detect_black_swan


class SignalFollowingAdvisor:
    """Proposes a rebalance to the signal's targets (an exit on a black swan, or always when
    `asks_exit` is set, as Claude may answer `emergency_exit` in a calm market); with `targets`
    set, to those instead, as an advisor with a mind of its own (Claude) would."""

    def __init__(self) -> None:
        self.requests: list[AdvisorRequest] = []
        self.unavailable = False
        self.asks_exit = False
        self.targets: TargetAllocations | None = None

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        self.requests.append(request)
        if self.unavailable:
            raise AdvisorUnavailable("fake", "told to fail")
        exit_now = self.asks_exit or detect_black_swan(request.market, request.limits) is not None
        return AdvisorDecision(
            decision=DecisionKind.EMERGENCY_EXIT if exit_now else DecisionKind.REBALANCE,
            target_allocations=self.targets or request.signal.target_allocations,
            reasoning=request.signal.reasoning,
            risk_assessment=request.signal.risk_level,
            confidence=request.signal.confidence,
            advisor="rules",
        )
