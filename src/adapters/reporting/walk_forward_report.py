"""Walk-forward reports: the grid on both windows, the choice and the test window, as a terminal
table and JSON (decimal strings: money to cents, returns and ratios to six places)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.reporting.backtest_report import CURVE_LABELS, ReportNotWritten
from application.backtest import STRATEGY, BacktestSummary, CurveSummary
from application.walk_forward import VariantRun, WalkForwardResult
from domain.money import FRACTION_PRECISION, round_usd
from domain.precision import MATHS_CONTEXT

BASELINES = ("static_yield", "btc_hold", "static_60_40")
SELECTION_RULE = (
    "the variant with the highest Sharpe ratio on the tuning window (risk-free rate = the "
    "static yield's return) is chosen; ties go to the earlier variant, the spec's policy first"
)
ADOPTION_RULE = (
    "the spec's policy stays the default unless the chosen variant has a higher Sharpe ratio "
    "(risk-free = static yield) on the test window without a deeper max drawdown"
)


def _ratio(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(value.quantize(FRACTION_PRECISION, rounding=ROUND_HALF_EVEN, context=MATHS_CONTEXT))


def _figures(curve: CurveSummary) -> dict[str, Any]:
    p = curve.performance
    return {
        "end_value_usd": str(round_usd(p.end_value_usd)),
        "total_return": _ratio(p.time_weighted_return),
        "annualised_return": _ratio(p.apy),
        "sharpe_365_rf_zero": _ratio(p.sharpe),
        "sharpe_365_rf_static_yield": _ratio(curve.at_static_yield.sharpe),
        "sortino_365_rf_zero": _ratio(p.sortino),
        "sortino_365_rf_static_yield": _ratio(curve.at_static_yield.sortino),
        "max_drawdown": _ratio(p.max_drawdown.depth),
    }


def _strategy(summary: BacktestSummary) -> dict[str, Any]:
    return _figures(summary.curve(STRATEGY))


def _row(run: VariantRun, result: WalkForwardResult) -> dict[str, Any]:
    v = run.variant
    return {
        "name": v.name,
        "is_default": run.is_default,
        "is_chosen": run is result.chosen,
        "ladder_shift": str(v.ladder_shift),
        "drift_band": str(v.drift_band),
        "euphoria_exposure": str(v.euphoria_exposure),
        "black_swan_drop_24h": str(v.black_swan_drop),
        "tuning": _strategy(run.tuning),
        "test": _strategy(run.test),
    }


def verdict(result: WalkForwardResult) -> str:
    """One plain sentence: what was chosen and whether it replaces the spec's policy."""
    chosen, default = result.chosen, result.default
    if chosen is default:
        return (
            "The spec's policy had the best Sharpe ratio on the tuning window; it stays the "
            "default."
        )
    ours = chosen.test.curve(STRATEGY)
    theirs = default.test.curve(STRATEGY)
    figures = (
        f"on the test window Sharpe (rf = static yield) {_num(ours.at_static_yield.sharpe)} "
        f"against {_num(theirs.at_static_yield.sharpe)}, max drawdown "
        f"{_pct(ours.performance.max_drawdown.depth)} against "
        f"{_pct(theirs.performance.max_drawdown.depth)}"
    )
    if result.adopted:
        return f"'{chosen.variant.name}' won out of sample ({figures}): it beats the spec's policy."
    return (
        f"'{chosen.variant.name}' was best on the tuning window but did not win out of sample "
        f"({figures}); the spec's policy stays the default."
    )


def report_payload(result: WalkForwardResult) -> dict[str, Any]:
    """The walk-forward report as JSON-ready data."""
    w = result.windows
    test_window = {
        "chosen": _strategy(result.chosen.test),
        "default": _strategy(result.default.test),
    }
    for name in BASELINES:
        test_window[name] = _figures(result.default.test.curve(name))
    return {
        "windows": {
            "tuning": {"from": w.tune_from.isoformat(), "to": w.tune_to.isoformat()},
            "test": {"from": w.test_from.isoformat(), "to": w.test_to.isoformat()},
        },
        "selection_rule": SELECTION_RULE,
        "adoption_rule": ADOPTION_RULE,
        "grid": [_row(run, result) for run in result.runs],
        "chosen": result.chosen.variant.name,
        "default": result.default.variant.name,
        "adopted": result.adopted,
        "test_window": test_window,
        "verdict": verdict(result),
    }


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{(value * 100).quantize(Decimal('0.01'))}%"


def _num(value: Decimal | None) -> str:
    return "n/a" if value is None else str(value.quantize(Decimal("0.01")))


def print_report(result: WalkForwardResult, console: Console) -> None:
    """The grid on both windows, then the test window beside the baselines, then the verdict."""
    w = result.windows
    grid = Table(
        title=f"Policy grid: tuning {w.tune_from} to {w.tune_to}, test {w.test_from} to {w.test_to}"
    )
    for heading in ("variant", "tune Sharpe", "tune max DD", "test Sharpe", "test max DD", ""):
        grid.add_column(heading, justify="left" if heading == "variant" else "right")
    for run in result.runs:
        tune, test = run.tuning.curve(STRATEGY), run.test.curve(STRATEGY)
        marks = [m for m, on in (("spec", run.is_default), ("chosen", run is result.chosen)) if on]
        grid.add_row(
            run.variant.name,
            _num(tune.at_static_yield.sharpe),
            _pct(tune.performance.max_drawdown.depth),
            _num(test.at_static_yield.sharpe),
            _pct(test.performance.max_drawdown.depth),
            ", ".join(marks),
        )
    console.print(grid)
    console.print("Sharpe with the static yield's return as the risk-free rate.")

    table = Table(title=f"Test window {w.test_from} to {w.test_to}")
    table.add_column("figure")
    curves = [
        ("chosen on the tuning window", result.chosen.test.curve(STRATEGY)),
        ("spec's policy", result.default.test.curve(STRATEGY)),
        *((CURVE_LABELS[n], result.default.test.curve(n)) for n in BASELINES),
    ]
    for label, _ in curves:
        table.add_column(label, justify="right")
    rows: tuple[tuple[str, Callable[[CurveSummary], str]], ...] = (
        ("annualised return", lambda c: _pct(c.performance.apy)),
        ("max drawdown", lambda c: _pct(c.performance.max_drawdown.depth)),
        ("Sharpe, rf 0", lambda c: _num(c.performance.sharpe)),
        ("Sharpe, rf static yield", lambda c: _num(c.at_static_yield.sharpe)),
    )
    for name, cell in rows:
        table.add_row(name, *(cell(c) for _, c in curves))
    console.print(table)
    console.print(verdict(result))


def write_report(result: WalkForwardResult, directory: Path) -> Path:
    """Write walk_forward.json into `directory`.

    Raises:
        ReportNotWritten: the directory or the file cannot be written.
    """
    path = directory / "walk_forward.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report_payload(result), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReportNotWritten(directory, exc.strerror or str(exc)) from exc
    return path
