"""GetPerformanceMetrics over the in-memory unit of work, and flows in status and learning."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.flows import RecordCapitalFlow
from application.learning import OutcomeConfig, RecordDecisionOutcomes
from application.performance import (
    BTC_HOLD,
    STATIC_YIELD,
    GetPerformanceMetrics,
    PerformanceHistoryTooShort,
    TimeRange,
)
from application.queries import GetPortfolioStatus
from domain.decisions import Decision, DecisionStatus
from domain.errors import InvalidValue
from domain.execution import ExecutedTransaction, StepStatus
from domain.market import MarketData
from domain.performance import performance_report
from domain.portfolio import PortfolioState
from domain.signals import RiskLevel, generate_signal
from domain.tactical import RatchetState
from tests.fakes.treasury import FixedClock
from tests.unit.domain.builders import balanced_400k, market, portfolio, position

D = Decimal
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
RF = D("0.04")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def snapshot(at: datetime, value: int | str, flow: int | str = 0) -> PortfolioState:
    return PortfolioState.build(positions=(), cash_balance=D(value), as_of=at, net_flow_usd=D(flow))


def btc_at(at: datetime, price: int | str) -> MarketData:
    return replace(market(btc=str(price)), timestamp=at)


def step(
    step_id: str,
    at: datetime,
    *,
    kind: str = "swap",
    status: StepStatus = StepStatus.CONFIRMED,
    tx_hash: str | None = "0xabc",
    amount: int | str = 10_000,
    gas: str | None = "4.50",
) -> ExecutedTransaction:
    return ExecutedTransaction(
        id=step_id,
        plan_id="plan-1",
        step_index=0,
        chain_id=1,
        kind=kind,
        description=f"{kind} step",
        status=status,
        amount_usd=D(amount),
        created_at=at,
        updated_at=at,
        tx_hash=tx_hash,
        gas_cost_usd=D(gas) if gas is not None else None,
    )


async def store(
    uow: InMemoryUnitOfWorkFactory,
    snapshots: list[PortfolioState],
    markets: list[MarketData] = (),  # type: ignore[assignment]
    steps: list[ExecutedTransaction] = (),  # type: ignore[assignment]
) -> None:
    async with uow() as u:
        for s in snapshots:
            await u.snapshots.add(s)
        for m in markets:
            await u.market_data.add(m)
        for x in steps:
            await u.executions.add(x)
        await u.commit()


def use_case(uow: InMemoryUnitOfWorkFactory, **options: object) -> GetPerformanceMetrics:
    return GetPerformanceMetrics(
        uow_factory=uow,
        clock=FixedClock(NOW),
        risk_free_rate=RF,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def uow() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory(clock=lambda: NOW)


# Daily snapshots at noon for ten days, from $100,000; the 7-day range starts exactly at the
# snapshot 7 days ago ($104,000) and ends at today's ($106,090).
DAILY = [
    "100000",
    "101000",
    "102000",
    "104000",
    "103000",
    "98880",
    "101846.40",
    "103883.328",
    "104922.16128",
    "106090",
    "106090",
]


async def test_a_week_is_measured_from_the_snapshot_at_its_start_to_the_latest(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    history = [snapshot(days_ago(10 - i), v) for i, v in enumerate(DAILY[:10])]
    await store(uow, history, [btc_at(days_ago(8), 50_000), btc_at(days_ago(0.5), 60_000)])

    result = await use_case(uow).execute(TimeRange.WEEK)

    assert result.time_range is TimeRange.WEEK
    assert result.requested_from == days_ago(7)
    assert (result.measured_from, result.measured_to) == (days_ago(7), days_ago(1))
    assert result.points == 7
    assert result.covers_range
    assert [p.value_usd for p in result.equity_curve] == [D(v) for v in DAILY[3:10]]
    assert result.start_value_usd == D(104_000)
    assert result.end_value_usd == D(106_090)
    # No flows: the time-weighted return is end / start - 1 and P&L the difference.
    # (Approximate: importing vyper elsewhere in the suite raises the decimal precision.)
    assert result.time_weighted_return == pytest.approx(D(106_090) / D(104_000) - 1, rel=D("1e-25"))
    assert result.pnl_usd == D(2_090)
    assert result.net_flows_usd == 0
    # Peak $104,000 on day 3, trough $98,880 two days later: 4.923 % down.
    assert result.max_drawdown.depth == pytest.approx(1 - D(98_880) / D(104_000), rel=D("1e-25"))
    assert result.max_drawdown.trough_at == days_ago(5)
    assert max(p.depth for p in result.drawdown) == result.max_drawdown.depth
    assert [p.at for p in result.drawdown] == [p.at for p in result.equity_curve]
    # The ratios are the domain's over the same points.
    report = performance_report(result.equity_curve, (), days_ago(7), days_ago(1), RF)
    assert result.apy == report.apy
    assert result.sharpe_ratio == report.sharpe
    assert result.sortino == report.sortino
    assert result.volatility == report.volatility
    assert result.risk_free_rate == RF


async def test_baselines_sit_on_the_curves_timestamps(uow: InMemoryUnitOfWorkFactory) -> None:
    history = [snapshot(days_ago(10 - i), v) for i, v in enumerate(DAILY[:10])]
    prices = [btc_at(days_ago(7.5), 50_000), btc_at(days_ago(3.5), 55_000)]
    await store(uow, history, prices)

    result = await use_case(uow).execute(TimeRange.WEEK)

    assert set(result.baselines) == {STATIC_YIELD, BTC_HOLD}
    times = [p.at for p in result.equity_curve]
    static = result.baselines[STATIC_YIELD]
    assert [p.at for p in static] == times
    assert static[0].value_usd == D(104_000)
    assert static[-1].value_usd == pytest.approx(
        D(104_000) * D("1.065") ** (D(6) / 365), rel=D("1e-20")
    )
    # BTC at $50,000 until 3.5 days ago, then $55,000: the last three points are 10 % up.
    btc = [p.value_usd for p in result.baselines[BTC_HOLD]]
    assert btc == [D(104_000)] * 4 + [D(114_400)] * 3
    assert result.static_yield_apy == D("0.065")


async def test_btc_hold_is_left_out_without_a_price_at_or_before_the_first_point(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    await store(
        uow,
        [snapshot(days_ago(2), 100), snapshot(days_ago(1), 101)],
        [btc_at(days_ago(1.5), 50_000), replace(btc_at(days_ago(3), 1), btc_price=None)],
    )

    result = await use_case(uow).execute(TimeRange.WEEK)

    assert set(result.baselines) == {STATIC_YIELD}


async def test_deposits_are_not_performance(uow: InMemoryUnitOfWorkFactory) -> None:
    # $100,000 grows 2 %, $50,000 arrives with the next snapshot (value 153,000 includes it),
    # then 1 % more: TWR = 1.02 x (103,000 / 102,000) x 1.01 - 1 and P&L = $4,530.
    history = [
        snapshot(days_ago(3), 100_000),
        snapshot(days_ago(2), 102_000),
        snapshot(days_ago(1), 153_000, 50_000),
        snapshot(days_ago(0), "154530"),
    ]
    await store(uow, history, [btc_at(days_ago(4), 1_000)])

    result = await use_case(uow).execute(TimeRange.WEEK)

    assert result.time_weighted_return == pytest.approx(
        D("1.02") * D(103_000) / D(102_000) * D("1.01") - 1, rel=D("1e-25")
    )
    assert result.net_flows_usd == D(50_000)
    assert result.pnl_usd == D(4_530)
    # Both baselines receive the deposit too.
    assert result.baselines[BTC_HOLD][-1].value_usd == D(150_000)
    assert result.baselines[STATIC_YIELD][2].value_usd > D(150_000)


async def test_a_range_reaching_before_the_history_starts_at_the_first_snapshot(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    await store(uow, [snapshot(days_ago(3), 100), snapshot(days_ago(1), 110)])

    result = await use_case(uow).execute(TimeRange.MONTH)

    assert not result.covers_range
    assert result.requested_from == days_ago(30)
    assert result.measured_from == days_ago(3)
    assert result.points == 2
    assert result.time_weighted_return == D("0.1")


async def test_all_reads_the_whole_history(uow: InMemoryUnitOfWorkFactory) -> None:
    await store(
        uow,
        [snapshot(days_ago(800), 50), snapshot(days_ago(400), 75), snapshot(days_ago(0), 100)],
    )

    result = await use_case(uow).execute(TimeRange.ALL)

    assert result.requested_from is None
    assert result.covers_range
    assert result.measured_from == days_ago(800)
    assert result.time_weighted_return == 1
    assert result.apy is not None
    assert result.apy == pytest.approx(D(2) ** (D(365) / D(800)) - 1, rel=D("1e-25"))


async def test_a_year_skips_snapshots_older_than_its_start(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    await store(
        uow,
        [snapshot(days_ago(800), 50), snapshot(days_ago(365), 75), snapshot(days_ago(0), 100)],
    )

    result = await use_case(uow).execute(TimeRange.YEAR)

    assert result.covers_range
    assert [p.value_usd for p in result.equity_curve] == [D(75), D(100)]


@pytest.mark.parametrize(
    ("history", "points", "first"),
    [
        pytest.param([], 0, None, id="none"),
        pytest.param([1], 1, 1, id="one-in-range"),
        pytest.param([40, 1], 1, 1, id="one-in-range-one-long-before"),
    ],
)
async def test_fewer_than_two_snapshots_is_a_clear_error(
    uow: InMemoryUnitOfWorkFactory, history: list[int], points: int, first: int | None
) -> None:
    await store(uow, [snapshot(days_ago(d), 100) for d in history])

    with pytest.raises(PerformanceHistoryTooShort) as caught:
        await use_case(uow).execute(TimeRange.WEEK)

    assert caught.value.points == points
    assert caught.value.time_range is TimeRange.WEEK
    assert caught.value.first_at == (days_ago(first) if first is not None else None)
    assert "at least 2 are needed" in str(caught.value)
    assert "over 7d" in str(caught.value)


async def test_trades_in_the_range_count_gas_and_volume_and_list_newest_first(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    steps = [
        step("before", days_ago(8)),  # before the range's first snapshot
        step("approve", days_ago(5), kind="approve", amount=0, gas="1.25"),
        step("swap", days_ago(4.5), gas="4.50"),
        step("deposit", days_ago(4), kind="deposit", amount=20_000, gas="3.00"),
        step("reverted", days_ago(3), status=StepStatus.FAILED, gas="2.00"),
        step("not-sent", days_ago(3), status=StepStatus.FAILED, tx_hash=None, gas=None),
        step("dropped", days_ago(3), status=StepStatus.DROPPED, tx_hash=None, gas=None),
        step("after", days_ago(0.5)),  # after the last snapshot
    ]
    await store(uow, [snapshot(days_ago(7), 100), snapshot(days_ago(1), 100)], steps=steps)

    result = await use_case(uow, trade_history_limit=2).execute(TimeRange.WEEK)

    assert result.gas_spent_usd == D("10.75")  # approval, swap, deposit and the reverted one
    assert result.trade_count == 3
    assert result.trade_volume_usd == D(30_000)  # the reverted swap moved nothing
    assert [t.id for t in result.trade_history] == ["reverted", "deposit"]
    assert result.trades_complete


async def test_trade_figures_say_when_the_scan_did_not_reach_the_start(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    steps = [step(f"s{i}", days_ago(3 + i / 10)) for i in range(3)]
    await store(uow, [snapshot(days_ago(7), 100), snapshot(days_ago(1), 100)], steps=steps)

    short = await use_case(uow, trade_scan_limit=2).execute(TimeRange.WEEK)
    enough = await use_case(uow, trade_scan_limit=4).execute(TimeRange.WEEK)

    assert not short.trades_complete
    assert short.trade_count == 2
    assert enough.trades_complete
    assert enough.trade_count == 3


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"risk_free_rate": D(-1)}, id="risk-free-minus-100pct"),
        pytest.param({"static_yield_apy": D("NaN")}, id="static-yield-nan"),
        pytest.param({"lookback": timedelta(0)}, id="no-lookback"),
        pytest.param({"trade_history_limit": 0}, id="no-history"),
        pytest.param({"trade_scan_limit": 0}, id="no-scan"),
    ],
)
def test_the_use_case_refuses_bad_settings(
    uow: InMemoryUnitOfWorkFactory, options: dict[str, object]
) -> None:
    settings: dict[str, object] = {"uow_factory": uow, "clock": FixedClock(NOW)}
    settings["risk_free_rate"] = RF
    settings.update(options)
    with pytest.raises(InvalidValue):
        GetPerformanceMetrics(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("time_range", "span"),
    [
        ("24h", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("90d", timedelta(days=90)),
        ("1y", timedelta(days=365)),
        ("all", None),
    ],
)
def test_time_ranges_and_their_spans(time_range: str, span: timedelta | None) -> None:
    assert TimeRange(time_range).span == span


# --- flows elsewhere -------------------------------------------------------------------------


class FixedReader:
    """A PortfolioReader that reads one state."""

    def __init__(self, state: PortfolioState) -> None:
        self.state = state

    async def read(self) -> PortfolioState:
        return self.state

    async def unit_prices(self) -> dict[str, Decimal]:
        return {}


async def test_portfolio_status_does_not_count_a_deposit_as_performance(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    # $100,000 a day ago; $50,000 deposited with the last snapshot (value 151,000); now 151,000.
    await store(uow, [snapshot(days_ago(1), 100_000), snapshot(days_ago(0.5), 151_000, 50_000)])
    status = GetPortfolioStatus(
        clock=FixedClock(NOW), portfolio=FixedReader(portfolio(cash=151_000)), uow=uow
    )

    state = await status.execute()

    assert state.performance_24h == D("0.01")


def _decision(decision_id: str, at: datetime) -> Decision:
    signal, _ = generate_signal(market(), RatchetState(), at)
    return Decision(
        id=decision_id,
        created_at=at,
        signal=signal,
        advisor="rules",
        target_allocations=signal.target_allocations,
        reasoning="test",
        risk_assessment=RiskLevel.MEDIUM,
        status=DecisionStatus.HELD,
    )


async def test_the_learning_loop_takes_deposits_out_of_the_portfolio_return() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = FixedClock(start)
    uow = InMemoryUnitOfWorkFactory(clock=clock.now)
    # The reference treasury, then BTC and ETH up 10 % and $100,000 deposited in cash.
    end_state = replace(
        portfolio(
            position("aave", "USDC", 96_000),
            position("pendle", "PT-USDC", 72_000, "0.96"),
            position("curve", "3CRV", 72_000, "1.03"),
            position("wallet", "WBTC", 52_800, 66_000),
            position("wallet", "WETH", 52_800, 3_300),
            cash=164_000,
        ),
        net_flow_usd=D(100_000),
        as_of=start + timedelta(days=7),
    )
    async with uow() as u:
        await u.snapshots.add(replace(balanced_400k(), as_of=start))
        await u.snapshots.add(end_state)
        await u.market_data.add(replace(market(btc="60000", eth="3000"), timestamp=start))
        await u.market_data.add(
            replace(market(btc="66000", eth="3300"), timestamp=start + timedelta(days=7))
        )
        await u.decisions.add(_decision("dec-1", start))
        await u.commit()
    clock.advance(timedelta(days=7, hours=1))

    report = await RecordDecisionOutcomes(
        clock=clock, uow=uow, config=OutcomeConfig(horizon_days=7)
    ).execute()

    # 409,600 / 400,000 - 1, as without the deposit.
    assert [o.portfolio_return for o in report.recorded] == [D("0.024")]


class _Reader:
    def __init__(self, state: PortfolioState) -> None:
        self.state = state

    async def read(self) -> PortfolioState:
        return self.state


async def test_a_recorded_deposit_is_not_counted_as_performance(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    await store(uow, [snapshot(days_ago(6), 400_000), snapshot(days_ago(3), 404_000)])
    after_deposit = snapshot(days_ago(3) + timedelta(minutes=5), 504_000)
    flow = RecordCapitalFlow(portfolio=_Reader(after_deposit), uow=uow, clock=FixedClock(NOW))

    marked = await flow.execute(D(100_000))
    await store(uow, [snapshot(days_ago(0), 509_040)])
    result = await use_case(uow).execute(TimeRange.WEEK)

    assert marked.net_flow_usd == D(100_000)
    async with uow() as u:
        assert [s.net_flow_usd for s in await u.snapshots.between(days_ago(7), NOW)] == [
            D(0),
            D(0),
            D(100_000),
            D(0),
        ]
    # 400,000 -> 404,000 is +1 %; the $100K arrives; 504,000 -> 509,040 is +1 % again.
    assert result.time_weighted_return == D("1.01") * D("1.01") - 1
    assert result.net_flows_usd == D(100_000)
    assert result.pnl_usd == D(509_040) - D(400_000) - D(100_000)


async def test_a_capital_flow_must_be_a_real_amount_the_treasury_can_hold(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    reader = _Reader(snapshot(NOW, 50_000))
    flow = RecordCapitalFlow(portfolio=reader, uow=uow, clock=FixedClock(NOW))
    with pytest.raises(InvalidValue):
        await flow.execute(D(0))
    with pytest.raises(InvalidValue):
        await flow.execute(D(60_000))  # more than the $50,000 the treasury holds after it
    async with uow() as u:
        assert await u.snapshots.between(days_ago(1), NOW) == []


async def test_sharpe_and_sortino_are_given_at_a_zero_rate_and_at_the_static_yield_side_by_side(
    uow: InMemoryUnitOfWorkFactory,
) -> None:
    history = [snapshot(days_ago(10 - i), v) for i, v in enumerate(DAILY[:10])]
    await store(uow, history)

    result = await use_case(uow, static_yield_apy=D("0.065")).execute(TimeRange.ALL)

    curve = result.equity_curve
    start, end = curve[0].at, curve[-1].at
    at_zero = performance_report(curve, (), start, end, D(0))
    at_static = performance_report(curve, (), start, end, D("0.065"))
    assert (result.sharpe_at_zero_rate, result.sortino_at_zero_rate) == (
        at_zero.sharpe,
        at_zero.sortino,
    )
    assert (result.sharpe_at_static_yield, result.sortino_at_static_yield) == (
        at_static.sharpe,
        at_static.sortino,
    )
    assert result.sharpe_at_static_yield is not None
    assert result.sharpe_at_zero_rate is not None
    assert result.sharpe_at_static_yield < result.sharpe_at_zero_rate
    # The configured rate (TREASURY_RISK_FREE_RATE) still drives `sharpe_ratio`.
    assert result.sharpe_ratio == performance_report(curve, (), start, end, RF).sharpe
