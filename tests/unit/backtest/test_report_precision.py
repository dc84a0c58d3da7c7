"""Reported figures have sensible precision whatever the process's decimal context is.

Importing vyper sets the thread's decimal context to 78 digits; the report must not inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from adapters.reporting.backtest_report import report_payload
from application.backtest import run_and_summarise
from domain.backtest import run_backtest
from tests.unit.backtest.series import free_config, history

VYPER_PRECISION = 78
MAX_SIGNIFICANT_DIGITS = 12
WAVY = [100, 103, 99, 107, 111, 97, 95, 120, 133, 128, 90, 91, 140, 151, 149, 160] * 13


def _numbers(payload: Any) -> Iterator[tuple[str, Decimal]]:
    """Every decimal string in the payload, with where it was found."""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, str):
            try:
                yield where, Decimal(item)
            except InvalidOperation:
                continue


def _significant_digits(value: Decimal) -> int:
    if value.is_zero():
        return 1
    return len(value.normalize().as_tuple().digits)


def _run(capital: int = 400_000) -> Any:
    config = free_config(capital, apy="0.065", static_apy="0.065")
    return run_and_summarise(history(WAVY), config)


def test_no_reported_number_has_more_than_12_significant_digits_under_vyper_s_precision() -> None:
    with localcontext() as ambient:
        ambient.prec = VYPER_PRECISION
        payload = report_payload(_run())
    numbers = list(_numbers(payload))
    assert len(numbers) > 40
    too_long = {w: str(v) for w, v in numbers if _significant_digits(v) > MAX_SIGNIFICANT_DIGITS}
    assert too_long == {}


def test_money_is_reported_to_cents_and_ratios_to_six_places() -> None:
    payload = report_payload(_run())
    strategy = payload["curves"]["strategy"]
    assert Decimal(strategy["end_value_usd"]).as_tuple().exponent == -2
    assert Decimal(payload["costs_usd"]["total"]).as_tuple().exponent == -2
    assert Decimal(strategy["sharpe_365_rf_zero"]).as_tuple().exponent == -6
    assert Decimal(payload["curves"]["static_yield"]["volatility"]).as_tuple().exponent == -6


def test_the_backtest_does_not_depend_on_the_ambient_decimal_precision() -> None:
    rows = history(WAVY)
    config = free_config(400_000, apy="0.065", static_apy="0.065")
    plain = run_backtest(rows, config)
    with localcontext() as ambient:
        ambient.prec = VYPER_PRECISION
        wide = run_backtest(rows, config)
    assert wide.equity == plain.equity
    assert wide.baselines == plain.baselines
