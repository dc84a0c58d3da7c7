"""Advice with a safety net: ask the primary advisor (Claude), and when it cannot answer, let
the rules advisor decide and record why.

The fallback never hides a failure: the decision it returns names `advisor=rules`, carries
the primary's reason in `fallback_reason`, and the same reason is logged and reported as the
advisor's health.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from application.errors import AdvisorUnavailable
from application.ports.advisor import AdvisorRequest, AllocationAdvisor
from application.queries import Health, ProbeResult
from domain.decisions import AdvisorDecision

log = logging.getLogger(__name__)


class FallbackAdvisor:
    """An AllocationAdvisor that tries `primary` and falls back to `fallback` on
    AdvisorUnavailable. Also a HealthProbe (`name="ai"`) reporting how the last call went."""

    name = "ai"

    def __init__(self, primary: AllocationAdvisor, fallback: AllocationAdvisor) -> None:
        self._primary = primary
        self._fallback = fallback
        self._last: ProbeResult = ProbeResult(
            name=self.name, status=Health.HEALTHY, detail="not asked yet"
        )

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        """The primary's decision, or the fallback's with the primary's failure recorded.

        Raises:
            AdvisorUnavailable: the fallback could not answer either.
        """
        try:
            decision = await self._primary.advise(request)
        except AdvisorUnavailable as exc:
            reason = f"{exc.advisor} unavailable: {exc.reason}"
            log.warning(
                "advisor fell back to rules",
                extra={"advisor": exc.advisor, "fallback_reason": exc.reason},
            )
            self._last = ProbeResult(name=self.name, status=Health.DEGRADED, detail=reason)
            decision = await self._fallback.advise(request)
            return replace(
                decision,
                fallback_reason=reason,
                metadata={**decision.metadata, "fallback_from": exc.advisor},
            )
        self._last = ProbeResult(
            name=self.name, status=Health.HEALTHY, detail=f"last answer from {decision.advisor}"
        )
        return decision

    async def check(self) -> ProbeResult:
        """How the last call went: healthy if the primary answered, degraded if it fell back."""
        return self._last
