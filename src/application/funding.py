"""Paper funding moves run as an ordinary plan: journaled, audited and listed like any trade.

A new paper treasury's first split (USDC into the venues and into WBTC/WETH) and the rebuild of
recorded positions on a new dev chain are real transactions from the treasury's account. They
go through the plan runner, so every step is persisted and audited (`execution.planned`)
before it is signed, its nonce and hash are journaled before broadcast, and it is shown under
"Recent transactions". A `funding.planned` audit entry records why the plan runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from application.execution import ExecutionReport, PlanRunner
from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from domain.allocation import TargetAllocations
from domain.money import ZERO
from domain.plans import RebalancingPlan, Transaction
from domain.signals import RiskLevel

log = logging.getLogger(__name__)

ACTOR = "paper"


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPlan:
    """Funding moves to run: `reason` says why (first split or rebuild after a chain reset)."""

    plan_id: str
    reason: str
    moves: tuple[Transaction, ...]
    target: TargetAllocations


class RunFundingPlan:
    """Audit the funding plan's purpose, then run it through the plan runner."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, runner: PlanRunner, clock: Clock) -> None:
        self._uow = uow_factory
        self._runner = runner
        self._clock = clock

    async def execute(self, cmd: FundingPlan) -> ExecutionReport:
        """Run the funding plan; a failed step is in the report (and the audit), not raised.

        Raises:
            ExecutionRefused: a plan with this id already ran.
        """
        now = self._clock.now()
        plan = RebalancingPlan(
            plan_id=cmd.plan_id,
            created_at=now,
            current_allocations={},
            target_allocations=cmd.target,
            required_transactions=cmd.moves,
            estimated_gas_cost=sum((m.estimated_gas_usd for m in cmd.moves), ZERO),
            estimated_slippage=sum((m.estimated_slippage_usd for m in cmd.moves), ZERO),
            requires_approval=False,
            risk_level=RiskLevel.LOW,
            notes=(cmd.reason,),
        )
        async with self._uow() as uow:
            await uow.audit.append(
                ACTOR,
                "funding.planned",
                "plan",
                plan.plan_id,
                {"reason": cmd.reason, "moves": [m.describe() for m in cmd.moves]},
                at=now,
            )
            await uow.commit()
        report = await self._runner.execute(plan, "")
        level = logging.INFO if report.succeeded else logging.WARNING
        log.log(
            level,
            "funding plan ran",
            extra={
                "plan_id": plan.plan_id,
                "reason": cmd.reason,
                "succeeded": report.succeeded,
                "error": report.error,
            },
        )
        return report
