"""Deciding: the verdict becomes a status, one human decision at a time, expiry, reasoning."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.deciding import acted_on, decide, decision_kind, exit_reasons
from domain.decisions import AdvisorDecision, Decision, DecisionKind, DecisionStatus
from domain.plans import PlanKind, RebalancingPlan, Transaction, TransactionType
from domain.projection import Projection
from domain.safety import BlackSwan, Outcome, RuleVerdict, SafetyVerdict, Severity
from domain.signals import AllocationSignal, RiskLevel, generate_signal
from domain.strategy import Proposal
from domain.tactical import RatchetState
from tests.unit.domain.builders import NOW, market

D = Decimal
TARGETS = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))
EXPIRY = timedelta(hours=24)
ADVICE = "MVRV at 6.2: trim tactical."


def signal() -> AllocationSignal:
    made, _ = generate_signal(market(), RatchetState(), NOW)
    return made


def advice(kind: DecisionKind = DecisionKind.REBALANCE) -> AdvisorDecision:
    return AdvisorDecision(
        decision=kind,
        target_allocations=TARGETS,
        reasoning=ADVICE,
        risk_assessment=RiskLevel.MEDIUM,
        confidence=D("0.8"),
        advisor="claude",
        model="claude-test",
        fallback_reason=None,
    )


def plan(*, moves: int = 1, kind: PlanKind = PlanKind.REBALANCE) -> RebalancingPlan:
    move = Transaction(
        tx_type=TransactionType.SWAP,
        protocol="oneinch",
        from_asset="WBTC",
        to_asset="USDC",
        amount=D("0.5"),
        amount_usd=D(30_000),
        estimated_gas=150_000,
        estimated_gas_usd=D(9),
        estimated_slippage_usd=D(15),
        slippage_tolerance=D("0.005"),
    )
    return RebalancingPlan(
        plan_id="plan-1",
        created_at=NOW,
        current_allocations={},
        target_allocations=TARGETS,
        required_transactions=(move,) * moves,
        estimated_gas_cost=D(9) * moves,
        estimated_slippage=D(15) * moves,
        requires_approval=False,
        risk_level=RiskLevel.MEDIUM,
        kind=kind,
    )


def verdict(outcome: Outcome) -> SafetyVerdict:
    rules = {
        Outcome.ALLOWED: (),
        Outcome.NEEDS_APPROVAL: (
            RuleVerdict(
                rule="large_move",
                passed=False,
                limit="$50,000",
                actual="$60,000",
                severity=Severity.APPROVAL,
                message="a move above $50,000 needs a human",
            ),
        ),
        Outcome.REJECTED: (
            RuleVerdict(
                rule="max_volatile",
                passed=False,
                limit="40%",
                actual="45%",
                severity=Severity.HARD,
                message="too much in volatile assets",
            ),
        ),
    }[outcome]
    projection = Projection(values={}, cash=D(0), lowest_cash=D(0), lowest_position=D(0))
    return SafetyVerdict(outcome=outcome, verdicts=rules, projection=projection)


def proposal(
    outcome: Outcome | None = Outcome.ALLOWED,
    *,
    moves: int = 1,
    kind: PlanKind = PlanKind.REBALANCE,
    black_swan: tuple[str, ...] = (),
    reason: str = "drift beyond the band",
) -> Proposal:
    return Proposal(
        plan=plan(moves=moves, kind=kind) if outcome is not None else None,
        verdict=verdict(outcome) if outcome is not None else None,
        rebalance_due=True,
        black_swan=BlackSwan(reasons=black_swan) if black_swan else None,
        reason=reason,
    )


def pending() -> Decision:
    return Decision(
        id="dec-waiting",
        created_at=NOW - timedelta(hours=2),
        signal=signal(),
        advisor="rules",
        target_allocations=TARGETS,
        reasoning="an earlier plan",
        risk_assessment=RiskLevel.MEDIUM,
        status=DecisionStatus.PENDING,
        expires_at=NOW + timedelta(hours=22),
    )


def decided(
    offered: Proposal | None,
    waiting: Decision | None = None,
    kind: DecisionKind = DecisionKind.REBALANCE,
) -> Decision:
    return decide(
        offered,
        advice(kind),
        waiting,
        decision_id="dec-1",
        signal=signal(),
        now=NOW,
        expiry=EXPIRY,
    )


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.ALLOWED, DecisionStatus.APPROVED),
        (Outcome.NEEDS_APPROVAL, DecisionStatus.PENDING),
        (Outcome.REJECTED, DecisionStatus.REJECTED),
    ],
)
def test_the_verdict_sets_the_status(outcome: Outcome, status: DecisionStatus) -> None:
    decision = decided(proposal(outcome))
    assert decision.status is status
    assert decision.plan_id == "plan-1"
    assert decision.verdict_reasons == verdict(outcome).reasons
    assert decision.reasoning == ADVICE
    assert (decision.id, decision.created_at, decision.advisor) == ("dec-1", NOW, "claude")
    assert (decision.model, decision.target_allocations) == ("claude-test", TARGETS)


def test_only_a_plan_the_policy_allows_is_approved_by_the_policy() -> None:
    assert decided(proposal(Outcome.ALLOWED)).approver == "policy"
    assert decided(proposal(Outcome.NEEDS_APPROVAL)).approver is None
    assert decided(proposal(Outcome.REJECTED)).approver is None


def test_a_decision_for_a_human_expires_after_the_window_and_no_other_does() -> None:
    assert decided(proposal(Outcome.NEEDS_APPROVAL)).expires_at == NOW + EXPIRY
    assert decided(proposal(Outcome.ALLOWED)).expires_at is None
    assert decided(proposal(Outcome.REJECTED)).expires_at is None
    assert decided(None).expires_at is None


def test_no_proposal_holds_for_the_advice_s_reasons() -> None:
    decision = decided(None, kind=DecisionKind.HOLD)
    assert decision.status is DecisionStatus.HELD
    assert decision.reasoning == f"{ADVICE} Held: {ADVICE}"
    assert (decision.plan_id, decision.verdict_reasons, decision.kind) == (
        None,
        (),
        DecisionKind.HOLD,
    )


def test_a_proposal_without_a_plan_or_with_an_empty_one_holds_for_its_reason() -> None:
    for offered in (proposal(None, reason="within the band"), proposal(moves=0, reason="tiny")):
        decision = decided(offered)
        assert decision.status is DecisionStatus.HELD
        assert decision.reasoning == f"{ADVICE} Held: {offered.reason}"
        assert decision.approver is None


def test_one_human_decision_at_a_time_holds_a_fresh_plan() -> None:
    for outcome in (Outcome.ALLOWED, Outcome.NEEDS_APPROVAL):
        decision = decided(proposal(outcome), pending())
        assert decision.status is DecisionStatus.HELD
        assert decision.reasoning == f"{ADVICE} Held: decision dec-waiting is waiting for approval"
        assert decision.expires_at is None
        assert decision.plan_id == "plan-1"


def test_a_rejected_plan_is_recorded_as_rejected_even_while_a_decision_waits() -> None:
    decision = decided(proposal(Outcome.REJECTED), pending())
    assert decision.status is DecisionStatus.REJECTED
    assert decision.reasoning == ADVICE


def test_a_black_swan_exit_goes_ahead_while_a_decision_waits() -> None:
    offered = proposal(kind=PlanKind.EMERGENCY_EXIT, black_swan=("BTC -25% in 24 h",))
    decision = decided(offered, pending(), kind=DecisionKind.HOLD)
    assert decision.status is DecisionStatus.APPROVED
    assert decision.kind is DecisionKind.EMERGENCY_EXIT


def test_an_exit_the_advisor_asked_for_waits_its_turn() -> None:
    offered = proposal(kind=PlanKind.EMERGENCY_EXIT)
    decision = decided(offered, pending(), kind=DecisionKind.EMERGENCY_EXIT)
    assert decision.status is DecisionStatus.HELD
    assert decision.kind is DecisionKind.EMERGENCY_EXIT


def test_the_kind_is_the_plan_s_when_there_is_one_else_the_advice_s() -> None:
    exit_plan = plan(kind=PlanKind.EMERGENCY_EXIT)
    assert decision_kind(exit_plan, advice(DecisionKind.HOLD)) is DecisionKind.EMERGENCY_EXIT
    assert decision_kind(plan(), advice(DecisionKind.HOLD)) is DecisionKind.REBALANCE
    assert decision_kind(None, advice(DecisionKind.HOLD)) is DecisionKind.HOLD


def test_a_hold_acts_on_its_sweep_only_when_the_sweep_is_a_plan() -> None:
    sweep, nothing = proposal(), proposal(None)
    assert acted_on(sweep, hold=True) is sweep
    assert acted_on(nothing, hold=True) is None
    assert acted_on(nothing, hold=False) is nothing
    assert acted_on(None, hold=False) is None


def test_exit_reasons_are_the_black_swan_s() -> None:
    assert exit_reasons(proposal(black_swan=("USDC at $0.95",))) == ("USDC at $0.95",)
    assert exit_reasons(proposal()) == ()
    assert exit_reasons(None) == ()
