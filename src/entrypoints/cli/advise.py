"""`treasury advise [--json]`: the decision the configured advisor would make now, and the plan
and verdict the safety policy would make of it. Nothing is recorded or executed.

The plan comes from the same `propose` step the decision cycle runs, with the strategy
configuration built from the settings, so the advice is bounded by `max_advisor_deviation` as
it would be in the cycle. No chain is asked: gas is costed at the gas cap (the dearest gas the
policy lets a plan pay) and the base fee counts as unknown; the output notes it.

Market data comes from the configured market adapter (simulated in paper mode). The
portfolio, the MVRV ratchet and the recent decision outcomes come from the database when it is
reachable and migrated; otherwise (a fresh machine) the paper treasury's starting state is
used: $400,000 in USDC, a fresh ratchet and no outcomes, and the output says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from adapters.advisors.rules import RulesAdvisor
from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import SystemClock
from application.advice import FallbackAdvisor
from application.errors import ApplicationError
from application.ports.advisor import AdvisorRequest, AllocationAdvisor
from application.ports.persistence import DecisionOutcome
from domain.decisions import AdvisorDecision, DecisionKind
from domain.errors import DomainError
from domain.market import MarketData
from domain.portfolio import PortfolioState
from domain.safety import RuleVerdict, SafetyContext
from domain.signals import AllocationSignal, generate_signal
from domain.strategy import Proposal, StrategyConfig, planning_prices, propose
from domain.tactical import RatchetState

if TYPE_CHECKING:
    from adapters.advisors.claude import ClaudeAdvisor
from entrypoints.api.dto import RebalancingPlanOut, dump
from entrypoints.cli.market import read_market
from entrypoints.cli.output import console, key_value_table, print_json, run_async
from entrypoints.settings.advisor import AdvisorSettings
from entrypoints.settings.database import DatabaseSettings
from entrypoints.settings.service import AdvisorChoice, ServiceSettings
from entrypoints.settings.strategy import StrategySettings

PAPER_STARTING_CASH = Decimal(400_000)
"""The paper treasury's starting state: all of it idle USDC."""

advise_app = typer.Typer(
    help="The decision the configured advisor would make now (nothing is executed).",
    invoke_without_command=True,
)


@dataclass(frozen=True, slots=True)
class AdviceReport:
    """What `treasury advise` shows."""

    decision: AdvisorDecision
    signal: AllocationSignal
    configured_advisor: str
    notes: list[str] = field(default_factory=list)
    proposal: Proposal | None = None


def _proposal(
    decision: AdvisorDecision,
    portfolio: PortfolioState,
    market: MarketData,
    signal: AllocationSignal,
    strategy: StrategyConfig,
    now: datetime,
    notes: list[str],
) -> Proposal | None:
    """The plan and verdict the decision cycle would make of this advice (see module doc)."""
    gas = strategy.limits.gas_price_cap_gwei
    try:
        proposal = propose(
            portfolio,
            decision.target_allocations,
            market,
            SafetyContext(now=now),
            prices=planning_prices(market, gas),
            plan_id="advise-preview",
            now=now,
            config=strategy,
            threshold_crossed=signal.threshold_crossed,
            exit_requested=decision.decision is DecisionKind.EMERGENCY_EXIT,
            risk_level=decision.risk_assessment,
            signal_targets=signal.target_allocations,
        )
    except DomainError as exc:
        notes.append(f"no plan could be built: {exc}")
        return None
    notes.append(f"plan costed at the gas cap ({gas} gwei); the base fee was not read")
    return proposal


def build_advisor(
    choice: AdvisorChoice, settings: AdvisorSettings, strategy: StrategyConfig
) -> tuple[AllocationAdvisor, ClaudeAdvisor | None]:
    """The advisor the settings select: the rules, or Claude with the rules as fallback.

    Returns the advisor and the Claude adapter (to close), if any.
    """
    rules = RulesAdvisor(drift_band=strategy.drift_band, planner=strategy.planner)
    if choice is AdvisorChoice.RULES:
        return rules, None
    # Only here: the anthropic SDK is about 75 MiB that a rules-advised service never uses.
    from adapters.advisors.claude import ClaudeAdvisor

    claude = ClaudeAdvisor(
        api_key=settings.api_key(),
        base_url=settings.anthropic_base_url,
        model=settings.claude_model,
        timeout_s=settings.claude_timeout_s,
        max_tokens=settings.claude_max_tokens,
        max_retries=settings.claude_max_retries,
        signal_config=strategy.signal,
    )
    return FallbackAdvisor(claude, rules), claude


async def _stored_state(
    history: int, notes: list[str]
) -> tuple[PortfolioState | None, RatchetState, tuple[DecisionOutcome, ...]]:
    url = make_url(DatabaseSettings().resolved_database_url())
    sqlite_file = url.database or "" if url.get_backend_name() == "sqlite" else None
    if sqlite_file is not None and not await asyncio.to_thread(Path(sqlite_file).exists):
        notes.append("no database yet; using the paper starting state")
        return None, RatchetState(), ()
    engine = create_engine(url)
    try:
        await migrate.ensure_schema_current(engine)
        async with SqlUnitOfWorkFactory(engine)() as uow:
            portfolio = await uow.snapshots.latest()
            ratchet = await uow.strategy.ratchet()
            outcomes = tuple(await uow.outcomes.recent(history)) if history else ()
        return portfolio, ratchet, outcomes
    except (ApplicationError, OSError) as exc:
        notes.append(f"database not available ({exc}); using the paper starting state")
        return None, RatchetState(), ()
    finally:
        await engine.dispose()


