"""The rules advisor: a deterministic decision derived from the signal alone.

- emergency_exit when the domain detects a black swan (a 20 % daily fall, a depeg);
- rebalance to the signal's targets when any bucket drifts beyond the band from what the
  planner can reach of them (`domain.strategy.reachable_drift`, as `propose` measures it), or
  an MVRV threshold was crossed (`domain.allocation.rebalance_due`);
- hold otherwise.
Confidence and risk are the signal's; the reasoning is the signal's plus what was decided.
It is the paper-mode advisor and Claude's fallback, so it never fails on valid input.
"""

from __future__ import annotations

from decimal import Decimal

from application.ports.advisor import AdvisorRequest
from domain.allocation import rebalance_due
from domain.decisions import AdvisorDecision, DecisionKind
from domain.planner import PlannerConfig
from domain.safety import detect_black_swan
from domain.signals import RiskLevel
from domain.strategy import reachable_drift

ADVISOR_NAME = "rules"


class RulesAdvisor:
    """AllocationAdvisor that follows the signal; `drift_band` is the rebalance band.

    `planner` is the strategy's planner configuration, whose caps say what is reachable.
    """

    def __init__(
        self, drift_band: Decimal = Decimal("0.05"), planner: PlannerConfig | None = None
    ) -> None:
        self._band = drift_band
        self._planner = planner or PlannerConfig()

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        """The rules' decision for this request (never raises on valid input)."""
        signal = request.signal
        black_swan = detect_black_swan(request.market, request.limits)
        drift = reachable_drift(request.portfolio, signal.target_allocations, self._planner)
        if black_swan is not None:
            kind = DecisionKind.EMERGENCY_EXIT
            risk = RiskLevel.HIGH
            decided = "Decision: emergency exit, black swan: " + "; ".join(black_swan.reasons) + "."
        elif rebalance_due(drift, self._band, signal.threshold_crossed):
            kind = DecisionKind.REBALANCE
            risk = signal.risk_level
            why = (
                f"threshold crossed ({signal.trigger})"
                if signal.threshold_crossed
                else f"largest drift {drift.max_abs():.4f} exceeds the band {self._band}"
            )
            decided = f"Decision: rebalance to the signal's targets, {why}."
        else:
            kind = DecisionKind.HOLD
            risk = signal.risk_level
            decided = (
                f"Decision: hold, largest drift {drift.max_abs():.4f} is within the band "
                f"{self._band} and no threshold was crossed."
            )
        return AdvisorDecision(
            decision=kind,
            target_allocations=signal.target_allocations,
            reasoning=f"{signal.reasoning} {decided}",
            risk_assessment=risk,
            confidence=signal.confidence,
            advisor=ADVISOR_NAME,
            metadata={"drift_band": str(self._band), "max_drift": str(drift.max_abs())},
        )
