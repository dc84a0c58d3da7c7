"""Decisions, the slippage budget, the circuit breaker and execution records."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.budget import (
    BreakerState,
    SlippageBudget,
    SlippageBudgetState,
    consume_slippage,
    slippage_available,
    slippage_used,
)
from domain.decisions import AdvisorDecision, Decision, DecisionKind, DecisionStatus
from domain.errors import DecisionExpired, DecisionNotPending, InvalidValue
from domain.execution import ExecutedTransaction, PlanOutcome, StepStatus, plan_outcome
from domain.plans import RebalancingPlan, SkippedMove, Transaction, TransactionType
from domain.signals import RiskLevel, generate_signal
from domain.tactical import RatchetState
from tests.unit.domain.builders import NOW, market

D = Decimal
TARGETS = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))


def decision(**changes: object) -> Decision:
    signal, _ = generate_signal(market(), RatchetState(), NOW)
    values: dict[str, object] = {
        "id": "d-1",
        "created_at": NOW,
        "signal": signal,
        "advisor": "rules",
        "target_allocations": TARGETS,
        "reasoning": "drift beyond band",
        "risk_assessment": RiskLevel.MEDIUM,
        "status": DecisionStatus.PENDING,
        "expires_at": NOW + timedelta(hours=24),
    }
    values.update(changes)
    return Decision(**values)  # type: ignore[arg-type]


def test_a_pending_decision_is_approved_once_with_the_approver_recorded() -> None:
    approved = decision().approve("alice", "looks right", NOW + timedelta(hours=1))
    assert approved.status is DecisionStatus.APPROVED
    assert (approved.approver, approved.notes, approved.version) == ("alice", "looks right", 1)
    with pytest.raises(DecisionNotPending, match="is approved; it cannot become approved"):
        approved.approve("bob", None, NOW)
    executed = approved.mark_executed(NOW)
    assert executed.status is DecisionStatus.EXECUTED
    with pytest.raises(DecisionNotPending):
        executed.mark_executed(NOW)


def test_an_expired_decision_cannot_be_approved() -> None:
    with pytest.raises(DecisionExpired):
        decision().approve("alice", None, NOW + timedelta(hours=24))
    expired = decision().expire(NOW + timedelta(hours=25), "approval window passed")
    assert expired.status is DecisionStatus.EXPIRED
    assert decision().is_expired(NOW + timedelta(days=2))


def test_rejection_and_failure_are_recorded() -> None:
    rejected = decision().reject("bob", "too big", NOW)
    assert (rejected.status, rejected.notes) == (DecisionStatus.REJECTED, "too big")
    with pytest.raises(DecisionNotPending):
        rejected.reject("bob", None, NOW)
    failed = decision(status=DecisionStatus.APPROVED).mark_failed(NOW, "reverted")
    assert (failed.status, failed.notes) == (DecisionStatus.FAILED, "reverted")
    with pytest.raises(DecisionNotPending):
        decision().mark_failed(NOW, "x")


def test_decisions_validate_their_fields() -> None:
    with pytest.raises(InvalidValue):
        decision(id="")
    with pytest.raises(InvalidValue):
        decision().approve("", None, NOW)
    with pytest.raises(InvalidValue):
        decision(expires_at=NOW.replace(tzinfo=None))


def test_advisor_decisions_must_explain_themselves() -> None:
    ok = AdvisorDecision(
        decision=DecisionKind.HOLD,
        target_allocations=TARGETS,
        reasoning="within band",
        risk_assessment=RiskLevel.LOW,
        confidence=D("0.8"),
        advisor="rules",
        metadata={"latency_ms": "3"},
    )
    assert ok.metadata["latency_ms"] == "3"
    with pytest.raises(InvalidValue):
        AdvisorDecision(
            decision=DecisionKind.HOLD,
            target_allocations=TARGETS,
            reasoning="  ",
            risk_assessment=RiskLevel.LOW,
            confidence=D("0.8"),
            advisor="rules",
        )


def test_slippage_budget_refills_linearly() -> None:
    budget = SlippageBudget()
    state = consume_slippage(SlippageBudgetState(), budget, D(400_000), D(4_000), NOW)
    assert slippage_available(state, budget, D(400_000), NOW) == 0
    assert slippage_used(state, budget, D(400_000), NOW + timedelta(days=7)) == 0
    assert slippage_available(state, budget, D(400_000), NOW + timedelta(days=1, hours=18)) == D(
        1_000
    )
    again = consume_slippage(state, budget, D(400_000), D(500), NOW + timedelta(days=1, hours=18))
    assert again.used_usd == D(3_500)
    assert slippage_used(SlippageBudgetState(), budget, D(1), NOW) == 0
    with pytest.raises(InvalidValue):
        SlippageBudget(period=timedelta(0))


def test_circuit_breaker_counts_consecutive_failures() -> None:
    state = BreakerState().after(False).after(False)
    assert not state.tripped(3)
    assert state.after(False).tripped(3)
    assert state.after(True).consecutive_failures == 0
    with pytest.raises(InvalidValue):
        BreakerState(consecutive_failures=-1)


def test_execution_records_advance_and_know_when_finished() -> None:
    step = ExecutedTransaction(
        id="t-1",
        plan_id="p",
        step_index=0,
        chain_id=1,
        kind="approve",
        description="approve USDC",
        status=StepStatus.PLANNED,
        amount_usd=D(100),
        created_at=NOW,
        updated_at=NOW,
    )
    assert not step.finished
    sent = step.advance(StepStatus.BROADCAST, NOW, nonce=7, tx_hash="0xabc")
    assert (sent.nonce, sent.tx_hash, sent.finished) == (7, "0xabc", False)
    assert sent.advance(StepStatus.CONFIRMED, NOW, gas_used=50_000).finished
    with pytest.raises(InvalidValue):
        ExecutedTransaction(
            id="t",
            plan_id="p",
            step_index=-1,
            chain_id=1,
            kind="swap",
            description="",
            status=StepStatus.PLANNED,
            amount_usd=D(0),
            created_at=NOW,
            updated_at=NOW,
        )
    with pytest.raises(InvalidValue):
        step.advance(StepStatus.SIGNED, NOW, nonce=-1)


def test_transactions_and_plans_validate() -> None:
    t = Transaction(
        tx_type=TransactionType.SWAP,
        protocol="oneinch",
        from_asset="USDC",
        to_asset="WETH",
        amount=D(10),
        amount_usd=D(10),
        estimated_gas=1,
        estimated_gas_usd=D(0),
        estimated_slippage_usd=D(0),
        slippage_tolerance=D("0.01"),
    )
    assert t.destination_key == ("wallet", "WETH")
    assert t.source_key is None
    assert t.describe() == "swap 10 USDC -> WETH via oneinch ($10.00)"
    with pytest.raises(InvalidValue):
        Transaction(
            tx_type=TransactionType.SWAP,
            protocol="oneinch",
            from_asset="USDC",
            to_asset="USDC",
            amount=D(1),
            amount_usd=D(1),
            estimated_gas=1,
            estimated_gas_usd=D(0),
            estimated_slippage_usd=D(0),
            slippage_tolerance=D(0),
        )
    with pytest.raises(InvalidValue):
        Transaction(
            tx_type=TransactionType.DEPOSIT,
            protocol="aave",
            from_asset="USDC",
            to_asset="USDC",
            amount=D(0),
            amount_usd=D(0),
            estimated_gas=1,
            estimated_gas_usd=D(0),
            estimated_slippage_usd=D(0),
            slippage_tolerance=D(0),
        )
    with pytest.raises(InvalidValue):
        Transaction(
            tx_type=TransactionType.DEPOSIT,
            protocol="aave",
            from_asset="USDC",
            to_asset="USDC",
            amount=D(1),
            amount_usd=D(1),
            estimated_gas=-1,
            estimated_gas_usd=D(0),
            estimated_slippage_usd=D(0),
            slippage_tolerance=D(0),
        )
    plan = RebalancingPlan(
        plan_id="p",
        created_at=NOW,
        current_allocations={},
        target_allocations=TARGETS,
        required_transactions=(t,),
        estimated_gas_cost=D(1),
        estimated_slippage=D(2),
        requires_approval=False,
        risk_level=RiskLevel.LOW,
        skipped=(SkippedMove(description="x", reason="y"),),
    )
    assert (plan.total_cost_usd, plan.largest_move_usd, plan.is_empty) == (D(3), D(10), False)
    with pytest.raises(InvalidValue):
        RebalancingPlan(
            plan_id="",
            created_at=NOW,
            current_allocations={},
            target_allocations=TARGETS,
            required_transactions=(),
            estimated_gas_cost=D(0),
            estimated_slippage=D(0),
            requires_approval=False,
            risk_level=RiskLevel.LOW,
        )


def test_an_approved_decision_whose_plan_moved_some_money_is_partially_executed_once() -> None:
    partial = decision(status=DecisionStatus.APPROVED).mark_partially_executed(NOW, "step 3")
    assert (partial.status, partial.notes) == (DecisionStatus.PARTIALLY_EXECUTED, "step 3")
    with pytest.raises(DecisionNotPending):
        partial.mark_partially_executed(NOW, "again")
    with pytest.raises(DecisionNotPending):
        decision().mark_partially_executed(NOW, "still pending")


def _step(index: int, kind: str, status: StepStatus) -> ExecutedTransaction:
    return ExecutedTransaction(
        id=f"p:{index}",
        plan_id="p",
        step_index=index,
        chain_id=1,
        kind=kind,
        description=kind,
        status=status,
        amount_usd=Decimal(100),
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("steps", "outcome"),
    [
        pytest.param([], PlanOutcome.FAILED, id="no-steps"),
        pytest.param(
            [("approve", StepStatus.CONFIRMED), ("deposit", StepStatus.CONFIRMED)],
            PlanOutcome.EXECUTED,
            id="all-confirmed",
        ),
        pytest.param(
            [("approve", StepStatus.CONFIRMED), ("deposit", StepStatus.DROPPED)],
            PlanOutcome.EXECUTED,
            id="rest-dropped-by-the-gas-rule",
        ),
        pytest.param(
            [("deposit", StepStatus.CONFIRMED), ("swap", StepStatus.FAILED)],
            PlanOutcome.PARTIALLY_EXECUTED,
            id="money-moved-then-failed",
        ),
        pytest.param(
            [("approve", StepStatus.CONFIRMED), ("deposit", StepStatus.FAILED)],
            PlanOutcome.FAILED,
            id="only-an-approval-landed",
        ),
    ],
)
def test_a_finished_plan_is_executed_partially_executed_or_failed(
    steps: list[tuple[str, StepStatus]], outcome: PlanOutcome
) -> None:
    assert plan_outcome([_step(i, k, s) for i, (k, s) in enumerate(steps)]) is outcome


def test_a_plan_with_an_unfinished_step_has_no_outcome_yet() -> None:
    with pytest.raises(InvalidValue, match="still broadcast"):
        plan_outcome([_step(0, "deposit", StepStatus.BROADCAST)])
