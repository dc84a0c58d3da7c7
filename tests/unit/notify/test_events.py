"""Notification events built from domain objects carry what a human needs to act."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from application.cycle import CycleCommand
from application.notifications import (
    approval_pending,
    breaker_tripped,
    daily_summary,
    decision_answered,
    emergency_switched,
    execution_failed,
    plan_executed,
    stale_sources,
)
from application.ports.notify import EventKind, EventSeverity
from application.ports.persistence import EMERGENCY_STOP, OperatorFlag
from domain.errors import InvalidValue
from domain.execution import ExecutedTransaction, StepStatus
from domain.market import Freshness, MarketField
from domain.portfolio import PortfolioState
from tests.unit.application.conftest import build_treasury
from tests.unit.domain.builders import market

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)
URL = "https://treasury.example.org/"


def step(index: int, chain_id: int = 1, tx_hash: str | None = "0xabc") -> ExecutedTransaction:
    return ExecutedTransaction(
        id=f"plan-2:{index}",
        plan_id="plan-2",
        step_index=index,
        chain_id=chain_id,
        kind="deposit",
        description=f"deposit 1000 USDC -> aUSDC via aave (${index}000.00)",
        status=StepStatus.CONFIRMED,
        amount_usd=Decimal(1000),
        created_at=AT,
        updated_at=AT,
        tx_hash=tx_hash,
        gas_cost_usd=Decimal("1.25"),
    )


async def pending_cycle():  # type: ignore[no-untyped-def]
    t = build_treasury(cash=400_000)
    result = await t.cycle.execute(CycleCommand())
    assert result.plan is not None
    return result


async def test_a_pending_approval_names_the_largest_move_the_reasons_the_expiry_and_the_link() -> (
    None
):
    result = await pending_cycle()
    event = approval_pending(result.decision, result.plan, URL)
    assert event.kind is EventKind.APPROVAL_PENDING
    assert event.severity is EventSeverity.WARNING
    assert event.fields["Decision"] == result.decision.id
    assert event.fields["Largest move"] == f"${result.plan.largest_move_usd:,.2f}"
    assert event.fields["Expires"] == "2026-03-03 12:00 UTC"
    assert any("largest single move" in r for r in result.decision.verdict_reasons)
    assert all(reason in event.body for reason in result.decision.verdict_reasons)
    [link] = event.links
    assert link.url == f"https://treasury.example.org/#decision-{result.decision.id}"
    assert event.dedup_key == f"approval_pending:{result.decision.id}"


@pytest.mark.parametrize(
    ("action", "kind", "severity"),
    [
        pytest.param("approve", EventKind.DECISION_APPROVED, EventSeverity.INFO, id="approved"),
        pytest.param("reject", EventKind.DECISION_REJECTED, EventSeverity.INFO, id="rejected"),
        pytest.param("expire", EventKind.DECISION_EXPIRED, EventSeverity.WARNING, id="expired"),
    ],
)
async def test_an_answered_decision_says_who_and_how(
    action: str, kind: EventKind, severity: EventSeverity
) -> None:
    decision = (await pending_cycle()).decision
    later = AT + timedelta(hours=1)
    if action == "expire":
        answered = decision.expire(later, "approval window passed")
    else:
        answered = getattr(decision, action)("alice", "looks right", later)
    event = decision_answered(answered, URL)
    assert (event.kind, event.severity) == (kind, severity)
    assert decision.id in event.title
    assert event.occurred_at == later


async def test_a_decision_still_pending_is_not_an_answer() -> None:
    decision = (await pending_cycle()).decision
    with pytest.raises(InvalidValue):
        decision_answered(decision, URL)


async def test_an_executed_plan_links_each_transaction_to_its_explorer() -> None:
    plan = (await pending_cycle()).plan
    steps = [step(0), step(1, chain_id=31337), step(2, tx_hash=None)]
    event = plan_executed("dec-1", plan, steps, URL, at=AT)
    assert [link.url for link in event.links] == [
        "https://etherscan.io/tx/0xabc",
        "https://treasury.example.org/#decision-dec-1",
    ]
    assert event.fields["Gas paid"] == "$3.75"
    assert "1. deposit 1000 USDC" in event.body


async def test_a_failed_execution_is_critical_and_carries_the_error() -> None:
    plan = (await pending_cycle()).plan
    failed = replace(step(0), status=StepStatus.FAILED, error="execution reverted: slippage")
    event = execution_failed("dec-1", plan, "execution reverted: slippage", [failed], URL, at=AT)
    assert event.severity is EventSeverity.CRITICAL
    assert event.fields["Error"] == "execution reverted: slippage"
    assert "reverted" in event.body


def test_the_emergency_stop_is_critical_and_resuming_is_a_warning() -> None:
    on = OperatorFlag(name=EMERGENCY_STOP, active=True, set_by="bob", reason="exploit", set_at=AT)
    off = replace(on, active=False, reason="patched", set_at=AT + timedelta(hours=2))
    stop, resume = emergency_switched(on), emergency_switched(off)
    assert (stop.kind, stop.severity) == (EventKind.EMERGENCY_STOP, EventSeverity.CRITICAL)
    assert (resume.kind, resume.severity) == (EventKind.EMERGENCY_RESUMED, EventSeverity.WARNING)
    assert stop.fields["By"] == "bob"
    assert stop.dedup_key != resume.dedup_key


def test_a_tripped_breaker_says_how_many_failures() -> None:
    event = breaker_tripped(3, 3, at=AT)
    assert event.severity is EventSeverity.CRITICAL
    assert "3 consecutive executions failed" in event.body


def test_only_sources_stale_beyond_the_limit_or_missing_are_announced() -> None:
    data = replace(
        market(mvrv="2", fng=60, funding="0.0001"),
        funding_rate=None,
        freshness={
            MarketField.MVRV_Z_SCORE: Freshness(
                source="glassnode", observed_at=AT, stale=True, age_seconds=Decimal(3600)
            ),
            MarketField.BTC_PRICE: Freshness(
                source="coingecko", observed_at=AT, stale=True, age_seconds=Decimal(120)
            ),
        },
    )
    events = stale_sources(data, timedelta(minutes=15), at=AT)
    assert [e.fields["Field"] for e in events] == ["mvrv_z_score", "funding_rate"]
    assert events[0].title == "Market data mvrv_z_score from glassnode is stale for 3600 s"
    assert events[0].dedup_key == "source_stale:glassnode:mvrv_z_score"
    assert "unavailable" in events[1].title


def test_the_daily_summary_has_value_allocations_and_the_24h_return() -> None:
    state = replace(
        PortfolioState.build(positions=(), cash_balance=Decimal(400_000), as_of=AT),
        performance_24h=Decimal("0.0125"),
    )
    event = daily_summary(state, URL, at=AT)
    assert event.title == "Daily summary: $400,000.00 (+1.25 % in 24 h)"
    assert "cash: 100.0 %" in event.body
    assert event.dedup_key == "daily_summary:2026-03-02"


def test_a_deribit_field_is_announced_when_stale_too_long_but_not_when_unknown() -> None:
    stale_iv = Freshness(source="deribit", observed_at=AT, stale=True, age_seconds=Decimal(3600))
    data = replace(
        market(mvrv="2", fng=60, funding="0.0001", btc_iv="55"),
        freshness={MarketField.BTC_IMPLIED_VOLATILITY: stale_iv},
    )
    events = stale_sources(data, timedelta(minutes=15), at=AT)
    assert [e.fields["Field"] for e in events] == ["btc_implied_volatility"]
