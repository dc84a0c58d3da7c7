"""Deciding: what one decision cycle's proposal becomes.

The strategy (`domain.strategy.propose`) proposes a plan with the safety policy's verdict; the
advisor explained what it wanted. `decide` turns them into the cycle's decision record: held,
rejected, waiting for a human (with when it expires) or approved by the policy, and the
reasoning a human reads. One human decision at a time: while a decision waits for approval, a
fresh plan is held, unless it is a black-swan exit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.decisions import AdvisorDecision, Decision, DecisionKind, DecisionStatus
from domain.plans import PlanKind, RebalancingPlan
from domain.safety import Outcome
from domain.signals import AllocationSignal
from domain.strategy import Proposal

POLICY_APPROVER = "policy"
"""Who approves a plan the safety policy allows without a human."""


def acted_on(proposal: Proposal | None, *, hold: bool) -> Proposal | None:
    """The proposal the cycle acts on, if any.

    A hold still sweeps idle cash when that is worth a plan of its own; a hold whose sweep
    proposes no plan acts on nothing, and is explained by the advice alone.
    """
    if proposal is None or (hold and proposal.plan is None):
        return None
    return proposal


def exit_reasons(proposal: Proposal | None) -> tuple[str, ...]:
    """Why the market counts as a black swan, when the proposal is a black-swan exit."""
    if proposal is None or proposal.black_swan is None:
        return ()
    return proposal.black_swan.reasons


def decision_kind(plan: RebalancingPlan | None, advice: AdvisorDecision) -> DecisionKind:
    """What kind of decision this is: the plan's kind when there is one, else the advice's."""
    if plan is None:
        return advice.decision
    if plan.kind is PlanKind.EMERGENCY_EXIT:
        return DecisionKind.EMERGENCY_EXIT
    return DecisionKind.REBALANCE


def decide(
    proposal: Proposal | None,
    advice: AdvisorDecision,
    pending: Decision | None,
    *,
    decision_id: str,
    signal: AllocationSignal,
    now: datetime,
    expiry: timedelta,
) -> Decision:
    """The decision for `proposal` (the one `acted_on` returns), given the advice and the
    decision already waiting for a human (`pending`, if any).

    - No plan, an empty plan or no verdict: held, for the proposal's reason (or the advice's
      when nothing was proposed).
    - A decision is pending and the plan is not a black-swan exit nor rejected: held, naming
      the decision that waits. An exit the advisor asked for waits its turn; a plan the policy
      rejects is recorded as rejected all the same.
    - Otherwise the verdict decides: rejected, pending (expiring `expiry` after `now`), or
      approved by the policy.

    The reasoning is the advice's, with why it was held appended for a held decision.
    """
    plan = proposal.plan if proposal is not None else None
    verdict = proposal.verdict if proposal is not None else None
    status, waiting_note = _status(proposal, pending)
    reasoning = advice.reasoning
    if status is DecisionStatus.HELD:
        held = waiting_note or (proposal.reason if proposal is not None else advice.reasoning)
        reasoning = f"{advice.reasoning} Held: {held}"
    return Decision(
        id=decision_id,
        created_at=now,
        signal=signal,
        advisor=advice.advisor,
        target_allocations=advice.target_allocations,
        reasoning=reasoning,
        risk_assessment=advice.risk_assessment,
        status=status,
        kind=decision_kind(plan, advice),
        plan_id=plan.plan_id if plan is not None else None,
        verdict_reasons=verdict.reasons if verdict is not None else (),
        approver=POLICY_APPROVER if status is DecisionStatus.APPROVED else None,
        expires_at=now + expiry if status is DecisionStatus.PENDING else None,
        model=advice.model,
        fallback_reason=advice.fallback_reason,
    )


def _status(
    proposal: Proposal | None, pending: Decision | None
) -> tuple[DecisionStatus, str | None]:
    """The decision's status, and when it is held because another decision waits, a note
    saying so."""
    plan = proposal.plan if proposal is not None else None
    verdict = proposal.verdict if proposal is not None else None
    if plan is None or plan.is_empty or verdict is None:
        return DecisionStatus.HELD, None
    if verdict.outcome is Outcome.REJECTED:
        return DecisionStatus.REJECTED, None
    if pending is not None and not exit_reasons(proposal):
        # No trading around a plan someone is reviewing; its expiry clears the way.
        return DecisionStatus.HELD, f"decision {pending.id} is waiting for approval"
    if verdict.outcome is Outcome.NEEDS_APPROVAL:
        return DecisionStatus.PENDING, None
    return DecisionStatus.APPROVED, None
