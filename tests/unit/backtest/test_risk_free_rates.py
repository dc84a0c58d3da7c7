"""The backtest reports Sharpe and Sortino at a zero risk-free rate and at the static yield."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

from adapters.reporting.backtest_report import report_payload, summary_table
from application.backtest import STRATEGY, run_and_summarise
from domain.performance import EquityPoint, performance_report
from tests.unit.backtest.series import free_config, history

WAVY = [100, 103, 99, 107, 111, 97, 95, 120, 133, 128, 90, 91, 140, 151, 149, 160] * 4


def test_sharpe_and_sortino_are_reported_at_zero_and_at_the_static_yield_s_return() -> None:
    run = run_and_summarise(history(WAVY), free_config(apy="0.065", static_apy="0.065"))
    summary = run.summary
    static_rate = summary.curve("static_yield").performance.apy
    assert static_rate is not None
    assert summary.static_yield_rate == static_rate

    curve = [
        EquityPoint(at=datetime.combine(d, time(0), tzinfo=UTC), value_usd=v)
        for d, v in zip(run.result.days, run.result.equity, strict=True)
    ]
    expected = performance_report(curve, (), curve[0].at, curve[-1].at, static_rate)
    strategy = summary.curve(STRATEGY)
    assert strategy.performance.risk_free_rate == Decimal(0)
    assert strategy.at_static_yield.sharpe == expected.sharpe
    assert strategy.at_static_yield.sortino == expected.sortino
    assert strategy.at_static_yield.sharpe is not None
    assert strategy.performance.sharpe is not None
    assert strategy.at_static_yield.sharpe < strategy.performance.sharpe

    payload = report_payload(run)
    assert payload["risk_free_rates"] == {
        "zero": "0.000000",
        "static_yield": str(static_rate.quantize(Decimal("0.000001"))),
    }
    assert set(payload["curves"][STRATEGY]) >= {
        "sharpe_365_rf_zero",
        "sortino_365_rf_zero",
        "sharpe_365_rf_static_yield",
        "sortino_365_rf_static_yield",
    }
    rows = [str(cell) for cell in summary_table(run).columns[0].cells]
    assert any("Sharpe" in r and "rf 0" in r for r in rows)
    assert any("Sharpe" in r and "static yield" in r for r in rows)
