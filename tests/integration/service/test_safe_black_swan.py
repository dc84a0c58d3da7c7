"""The black-swan exit end to end under Safe custody (issue 20), in paper mode: a paper service
whose treasury is a 2-of-3 Safe starts with the spec's 60/40 split (WBTC and WETH in the Safe),
the crash scenario's black-swan day comes, and the next cycle sells every volatile holding for
the stablecoin through the agent's Roles scope, the Safe receiving: no owner signs, the Safe's
own nonce does not move (the exit is a module transaction, not an owners' one), and the move is
far above the $50K approval threshold, which a black-swan exit skips by policy.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.chain.safe.deploy import safe_contract
from application.cycle import CycleCommand, CycleOutcome
from domain.execution import StepStatus
from domain.plans import PlanKind
from entrypoints.container import AppSettings, bootstrap

pytestmark = [pytest.mark.slow(seconds=120)]

VOLATILE = ("WBTC", "WETH")


def held(positions: object) -> dict[str, Decimal]:
    """Wallet holdings of the Safe by asset, from a portfolio read."""
    return {p.asset: p.amount for p in positions if p.protocol == "wallet"}  # type: ignore[attr-defined]


async def test_the_black_swan_exit_runs_through_the_agents_scope_without_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TREASURY_PAPER_START", "split")
    monkeypatch.setenv("TREASURY_CUSTODY", "safe")
    monkeypatch.setenv("TREASURY_SAFE_THRESHOLD", "2")
    monkeypatch.setenv("TREASURY_MARKET_SCENARIO", "crash")
    monkeypatch.setenv("TREASURY_API_TOKENS", "swan-approver-token-0001:approver")
    runtime = await bootstrap(AppSettings.load())
    try:
        assert await runtime.election.try_lead(runtime.take_over)
        safe = runtime.chain.address
        safe_nonce = safe_contract(runtime.chain.web3, safe).functions.nonce()
        start = await runtime.chain.portfolio.read()
        before = held(start.positions)
        assert all(before.get(asset, Decimal(0)) > 0 for asset in VOLATILE), before
        nonce_before = await safe_nonce.call()

        # The crash scenario: a calm month, then the black-swan day.
        await runtime.advance(timedelta(days=30))
        market = await runtime.market.fetch()
        assert market.btc_change_24h is not None
        assert market.btc_change_24h <= Decimal("-0.2"), market
        result = await runtime.services.cycle.execute(CycleCommand())

        assert result.plan is not None
        assert result.plan.kind is PlanKind.EMERGENCY_EXIT, result
        assert result.outcome is CycleOutcome.EXECUTED, result.verdict
        end = await runtime.chain.portfolio.read()
        after = held(end.positions)
        assert all(after.get(asset, Decimal(0)) == 0 for asset in VOLATILE), after
        # The Safe received the stablecoin: its cash grew by most of what the volatile was worth.
        assert end.cash_balance > start.cash_balance
        assert await safe_nonce.call() == nonce_before

        async with runtime.uow() as uow:
            steps = await uow.executions.by_plan(result.plan.plan_id)
            entries = await uow.audit.entries(limit=100_000)
        assert {s.status for s in steps} == {StepStatus.CONFIRMED}
        batches = [
            e.payload
            for e in entries
            if e.action == "execution.batch_confirmed"
            and str(e.subject_id).startswith(result.plan.plan_id)
        ]
        assert batches
        assert all(b["safe"] == safe for b in batches)
        assert all(b["agent"] != safe and "owners" not in b for b in batches)
        assert not [e for e in entries if e.action == "decision.owner_signed"]
    finally:
        await runtime.aclose()
