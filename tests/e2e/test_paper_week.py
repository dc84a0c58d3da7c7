"""A simulated week of autonomous paper trading in one run: 168 hourly cycles through the real
container (SQLite, the in-process dev chain, the simulated market, the rules advisor, the
execution engine), driven by the scheduler's own tick.

Checked afterwards: every cycle left a decision in the audit log, the audit chain verifies, no
executed plan broke a safety limit, trades per day stayed within the limit, and the positions
read from chain match the positions the service recorded.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from domain.decisions import DecisionStatus
from domain.safety import SafetyLimits
from entrypoints.container import AppSettings, Runtime, bootstrap
from entrypoints.scheduler import Scheduler, SchedulerConfig

pytestmark = pytest.mark.slow(seconds=160)

HOURS = 7 * 24


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_API_TOKENS", "week-approver-token-001:approver")
    monkeypatch.setenv("TREASURY_PAPER_HOURS_PER_CYCLE", "1")
    # A week in the most eventful part of the full-cycle storyline: the run to the top.
    monkeypatch.setenv("TREASURY_MARKET_SCENARIO", "bull-to-top")
    running = await bootstrap(AppSettings.load())
    assert await running.election.try_lead(running.take_over)  # alone: it leads at once
    try:
        yield running
    finally:
        await running.aclose()


async def test_a_week_of_hourly_cycles_stays_within_every_limit(runtime: Runtime) -> None:
    scheduler = Scheduler(
        runtime.services,
        SchedulerConfig(interval_s=0.001, max_cycles=HOURS),
        before_cycle=runtime.before_cycle,
    )
    await scheduler.run()
    assert scheduler.cycles == HOURS, scheduler.last_error
    assert scheduler.failures == 0, scheduler.last_error

    async with runtime.uow() as unit:
        entries = await unit.audit.entries(limit=100_000)
        broken = await unit.audit.verify()
        decisions = await unit.decisions.recent(limit=10_000)
        executed = [d for d in decisions if d.status is DecisionStatus.EXECUTED]
        steps = [s for d in executed if d.plan_id for s in await unit.executions.by_plan(d.plan_id)]
        recorded = await unit.positions.list_all()

    assert broken is None
    created = [e for e in entries if e.action == "decision.created"]
    assert len(created) == HOURS
    assert len(decisions) == HOURS

    limits = SafetyLimits()
    plan_entries = [e for e in entries if e.action.startswith("plan.")]
    for entry in plan_entries:
        if entry.action != "plan.allowed":
            continue
        rules = entry.payload["verdict"]["rules"]
        assert all(rule["passed"] or rule["severity"] != "hard" for rule in rules), rules

    sent_per_day = Counter(s.created_at.date() for s in steps if s.tx_hash and s.kind != "approve")
    assert all(count <= limits.max_trades_per_day for count in sent_per_day.values()), sent_per_day

    on_chain = await runtime.chain.portfolio.read()
    chain_amounts = {(p.protocol, p.asset): p.amount for p in on_chain.positions}
    recorded_amounts = {(p.protocol, p.asset): p.amount for p in recorded}
    assert chain_amounts.keys() == recorded_amounts.keys()
    for key, amount in recorded_amounts.items():
        assert abs(chain_amounts[key] - amount) <= max(
            Decimal("0.000001"), amount * Decimal("1e-6")
        ), key
    assert on_chain.total_value_usd > Decimal(300_000)
