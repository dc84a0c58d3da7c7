"""Notification events built from domain objects, and the one safe way use cases publish them.

The builders are pure: they turn a decision, plan, execution, flag, market reading or portfolio
state into an `Event` with the facts a human needs (amounts, reasons, expiry, links). Use cases
call `announce(notifier, builder)` after their unit of work commits; a failure to build or
queue an event is logged and never fails the use case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from application.ports.notify import Event, EventKind, EventSeverity, Link, Notifier
from application.ports.persistence import OperatorFlag
from domain.allocation import Bucket
from domain.decisions import Decision, DecisionStatus
from domain.errors import InvalidValue
from domain.execution import TX_EXPLORERS, ExecutedTransaction, explorer_url
from domain.market import OPTIONS_FIELDS, MarketData, MarketField
from domain.money import ZERO
from domain.plans import RebalancingPlan
from domain.portfolio import PortfolioState

log = logging.getLogger(__name__)

MAX_LISTED_STEPS = 20


def usd(amount: Decimal) -> str:
    """`$52,340.12`: dollars with thousands separators and cents."""
    return f"${amount.quantize(Decimal('0.01')):,}"


def percent(fraction: Decimal) -> str:
    """`+1.25 %` from 0.0125."""
    return f"{(fraction * 100).quantize(Decimal('0.01')):+} %"


def when(at: datetime) -> str:
    """`2026-03-03 12:00 UTC`."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def decision_link(dashboard_url: str, decision_id: str) -> Link | None:
    """The dashboard link to a decision, `<base>/#decision-<id>`; None without a base URL."""
    if not dashboard_url:
        return None
    return Link(
        label="Open in dashboard", url=f"{dashboard_url.rstrip('/')}/#decision-{decision_id}"
    )


def _links(*links: Link | None) -> tuple[Link, ...]:
    return tuple(link for link in links if link is not None)


def _moved(plan: RebalancingPlan) -> Decimal:
    return sum((t.amount_usd for t in plan.required_transactions), ZERO)


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)


def approval_pending(decision: Decision, plan: RebalancingPlan, dashboard_url: str) -> Event:
    """A decision waits for a human: largest move, total, reasons, expiry and the link."""
    reasons = decision.verdict_reasons or plan.approval_reasons
    body = f"{decision.reasoning}\n\nWhy a human must approve:\n{_bullets(reasons)}"
    fields = {
        "Decision": decision.id,
        "Largest move": usd(plan.largest_move_usd),
        "Total moved": usd(_moved(plan)),
        "Transactions": str(len(plan.required_transactions)),
        "Risk": decision.risk_assessment.value,
    }
    if decision.expires_at is not None:
        fields["Expires"] = when(decision.expires_at)
    return Event(
        kind=EventKind.APPROVAL_PENDING,
        severity=EventSeverity.WARNING,
        title=f"Approval needed: rebalance moving up to {usd(plan.largest_move_usd)}",
        body=body,
        fields=fields,
        links=_links(decision_link(dashboard_url, decision.id)),
        dedup_key=f"approval_pending:{decision.id}",
        occurred_at=decision.created_at,
    )


_ANSWERS: Mapping[DecisionStatus, tuple[EventKind, EventSeverity, str]] = {
    DecisionStatus.APPROVED: (EventKind.DECISION_APPROVED, EventSeverity.INFO, "approved"),
    DecisionStatus.REJECTED: (EventKind.DECISION_REJECTED, EventSeverity.INFO, "rejected"),
    DecisionStatus.EXPIRED: (EventKind.DECISION_EXPIRED, EventSeverity.WARNING, "expired"),
}


def decision_answered(decision: Decision, dashboard_url: str) -> Event:
    """A pending decision was approved, rejected or expired.

    Raises:
        InvalidValue: the decision is in none of those states.
    """
    if decision.status not in _ANSWERS:
        raise InvalidValue("status", decision.status.value, "must be approved, rejected or expired")
    kind, severity, verb = _ANSWERS[decision.status]
    who = f" by {decision.approver}" if decision.approver else ""
    fields = {"Decision": decision.id}
    if decision.approver:
        fields["By"] = decision.approver
    if decision.notes:
        fields["Notes"] = decision.notes
    return Event(
        kind=kind,
        severity=severity,
        title=f"Decision {decision.id} {verb}{who}",
        body=decision.notes or f"The decision was {verb}{who}.",
        fields=fields,
        links=_links(decision_link(dashboard_url, decision.id)),
        dedup_key=f"{kind.value}:{decision.id}",
        occurred_at=decision.decided_at or decision.created_at,
    )


