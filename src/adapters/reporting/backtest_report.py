"""Backtest reports: a rich terminal table, JSON, an equity chart (SVG and PNG) and an HTML page.

Decimals are written to JSON as strings, so no figure passes through float on its way out; the
chart is the one place values become floats, for plotting only. Every reported figure is rounded
half-even: money to cents, returns, ratios and shares to six decimal places.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from application.backtest import STRATEGY, BacktestRun
from application.errors import PermanentError
from domain.market import MarketPhase
from domain.money import FRACTION_PRECISION, ZERO, round_usd
from domain.precision import MATHS_CONTEXT

PHASE_COLOURS = {
    MarketPhase.ACCUMULATION: "#2e7d32",
    MarketPhase.EUPHORIA: "#f9a825",
    MarketPhase.TOP: "#c62828",
    MarketPhase.BEAR: "#1565c0",
}
CURVE_LABELS = {
    STRATEGY: "strategy",
    "static_yield": "static yield",
    "btc_hold": "BTC buy and hold",
    "static_60_40": "static 60/40",
}


class ReportNotWritten(PermanentError):
    """The report directory or a report file could not be written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"backtest report {path}: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFiles:
    """Where each part of a written report is."""

    json: Path
    svg: Path
    png: Path
    html: Path


def _pct(value: Decimal | None, places: str = "0.01") -> str:
    if value is None:
        return "n/a"
    return f"{(value * 100).quantize(Decimal(places))}%"


def _num(value: Decimal | None, places: str = "0.01") -> str:
    return "n/a" if value is None else str(value.quantize(Decimal(places)))


def _usd(value: Decimal) -> str:
    return f"${value.quantize(Decimal(1)):,}"


def _cents(value: Decimal) -> str:
    return str(round_usd(value))


def _ratio(value: Decimal | None) -> str | None:
    """A return, ratio or share to six decimal places; None stays None."""
    if value is None:
        return None
    return str(value.quantize(FRACTION_PRECISION, rounding=ROUND_HALF_EVEN, context=MATHS_CONTEXT))


def _held(held: bool) -> str:
    return "HELD" if held else "NOT HELD"


def report_payload(run: BacktestRun) -> dict[str, Any]:
    """The report as JSON-ready data; every number is a decimal string."""
    s = run.summary
    curves: dict[str, Any] = {}
    for curve in s.curves:
        p = curve.performance
        w = curve.six_months
        curves[curve.name] = {
            "end_value_usd": _cents(p.end_value_usd),
            "total_return": _ratio(p.time_weighted_return),
            "annualised_return": _ratio(p.apy),
            "sharpe_365_rf_zero": _ratio(p.sharpe),
            "sortino_365_rf_zero": _ratio(p.sortino),
            "sharpe_365_rf_static_yield": _ratio(curve.at_static_yield.sharpe),
            "sortino_365_rf_static_yield": _ratio(curve.at_static_yield.sortino),
            "volatility": _ratio(p.volatility),
            "max_drawdown": _ratio(p.max_drawdown.depth),
            "max_drawdown_peak": p.max_drawdown.peak_at.date().isoformat(),
            "max_drawdown_trough": p.max_drawdown.trough_at.date().isoformat(),
            "six_month_windows": {
                "count": w.count,
                "best": _ratio(w.best),
                "worst": _ratio(w.worst),
                "median": _ratio(w.median),
                "share_inside_24_to_44pct": _ratio(w.share_in_spec_range),
                "share_above_44pct": _ratio(w.share_above_spec_range),
            },
        }
    v = s.verdict
    return {
        "from": s.first_day.isoformat(),
        "to": s.last_day.isoformat(),
        "days": len(run.result.days),
        "capital_usd": _cents(s.capital),
        "tactical_assets": list(s.tactical_assets),
        "risk_free_rates": {"zero": _ratio(ZERO), "static_yield": _ratio(s.static_yield_rate)},
        "curves": curves,
        "trades": s.fills,
        "decisions": {o.value: n for o, n in s.decisions_by_outcome.items()},
        "costs_usd": {
            "gas": _cents(s.gas_paid_usd),
            "slippage_and_fees": _cents(s.slippage_paid_usd),
            "total": _cents(s.gas_paid_usd + s.slippage_paid_usd),
        },
        "phase_days": {p.value: n for p, n in s.phase_days.items()},
        "spec_claims": {
            "rule": "a claim holds when at least half of the six-month windows fall inside "
            "its range",
            "six_month_24_to_44pct": {
                "share_of_windows_inside": _ratio(v.six_month_share_in_range),
                "share_of_windows_above": _ratio(v.six_month_share_above_range),
                "median_six_month_return": _ratio(v.six_month_median),
                "held": v.six_month_claim_held,
            },
            "two_to_three_times_static_yield": {
                "full_period_apy_multiple": _ratio(v.apy_multiple_of_static),
                "full_period_inside_range": v.full_period_multiple_in_range,
                "six_month_windows": v.multiple_windows.count,
                "share_of_windows_inside": _ratio(v.multiple_windows.share_in_claimed_range),
                "share_of_windows_at_least_2x": _ratio(v.multiple_windows.share_at_least_low),
                "share_of_windows_below_static": _ratio(v.multiple_windows.share_below_static),
                "held": v.multiple_claim_held,
            },
        },
    }


