"""The execution engine's contract as the rest of the application sees it.

The engine runs a plan's transactions in order through the chain ports: it simulates the
whole plan first, persists each step's intent before signing and its nonce and hash before
broadcast, stops at the first failed step, and on start-up reconciles unfinished steps with
the chain so that a crash never sends a step twice nor loses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domain.execution import ExecutedTransaction, PlanOutcome, StepStatus, moved_money
from domain.money import ZERO
from domain.plans import RebalancingPlan


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport:
    """What happened when a plan ran."""

    plan_id: str
    succeeded: bool
    steps: tuple[ExecutedTransaction, ...]
    error: str | None = None
    realised_slippage_usd: Decimal = ZERO

    @property
    def gas_cost_usd(self) -> Decimal:
        """Actual gas paid by confirmed steps."""
        return sum((s.gas_cost_usd or ZERO for s in self.steps), ZERO)

    @property
    def outcome(self) -> PlanOutcome:
        """Executed, partially executed (money moved, then a step failed) or failed."""
        if self.succeeded:
            return PlanOutcome.EXECUTED
        return PlanOutcome.PARTIALLY_EXECUTED if moved_money(self.steps) else PlanOutcome.FAILED

    @property
    def sent(self) -> int:
        """How many steps reached the chain."""
        return sum(
            1
            for s in self.steps
            if s.status in (StepStatus.CONFIRMED, StepStatus.FAILED) and s.tx_hash
        )


class PlanRunner(Protocol):
    """Runs approved or allowed plans; implemented by the execution engine."""

    async def execute(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        """Simulate the plan, then send it step by step. Never raises for a failed step: the
        report says what failed and why.

        Raises:
            ExecutionRefused: the plan was already executed (a plan runs at most once).
        """
        ...

    async def reconcile(self) -> list[ExecutedTransaction]:
        """Settle unfinished steps left by a crash against the chain; returns what changed."""
        ...