def explorer_link(
    step: ExecutedTransaction, explorers: Mapping[int, str] = TX_EXPLORERS
) -> Link | None:
    """A block explorer link for a step that reached the chain, where the chain has one."""
    url = explorer_url(step.chain_id, step.tx_hash, explorers)
    if url is None:
        return None
    return Link(label=f"Step {step.step_index + 1} transaction", url=url)


def _step_line(step: ExecutedTransaction) -> str:
    line = f"{step.step_index + 1}. {step.description} — {step.status.value}"
    if step.tx_hash:
        line += f" ({step.tx_hash})"
    if step.error:
        line += f": {step.error}"
    return line


def _step_lines(steps: Sequence[ExecutedTransaction]) -> str:
    lines = [_step_line(s) for s in steps[:MAX_LISTED_STEPS]]
    if len(steps) > MAX_LISTED_STEPS:
        lines.append(f"… and {len(steps) - MAX_LISTED_STEPS} more")
    return "\n".join(lines)


def plan_executed(
    decision_id: str,
    plan: RebalancingPlan,
    steps: Sequence[ExecutedTransaction],
    dashboard_url: str,
    *,
    at: datetime,
    explorers: Mapping[int, str] = TX_EXPLORERS,
) -> Event:
    """A plan's transactions all confirmed: each step with its chain link."""
    gas = sum((s.gas_cost_usd or ZERO for s in steps), ZERO)
    return Event(
        kind=EventKind.PLAN_EXECUTED,
        severity=EventSeverity.INFO,
        title=f"Rebalance executed: {len(steps)} transactions, {usd(_moved(plan))} moved",
        body=_step_lines(steps),
        fields={
            "Decision": decision_id,
            "Plan": plan.plan_id,
            "Moved": usd(_moved(plan)),
            "Gas paid": usd(gas),
        },
        links=_links(
            *(explorer_link(s, explorers) for s in steps),
            decision_link(dashboard_url, decision_id),
        ),
        dedup_key=f"plan_executed:{plan.plan_id}",
        occurred_at=at,
    )


def execution_failed(
    decision_id: str,
    plan: RebalancingPlan,
    error: str,
    steps: Sequence[ExecutedTransaction],
    dashboard_url: str,
    *,
    at: datetime,
    explorers: Mapping[int, str] = TX_EXPLORERS,
) -> Event:
    """A plan failed (a step reverted, or the policy refused it at execution time)."""
    body = f"{error}\n\n{_step_lines(steps)}" if steps else error
    return Event(
        kind=EventKind.EXECUTION_FAILED,
        severity=EventSeverity.CRITICAL,
        title=f"Execution failed for plan {plan.plan_id}",
        body=body,
        fields={
            "Decision": decision_id,
            "Plan": plan.plan_id,
            "Steps sent": str(sum(1 for s in steps if s.tx_hash)),
            "Error": error,
        },
        links=_links(
            *(explorer_link(s, explorers) for s in steps),
            decision_link(dashboard_url, decision_id),
        ),
        dedup_key=f"execution_failed:{plan.plan_id}",
        occurred_at=at,
    )


def emergency_switched(flag: OperatorFlag) -> Event:
    """The emergency stop was turned on (critical) or off (warning)."""
    kind = EventKind.EMERGENCY_STOP if flag.active else EventKind.EMERGENCY_RESUMED
    title = "Emergency stop: all execution halted" if flag.active else "Treasury resumed"
    return Event(
        kind=kind,
        severity=EventSeverity.CRITICAL if flag.active else EventSeverity.WARNING,
        title=title,
        body=flag.reason,
        fields={"By": flag.set_by, "Reason": flag.reason, "At": when(flag.set_at)},
        dedup_key=f"{kind.value}:{flag.set_at.isoformat()}",
        occurred_at=flag.set_at,
    )


def breaker_tripped(consecutive_failures: int, limit: int, *, at: datetime) -> Event:
    """The circuit breaker tripped and set the emergency stop."""
    return Event(
        kind=EventKind.CIRCUIT_BREAKER_TRIPPED,
        severity=EventSeverity.CRITICAL,
        title="Circuit breaker tripped: emergency stop is on",
        body=(
            f"{consecutive_failures} consecutive executions failed (limit {limit}). "
            "Nothing will execute until a human resumes the treasury."
        ),
        fields={"Consecutive failures": str(consecutive_failures), "Limit": str(limit)},
        dedup_key=f"circuit_breaker_tripped:{at.isoformat()}",
        occurred_at=at,
    )


