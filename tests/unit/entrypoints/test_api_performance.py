"""GET /performance/metrics over the in-memory unit of work: shape, ranges and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.execution import ExecutedTransaction, StepStatus
from domain.portfolio import PortfolioState
from entrypoints.api.app import create_app
from entrypoints.settings.service import ServiceSettings
from tests.unit.application.conftest import Treasury, build_treasury
from tests.unit.domain.builders import market
from tests.unit.entrypoints.test_api import TOKENS, services_for

D = Decimal
Client = AsyncTestClient[Litestar]


def iso(now: datetime, days_ago: float) -> str:
    """A time as the API writes it (UTC with Z)."""
    return (now - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


async def seed(t: Treasury, values: list[tuple[float, int | str, int | str]]) -> datetime:
    """Snapshots `(days ago, value, net flow)`, BTC at $60,000 (8 days ago) then $66,000, a swap."""
    now = t.clock.now()
    async with t.uow() as u:
        for days, value, flow in values:
            await u.snapshots.add(
                PortfolioState.build(
                    positions=(),
                    cash_balance=D(value),
                    as_of=now - timedelta(days=days),
                    net_flow_usd=D(flow),
                )
            )
        await u.market_data.add(replace(market(btc="60000"), timestamp=now - timedelta(days=8)))
        await u.market_data.add(replace(market(btc="66000"), timestamp=now - timedelta(days=2)))
        at = now - timedelta(days=3)
        await u.executions.add(
            ExecutedTransaction(
                id="plan-1:0",
                plan_id="plan-1",
                step_index=0,
                chain_id=1,
                kind="swap",
                description="swap 10000 USDC -> WBTC",
                status=StepStatus.CONFIRMED,
                amount_usd=D(10_000),
                created_at=at,
                updated_at=at,
                tx_hash="0x" + "ab" * 32,
                gas_cost_usd=D("6.25"),
            )
        )
        await u.commit()
    return now


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, Treasury]]:
    t = build_treasury(cash=100_000)
    async with AsyncTestClient(app=create_app(services_for(t), TOKENS)) as c:
        yield c, t


async def test_metrics_answer_with_the_curve_baselines_figures_and_trades(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    now = await seed(t, [(7.5, 100_000, 0), (5, 95_000, 0), (1, 160_000, 50_000)])

    response = await c.get("/performance/metrics", params={"time_range": "7d"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["time_range"] == "7d"
    # The week is measured from the snapshot 7.5 days ago, the last one at or before its start.
    assert body["from"] == iso(now, 7.5)
    assert body["to"] == iso(now, 1)
    assert body["points"] == 3
    assert body["covers_range"] is True
    assert body["note"] is None
    assert body["equity_curve"] == [
        {"at": iso(now, d), "value_usd": v}
        for d, v in ((7.5, 100_000.0), (5, 95_000.0), (1, 160_000.0))
    ]
    assert [p["drawdown"] for p in body["drawdown"]] == [0.0, 0.05, 0.0]
    assert set(body["baselines"]) == {"static_yield", "btc_hold"}
    assert [p["value_usd"] for p in body["baselines"]["btc_hold"]] == [100_000.0] * 2 + [160_000.0]
    # 0.95 x (110,000 / 95,000) - 1 = 10 %; the $50,000 deposit is not performance.
    assert body["time_weighted_return"] == pytest.approx(0.10)
    assert body["pnl_usd"] == 10_000.0
    assert body["net_flows_usd"] == 50_000.0
    assert body["max_drawdown"] == 0.05
    assert body["max_drawdown_trough_at"] == iso(now, 5)
    assert isinstance(body["apy"], float)
    assert body["sharpe_ratio"] is None or isinstance(body["sharpe_ratio"], float)
    assert body["risk_free_rate"] == 0.04
    assert body["static_yield_apy"] == 0.065
    assert body["gas_spent_usd"] == 6.25
    assert body["trade_count"] == 1
    assert body["trade_volume_usd"] == 10_000.0
    assert body["trades_complete"] is True
    [trade] = body["trade_history"]
    assert trade["id"] == "plan-1:0"
    assert trade["explorer_url"] == "https://etherscan.io/tx/0x" + "ab" * 32
    assert {"sortino", "volatility", "requested_from", "start_value_usd"} <= set(body)


async def test_the_default_range_is_thirty_days_and_says_when_history_is_shorter(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    now = await seed(t, [(10, 100_000, 0), (1, 101_000, 0)])

    body = (await c.get("/performance/metrics")).json()

    assert body["time_range"] == "30d"
    assert body["requested_from"] == iso(now, 30)
    assert body["covers_range"] is False
    assert body["from"] == iso(now, 10)
    assert "after the start of the range" in body["note"]


async def test_too_little_history_is_a_200_with_null_figures_and_the_reason(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    now = await seed(t, [(1, 100_000, 0)])

    response = await c.get("/performance/metrics", params={"time_range": "24h"})

    assert response.status_code == 200
    body = response.json()
    assert body["points"] == 1
    assert body["from"] == iso(now, 1)
    assert body["time_weighted_return"] is None
    assert body["sharpe_ratio"] is None
    assert "at least 2 are needed" in body["note"]


async def test_an_unknown_range_is_a_400(client: tuple[Client, Treasury]) -> None:
    c, _ = client
    response = await c.get("/performance/metrics", params={"time_range": "13 moons"})
    assert response.status_code == 400
    assert response.json()["error"]


async def test_a_service_built_without_the_use_case_answers_404() -> None:
    t = build_treasury(cash=1)
    services = replace(services_for(t), performance=None)
    async with AsyncTestClient(app=create_app(services, TOKENS)) as c:
        response = await c.get("/performance/metrics")
    assert response.status_code == 404
    assert "not available" in response.json()["error"]


def test_the_risk_free_rate_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().risk_free_rate == D("0.04")
    monkeypatch.setenv("TREASURY_RISK_FREE_RATE", "0.05")
    assert ServiceSettings().risk_free_rate == D("0.05")
    monkeypatch.setenv("TREASURY_RISK_FREE_RATE", "1.5")
    with pytest.raises(ValueError, match="risk_free_rate"):
        ServiceSettings()


async def test_the_metrics_give_sharpe_and_sortino_at_a_zero_rate_and_at_the_static_yield(
    client: tuple[Client, Treasury],
) -> None:
    c, t = client
    await seed(t, [(7.5, 100_000, 0), (5, 95_000, 0), (3, 99_000, 0), (1, 101_000, 0)])

    body = (await c.get("/performance/metrics", params={"time_range": "7d"})).json()

    for name in ("sharpe", "sortino"):
        at_zero, at_static = body[f"{name}_at_zero_rate"], body[f"{name}_at_static_yield"]
        assert isinstance(at_zero, float)
        assert isinstance(at_static, float)
        assert at_static < at_zero
    assert body["static_yield_apy"] == 0.065
    assert body["risk_free_rate"] == 0.04