def summary_table(run: BacktestRun) -> Table:
    """The figures as a rich table, one column per curve."""
    s = run.summary
    table = Table(title=f"Backtest {s.first_day} to {s.last_day}, capital {_usd(s.capital)}")
    table.add_column("figure")
    for curve in s.curves:
        table.add_column(CURVE_LABELS.get(curve.name, curve.name), justify="right")

    def row(name: str, cell: Any) -> None:
        table.add_row(name, *(cell(c) for c in s.curves))

    row("end value", lambda c: _usd(c.performance.end_value_usd))
    row("total return", lambda c: _pct(c.performance.time_weighted_return))
    row("annualised return", lambda c: _pct(c.performance.apy))
    static = f"rf static yield {_pct(s.static_yield_rate)}"
    row("Sharpe (365 d), rf 0", lambda c: _num(c.performance.sharpe))
    row(f"Sharpe (365 d), {static}", lambda c: _num(c.at_static_yield.sharpe))
    row("Sortino (365 d), rf 0", lambda c: _num(c.performance.sortino))
    row(f"Sortino (365 d), {static}", lambda c: _num(c.at_static_yield.sortino))
    row("max drawdown", lambda c: _pct(c.performance.max_drawdown.depth))
    row("6-month best", lambda c: _pct(c.six_months.best))
    row("6-month median", lambda c: _pct(c.six_months.median))
    row("6-month worst", lambda c: _pct(c.six_months.worst))
    row("6-month in 24-44 %", lambda c: _pct(c.six_months.share_in_spec_range, "0.1"))
    row("6-month above 44 %", lambda c: _pct(c.six_months.share_above_spec_range, "0.1"))
    return table


def verdict_lines(run: BacktestRun) -> list[str]:
    """Plain sentences: trades, costs, phases, and whether the spec's claims held."""
    s = run.summary
    v = s.verdict
    m = v.multiple_windows
    phases = ", ".join(f"{p.value} {n}" for p, n in s.phase_days.items())
    decisions = ", ".join(f"{o.value} {n}" for o, n in s.decisions_by_outcome.items())
    return [
        f"Trades {s.fills} (plans: {decisions}); costs paid {_usd(s.gas_paid_usd)} gas + "
        f"{_usd(s.slippage_paid_usd)} fees and slippage.",
        f"Days per phase: {phases}. Tactical sleeve: {', '.join(s.tactical_assets)}.",
        f"Spec claim '24% to 44% in six months': {_pct(v.six_month_share_in_range, '0.1')} of "
        f"six-month windows inside 24% to 44% ({_pct(v.six_month_share_above_range, '0.1')} "
        f"above), median {_pct(v.six_month_median)} -> {_held(v.six_month_claim_held)}.",
        f"Spec claim '2-3x better than static yield': over the full period "
        f"{_num(v.apy_multiple_of_static)}x the static yield's annualised return "
        f"({'inside' if v.full_period_multiple_in_range else 'outside'} 2-3x); over six-month "
        f"windows {_pct(m.share_in_claimed_range, '0.1')} inside 2-3x, "
        f"{_pct(m.share_at_least_low, '0.1')} at 2x or more, "
        f"{_pct(m.share_below_static, '0.1')} below the static yield -> "
        f"{_held(v.multiple_claim_held)}.",
        "A claim holds when at least half of the six-month windows (the spec's horizon) fall "
        "inside its range.",
    ]