def black_swan_exit(
    decision: Decision, plan: RebalancingPlan, reasons: Sequence[str], dashboard_url: str
) -> Event:
    """The automatic exit of volatile positions started."""
    return Event(
        kind=EventKind.BLACK_SWAN_EXIT,
        severity=EventSeverity.CRITICAL,
        title=f"Black-swan exit: selling {usd(_moved(plan))} of volatile positions",
        body=_bullets(reasons) if reasons else decision.reasoning,
        fields={
            "Decision": decision.id,
            "Status": decision.status.value,
            "Plan": plan.plan_id,
            "Moved": usd(_moved(plan)),
            "Transactions": str(len(plan.required_transactions)),
        },
        links=_links(decision_link(dashboard_url, decision.id)),
        dedup_key=f"black_swan_exit:{plan.plan_id}",
        occurred_at=decision.created_at,
    )


def stale_sources(market: MarketData, max_age: timedelta, *, at: datetime) -> list[Event]:
    """One event per market field served stale for longer than `max_age`, or missing (Deribit's
    options fields only when stale: unknown, they cost no confidence and never trade)."""
    events: list[Event] = []
    limit_s = Decimal(int(max_age.total_seconds()))
    for name in MarketField:
        info = market.freshness.get(name)
        missing = getattr(market, name.value) is None
        if missing and name in OPTIONS_FIELDS:
            continue
        if not missing and (info is None or not info.stale or info.age_seconds <= limit_s):
            continue
        source = info.source if info is not None else "unknown"
        age = f"{info.age_seconds.quantize(Decimal(1))} s" if info is not None else "unknown"
        what = "unavailable" if missing else f"stale for {age}"
        events.append(
            Event(
                kind=EventKind.SOURCE_STALE,
                severity=EventSeverity.WARNING,
                title=f"Market data {name.value} from {source} is {what}",
                body=(
                    f"{source} could not be read; {name.value} is {what} "
                    f"(limit {int(limit_s)} s). Signals lose confidence until it recovers."
                ),
                fields={"Field": name.value, "Source": source, "Age": age},
                dedup_key=f"source_stale:{source}:{name.value}",
                occurred_at=at,
            )
        )
    return events


def daily_summary(state: PortfolioState, dashboard_url: str, *, at: datetime) -> Event:
    """Value, allocations against targets, and the 24 h return."""
    lines = []
    for bucket in Bucket:
        line = state.allocations.get(bucket)
        if line is None:
            continue
        target = f" (target {line.target * 100:.1f} %)" if line.target is not None else ""
        lines.append(f"{bucket.value}: {line.current * 100:.1f} %{target}")
    day = percent(state.performance_24h) if state.performance_24h is not None else "n/a"
    link = Link(label="Open dashboard", url=dashboard_url) if dashboard_url else None
    return Event(
        kind=EventKind.DAILY_SUMMARY,
        severity=EventSeverity.INFO,
        title=f"Daily summary: {usd(state.total_value_usd)} ({day} in 24 h)",
        body=_bullets(lines),
        fields={
            "Value": usd(state.total_value_usd),
            "24 h return": day,
            "Positions": str(len(state.positions)),
            "Cash": usd(state.cash_balance),
        },
        links=_links(link),
        dedup_key=f"daily_summary:{at.date().isoformat()}",
        occurred_at=at,
    )


def channel_test_message(channel: str, *, at: datetime) -> Event:
    """What `treasury notify test` sends."""
    return Event(
        kind=EventKind.TEST,
        severity=EventSeverity.INFO,
        title="Treasury notifications work",
        body=f"This is a test message for the {channel} channel.",
        fields={"Channel": channel},
        dedup_key=f"test:{channel}:{at.isoformat()}",
        occurred_at=at,
    )


def announce(notifier: Notifier | None, build: Callable[[], Event | Sequence[Event]]) -> None:
    """Build and publish events, if a notifier is wired. Never raises: a notification must not
    fail a decision cycle, so a failure to build or queue is logged with its traceback."""
    if notifier is None:
        return
    try:
        built = build()
        for event in (built,) if isinstance(built, Event) else built:
            notifier.publish(event)
    except Exception:
        log.exception("a notification could not be published")
