"""`treasury advise [--json]`: the decision the configured advisor would make now, and the plan
and verdict the safety policy would make of it. Nothing is recorded or executed.

The work is the `PreviewAdvice` use case (`application/preview_advice.py`), over the narrow
local bootstrap (`entrypoints/wiring/local.py`): the stored portfolio, MVRV ratchet and recent
outcomes, market data from the configured market adapter (simulated in paper mode). Without a
portfolio snapshot (or without a database at all, which this command does not create) it
invents no portfolio: one line says so and the command exits 3 (not found).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from adapters.system import SystemClock
from application.preview_advice import AdvicePreview, NoPortfolioSnapshot, PreviewAdvice
from domain.safety import RuleVerdict
from domain.strategy import Proposal
from entrypoints.api.dto import RebalancingPlanOut, dump
from entrypoints.cli.market import read_market
from entrypoints.cli.output import console, key_value_table, print_json, run_async
from entrypoints.settings.advisor import AdvisorSettings
from entrypoints.settings.database import DatabaseSettings
from entrypoints.settings.service import AdvisorChoice, ServiceSettings
from entrypoints.settings.strategy import StrategySettings
from entrypoints.wiring.advisor import build_advisor
from entrypoints.wiring.local import local_units_of_work

advise_app = typer.Typer(
    help="The decision the configured advisor would make now (nothing is executed).",
    invoke_without_command=True,
)


async def _no_database_file(database: DatabaseSettings) -> bool:
    """Whether the database is an SQLite file that does not exist (opening would create it)."""
    url = make_url(database.resolved_database_url())
    if url.get_backend_name() != "sqlite":
        return False
    return not await asyncio.to_thread(Path(url.database or "").exists)


async def advise_now() -> tuple[AdvicePreview, AdvisorChoice]:
    """Ask the configured advisor once, with current data, about the stored portfolio.

    Raises:
        MarketDataUnavailable: no market data could be read.
        NoPortfolioSnapshot: there is no database yet, or it holds no portfolio snapshot.
        SchemaBehind: the database schema is older than this code.
    """
    database = DatabaseSettings()
    if await _no_database_file(database):
        raise NoPortfolioSnapshot("no database yet")
    settings = AdvisorSettings()
    strategy = StrategySettings().strategy_config()
    clock = SystemClock()
    market = (await read_market()).data
    choice = ServiceSettings().advisor or AdvisorChoice.RULES
    advisor, claude = build_advisor(choice, settings, strategy)
    try:
        async with local_units_of_work(database, clock) as uow:
            preview = await PreviewAdvice(
                clock=clock,
                uow=uow,
                advisor=advisor,
                strategy=strategy,
                outcome_history=settings.outcome_history,
            ).execute(market)
    finally:
        if claude is not None:
            await claude.aclose()
    return preview, choice


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


def report_json(report: AdvicePreview, configured: AdvisorChoice) -> dict[str, Any]:
    """The spec's advisor output fields plus who decided, why not Claude, and the log data."""
    d = report.decision
    return {
        "decision": d.decision.value,
        "target_allocations": {k: str(v) for k, v in d.target_allocations.as_dict().items()},
        "reasoning": d.reasoning,
        "risk_assessment": d.risk_assessment.value,
        "confidence": str(d.confidence),
        "advisor": d.advisor,
        "configured_advisor": configured.value,
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


def report_table(report: AdvicePreview) -> Table:
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
    report, configured = run_async(advise_now())
    if as_json:
        print_json(report_json(report, configured))
    else:
        console.print(report_table(report))
