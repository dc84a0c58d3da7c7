"""Paper mode shows the Curve 3pool earning: after a few hourly cycles through the real
container, the dev pool has traded simulated volume on every tick and the Curve position
carries a real, non-zero base APY read through the fake Curve API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from entrypoints.container import AppSettings, Runtime, bootstrap
from entrypoints.scheduler import Scheduler, SchedulerConfig

pytestmark = pytest.mark.slow(seconds=45)


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_API_TOKENS", "curve-apy-approver-token-001:approver")
    monkeypatch.setenv("TREASURY_PAPER_HOURS_PER_CYCLE", "1")
    running = await bootstrap(AppSettings.load())
    assert await running.election.try_lead(running.take_over)  # alone: it leads at once
    try:
        yield running
    finally:
        await running.aclose()


async def test_paper_mode_shows_a_non_zero_curve_base_apy_after_a_few_cycles(
    runtime: Runtime,
) -> None:
    scheduler = Scheduler(
        runtime.services,
        SchedulerConfig(interval_s=0.001, max_cycles=3),
        before_cycle=runtime.before_cycle,
    )
    await scheduler.run()
    assert scheduler.failures == 0, scheduler.last_error

    state = await runtime.chain.portfolio.read()
    curve = {p.key: p for p in state.positions}[("curve", "3CRV")]
    # 30 % of the pool a day at a 1 bp fee: about 1 % a year (not the 0 of a pool no one uses).
    assert Decimal("0.003") < curve.apy < Decimal("0.03")
