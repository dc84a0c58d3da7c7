"""A simulated week of autonomous paper trading in one run: 168 hourly cycles through the real
container (SQLite, the in-process dev chain, the simulated market, the rules advisor, the
execution engine), driven by the scheduler's own tick.

Checked afterwards: every cycle left a decision in the audit log, the audit chain verifies, no
executed plan broke a safety limit, trades per day stayed within the limit, and the positions
read from chain match the positions the service recorded.

Run twice, the same week from the same start: with the service's own key holding the treasury
(`TREASURY_CUSTODY=eoa`), and with a Safe holding it (`safe`, 2 of 3 owners). Nobody approves
in the EOA week; in the Safe week the owners do, as the issue asks: before each tick, every
pending decision's Safe proposal gets two owners' signatures through the API
(`POST /decisions/{id}/signatures`), which executes it. Under Safe custody every executed plan
is ONE transaction (the agent's Roles batch, or the owners' signed `execTransaction`), mined
once and audited with its inner calls; the positions read for the Safe's address equal the
recorded ones, and `treasury audit verify` passes.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from typer.testing import CliRunner

from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from domain.audit import AuditEntry
from domain.decisions import Decision, DecisionStatus
from domain.execution import ExecutedTransaction, StepStatus
from domain.safety import SafetyLimits
from entrypoints.api.app import create_app
from entrypoints.cli.main import app
from entrypoints.container import AppSettings, Runtime, bootstrap
from entrypoints.scheduler import Scheduler, SchedulerConfig

pytestmark = pytest.mark.slow(seconds=160)

HOURS = 7 * 24
APPROVER = "week-approver-token-001"


@pytest.fixture(params=["eoa", "safe"])
def custody(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, custody: str
) -> AsyncIterator[Runtime]:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_CUSTODY", custody)
    if custody == "safe":
        monkeypatch.setenv("TREASURY_SAFE_THRESHOLD", "2")
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_API_TOKENS", f"{APPROVER}:approver")
    monkeypatch.setenv("TREASURY_PAPER_HOURS_PER_CYCLE", "1")
    # A week in the most eventful part of the full-cycle storyline: the run to the top.
    monkeypatch.setenv("TREASURY_MARKET_SCENARIO", "bull-to-top")
    running = await bootstrap(AppSettings.load())
    assert await running.election.try_lead(running.take_over)  # alone: it leads at once
    try:
        yield running
    finally:
        await running.aclose()


class Owners:
    """Two of the Safe's three paper owners, signing every pending proposal through the API."""

    def __init__(self, data_dir: Path) -> None:
        self._keys = paper_owner_keys(data_dir / "devchain")[:2]
        self.addresses = {Account.from_key(key).address for key in self._keys}
        self.signed: dict[str, str] = {}  # decision id -> safeTxHash the owners signed

    async def sign_pending(self, client: httpx.AsyncClient) -> None:
        """Sign every pending decision's proposal; the second signature executes it."""
        headers = {"Authorization": f"Bearer {APPROVER}"}
        pending = (await client.get("/decisions/pending", headers=headers)).json()
        for decision in pending:
            safe_tx_hash = decision.get("safe_tx_hash")
            if not safe_tx_hash:
                continue  # proposed after the cycle that made it; signed before the next
            answers = []
            for key in self._keys:
                signature = "0x" + sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), key).hex()
                answer = await client.post(
                    f"/decisions/{decision['id']}/signatures",
                    json={"signature": signature},
                    headers=headers,
                )
                assert answer.status_code == 200, answer.text
                answers.append(answer.json())
            assert [a["executed"] for a in answers] == [False, True], answers
            assert answers[-1]["succeeded"] is True, answers[-1]
            self.signed[decision["id"]] = safe_tx_hash


async def test_a_week_of_hourly_cycles_stays_within_every_limit(
    runtime: Runtime, custody: str, tmp_path: Path
) -> None:
    hours = HOURS
    owners = Owners(tmp_path) if custody == "safe" else None
    transport = httpx.ASGITransport(app=create_app(runtime.services, runtime.tokens))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def before_cycle() -> None:
            if owners is not None:
                await owners.sign_pending(client)
            await runtime.before_cycle()

        scheduler = Scheduler(
            runtime.services,
            SchedulerConfig(interval_s=0.001, max_cycles=hours),
            before_cycle=before_cycle,
        )
        await scheduler.run()
    assert scheduler.cycles == hours, scheduler.last_error
    assert scheduler.failures == 0, scheduler.last_error

    async with runtime.uow() as unit:
        entries = await unit.audit.entries(limit=100_000)
        broken = await unit.audit.verify()
        decisions = await unit.decisions.recent(limit=10_000)
        executed = [d for d in decisions if d.status is DecisionStatus.EXECUTED]
        executed_plans = {
            d.plan_id: await unit.executions.by_plan(d.plan_id) for d in executed if d.plan_id
        }
        steps = [s for plan_steps in executed_plans.values() for s in plan_steps]
        recorded = await unit.positions.list_all()

    assert broken is None
    created = [e for e in entries if e.action == "decision.created"]
    assert len(created) == hours
    assert len(decisions) == hours

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

    verified = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output
    if owners is not None:
        await _every_plan_was_one_safe_transaction(runtime, executed_plans, entries)
        _the_owners_signed(owners, decisions, entries)


def _the_owners_signed(
    owners: Owners, decisions: list[Decision], entries: list[AuditEntry]
) -> None:
    """The plans that needed approval were the owners' to sign, and each one they signed ran."""
    assert owners.signed, "no plan of the week needed the owners"
    status = {d.id: d.status for d in decisions}
    assert all(status[d] is DecisionStatus.EXECUTED for d in owners.signed), status
    signers: dict[str, set[str]] = {}
    for entry in entries:
        if entry.action == "decision.owner_signed":
            signers.setdefault(entry.subject_id, set()).add(str(entry.payload["signer"]))
    assert all(signers.get(d) == owners.addresses for d in owners.signed), signers


async def _every_plan_was_one_safe_transaction(
    runtime: Runtime, executed: dict[str, list[ExecutedTransaction]], entries: list[AuditEntry]
) -> None:
    """Each executed plan is one transaction, mined once, sent by the agent through the Safe's
    Roles scope (or, signed by the owners, to the Safe), audited with its inner calls."""
    batches: dict[str, list[dict[str, object]]] = {}
    for entry in entries:
        if entry.action in ("execution.batch_confirmed", "execution.batch_failed"):
            batches.setdefault(entry.subject_id, []).append(entry.payload)
    assert executed, "the Safe run executed no plan"
    w3 = runtime.chain.web3
    safe = runtime.chain.address
    assert await w3.eth.get_code(safe)
    for plan_id, steps in executed.items():
        assert {s.status for s in steps} == {StepStatus.CONFIRMED}, plan_id
        (tx_hash,) = {s.tx_hash for s in steps}
        (batch,) = batches[plan_id]
        assert batch["tx_hash"] == tx_hash
        assert batch["safe"] == safe
        assert batch["agent"] != safe
        calls = batch["calls"]
        assert isinstance(calls, list)
        assert [c["step"] for c in calls if isinstance(c, dict)] == [s.id for s in steps]
        # Mined once, sent by the agent to the Roles Modifier (its scope) or, signed by the
        # owners, to the Safe itself.
        sent = await w3.eth.get_transaction(str(tx_hash))
        receipt = await w3.eth.get_transaction_receipt(str(tx_hash))
        assert receipt["status"] == 1
        assert str(sent["from"]).lower() == str(batch["agent"]).lower()
        assert str(sent["to"]).lower() == str(batch.get("module", safe)).lower()