def print_report(run: BacktestRun, console: Console) -> None:
    """Print the table and the verdict to a terminal."""
    console.print(summary_table(run))
    for line in verdict_lines(run):
        console.print(line)


def _phase_spans(days: Sequence[date], phases: Sequence[MarketPhase]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] is not phases[start]:
            spans.append((start, i - 1))
            start = i
    return spans


def draw_chart(run: BacktestRun, svg: Path, png: Path) -> None:
    """Equity curves (log scale) over shaded phases, and the strategy's drawdown below."""
    # Loaded only to draw: matplotlib is about half a second of start-up that the printed
    # report does not need.
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    result = run.result
    days = list(result.days)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        for start, end in _phase_spans(days, result.phases):
            colour = PHASE_COLOURS[result.phases[start]]
            for axis in (top, bottom):
                axis.axvspan(days[start], days[end], color=colour, alpha=0.12, linewidth=0)
        top.plot(days, [float(v) for v in result.equity], label="strategy", linewidth=1.6)
        for name, values in result.baselines.items():
            top.plot(
                days, [float(v) for v in values], label=CURVE_LABELS.get(name, name), linewidth=1
            )
        top.set_yscale("log")
        top.set_ylabel("equity (USD, log)")
        handles, labels = top.get_legend_handles_labels()
        for phase, colour in PHASE_COLOURS.items():
            handles.append(Patch(color=colour, alpha=0.25))
            labels.append(phase.value)
        top.legend(handles, labels, loc="upper left", fontsize=8, ncol=2)
        top.set_title(f"Backtest {days[0]} to {days[-1]}")
        peak = Decimal(0)
        drawdown: list[float] = []
        for value in result.equity:
            peak = max(peak, value)
            drawdown.append(float(value / peak - 1) * 100 if peak > 0 else 0.0)
        bottom.fill_between(days, drawdown, 0, color="#c62828", alpha=0.5)
        bottom.set_ylabel("drawdown (%)")
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))  # type: ignore[no-untyped-call]
        fig.tight_layout()
        fig.savefig(svg, format="svg")
        fig.savefig(png, format="png", dpi=110)
    finally:
        plt.close(fig)


def _html(run: BacktestRun, files: ReportFiles) -> str:
    s = run.summary
    header = "".join(f"<th>{html.escape(CURVE_LABELS.get(c.name, c.name))}</th>" for c in s.curves)
    rows = []
    table = summary_table(run)
    cells = [list(col.cells) for col in table.columns]
    for r in range(len(cells[0])):
        tds = "".join(f"<td>{html.escape(str(col[r]))}</td>" for col in cells[1:])
        rows.append(f"<tr><th>{html.escape(str(cells[0][r]))}</th>{tds}</tr>")
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in verdict_lines(run))
    title = f"Backtest {s.first_day} to {s.last_day}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<img src='{files.svg.name}' alt='equity curves, drawdown and phases' width='100%'>"
        f"<table><tr><th>figure</th>{header}</tr>{''.join(rows)}</table>"
        f"<ul>{lines}</ul>"
        f"<p>Figures: <a href='{files.json.name}'>{files.json.name}</a>, "
        f"<a href='{files.png.name}'>{files.png.name}</a></p></body></html>\n"
    )


def write_report(run: BacktestRun, directory: Path) -> ReportFiles:
    """Write backtest.json, backtest.svg, backtest.png and index.html into `directory`.

    Raises:
        ReportNotWritten: the directory or a file cannot be written.
    """
    files = ReportFiles(
        json=directory / "backtest.json",
        svg=directory / "backtest.svg",
        png=directory / "backtest.png",
        html=directory / "index.html",
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files.json.write_text(json.dumps(report_payload(run), indent=2) + "\n", encoding="utf-8")
        draw_chart(run, files.svg, files.png)
        files.html.write_text(_html(run, files), encoding="utf-8")
    except OSError as exc:
        raise ReportNotWritten(directory, exc.strerror or str(exc)) from exc
    return files