async def advise_now() -> AdviceReport:
    """Ask the configured advisor once, with current data.

    Raises:
        MarketDataUnavailable: no market data could be read.
    """
    service = ServiceSettings()
    settings = AdvisorSettings()
    strategy = StrategySettings().strategy_config()
    clock = SystemClock()
    notes: list[str] = []
    market = (await read_market()).data
    portfolio, ratchet, outcomes = await _stored_state(settings.outcome_history, notes)
    if portfolio is None:
        if not notes:
            notes.append("no portfolio snapshot yet; using the paper starting state")
        portfolio = PortfolioState.build(
            positions=(), cash_balance=PAPER_STARTING_CASH, as_of=clock.now()
        )
    signal, _ = generate_signal(market, ratchet, clock.now(), strategy.signal)
    choice = service.advisor or AdvisorChoice.RULES
    advisor, claude = build_advisor(choice, settings, strategy)
    try:
        decision = await advisor.advise(
            AdvisorRequest(
                market=market,
                portfolio=portfolio,
                signal=signal,
                limits=strategy.limits,
                recent_outcomes=outcomes,
            )
        )
    finally:
        if claude is not None:
            await claude.aclose()
    proposal = None
    if decision.decision is not DecisionKind.HOLD:
        proposal = _proposal(decision, portfolio, market, signal, strategy, clock.now(), notes)
    return AdviceReport(
        decision=decision,
        signal=signal,
        configured_advisor=choice.value,
        notes=notes,
        proposal=proposal,
    )


def _rule_json(v: RuleVerdict) -> dict[str, Any]:
    return {
        "rule": v.rule,
        "passed": v.passed,
        "severity": v.severity.value,
        "limit": v.limit,
        "actual": v.actual,
        "message": v.message,
    }


def policy_json(proposal: Proposal | None) -> dict[str, Any] | None:
    """The plan and verdict the policy would produce (None for a hold)."""
    if proposal is None:
        return None
    return {
        "reason": proposal.reason,
        "targets": (
            {k: str(v) for k, v in proposal.targets.as_dict().items()}
            if proposal.targets is not None
            else None
        ),
        "deviation": _rule_json(proposal.deviation) if proposal.deviation else None,
        "plan": dump(RebalancingPlanOut.from_domain(proposal.plan)) if proposal.plan else None,
        "verdict": (
            {
                "outcome": proposal.verdict.outcome.value,
                "reasons": list(proposal.verdict.reasons),
                "rules": [_rule_json(v) for v in proposal.verdict.verdicts],
            }
            if proposal.verdict is not None
            else None
        ),
    }


def report_json(report: AdviceReport) -> dict[str, Any]:
    """The spec's advisor output fields plus who decided, why not Claude, and the log data."""
    d = report.decision
    return {
        "decision": d.decision.value,
        "target_allocations": {k: str(v) for k, v in d.target_allocations.as_dict().items()},
        "reasoning": d.reasoning,
        "risk_assessment": d.risk_assessment.value,
        "confidence": str(d.confidence),
        "advisor": d.advisor,
        "configured_advisor": report.configured_advisor,
        "model": d.model,
        "fallback_reason": d.fallback_reason,
        "metadata": dict(d.metadata),
        "signal": {
            "phase": report.signal.market_phase.value,
            "mode": report.signal.mode.value,
            "trigger": report.signal.trigger,
            "confidence": str(report.signal.confidence),
            "target_allocations": {
                k: str(v) for k, v in report.signal.target_allocations.as_dict().items()
            },
        },
        "policy": policy_json(report.proposal),
        "executed": False,
        "notes": report.notes,
    }


def report_table(report: AdviceReport) -> Table:
    """A table for people."""
    d = report.decision
    rows: dict[str, object] = {
        "decision": d.decision.value,
        "targets": ", ".join(f"{k} {v}" for k, v in d.target_allocations.as_dict().items()),
        "risk": d.risk_assessment.value,
        "confidence": d.confidence,
        "advisor": d.advisor,
        "model": d.model,
        "fallback reason": d.fallback_reason,
        "reasoning": d.reasoning,
    }
    for key in ("cost_usd", "latency_ms"):
        if key in d.metadata:
            rows[key] = d.metadata[key]
    proposal = report.proposal
    if proposal is not None:
        if proposal.deviation is not None and not proposal.deviation.passed:
            rows["clamped"] = proposal.deviation.message
        rows["plan"] = (
            f"{len(proposal.plan.required_transactions)} transaction(s)"
            if proposal.plan is not None
            else proposal.reason
        )
        if proposal.verdict is not None:
            rows["verdict"] = proposal.verdict.outcome.value
            rows.update({f"reason {i + 1}": r for i, r in enumerate(proposal.verdict.reasons)})
    rows.update({f"note {i + 1}": n for i, n in enumerate(report.notes)})
    return key_value_table("Advice (not executed)", rows)


@advise_app.callback()
def advise(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Print the decision the configured advisor would make now; nothing is executed."""
    report = run_async(advise_now())
    if as_json:
        print_json(report_json(report))
    else:
        console.print(report_table(report))
