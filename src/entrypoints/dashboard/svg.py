"""SVG charts for the dashboard, drawn by our own code: no chart library, no JavaScript.

Every function returns a standalone `<svg>` string that scales to its container (a viewBox
and `width="100%"`), carries `role="img"` with a `<title>` and `<desc>` that say in words what
the picture shows, and colours through CSS classes so the page's light and dark themes apply.
Values arrive as Decimal (money from the API); they become floats only for pixel positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape

Number = Decimal | int | float


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One row of a current-versus-target bar chart; shares are fractions (0.6 is 60 %)."""

    label: str
    current: Decimal
    target: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Band:
    """A stretch of the MVRV Z axis with what the ladder does there."""

    low: Decimal | None
    high: Decimal | None
    label: str
    tone: str
    low_inclusive: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One point of a time series."""

    at: datetime
    value: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """A named line on the equity chart; `tone` picks its CSS class."""

    name: str
    points: tuple[Point, ...]
    tone: str


def _f(value: Number) -> float:
    return float(value)


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _pct(fraction: Number, digits: int = 1) -> str:
    return f"{_f(fraction) * 100:.{digits}f} %"


def _open(width: int, height: int, title: str, desc: str, css: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )


def allocation_bars(
    bars: Sequence[Bar], *, title: str = "Allocation: current versus target"
) -> str:
    """Horizontal bars of each row's current share, with its target as a marker line.

    The description lists every row as "label current (target x)" so a screen reader gets the
    same numbers as the picture.
    """
    row_h, label_w, width = 30, 120, 480
    plot_w = width - label_w - 122
    height = max(row_h * len(bars) + 24, 48)
    parts: list[str] = []
    words: list[str] = []
    for index, bar in enumerate(bars):
        y = 12 + index * row_h
        current = min(max(_f(bar.current), 0.0), 1.0)
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(bar.label)}</text>"
            f'<rect class="track" x="{label_w}" y="{y + 3}" width="{plot_w}" height="16" rx="3"/>'
            f'<rect class="bar current" x="{label_w}" y="{y + 3}" '
            f'width="{_n(current * plot_w)}" height="16" rx="3"/>'
        )
        text = f"{bar.label} {_pct(bar.current)}"
        value_text = _pct(bar.current)
        if bar.target is not None:
            target = min(max(_f(bar.target), 0.0), 1.0)
            x = label_w + target * plot_w
            parts.append(f'<line class="target" x1="{_n(x)}" x2="{_n(x)}" y1="{y}" y2="{y + 22}"/>')
            text += f" (target {_pct(bar.target)})"
            value_text += f" → {_pct(bar.target, 0)}"
        parts.append(
            f'<text class="value" x="{label_w + plot_w + 8}" y="{y + 15}">'
            f"{escape(value_text)}</text>"
        )
        words.append(text)
    desc = "; ".join(words) if words else "nothing to show"
    return _open(width, height, title, desc, "bars") + "".join(parts) + "</svg>"


def ladder_bands(
    full_exposure_below: Decimal, rungs: Sequence[tuple[Decimal, Decimal]], normal: Decimal
) -> tuple[Band, ...]:
    """The MVRV axis cut at the ladder's thresholds, each stretch labelled with its action.

    Args:
        full_exposure_below: below this MVRV Z the sleeve holds full exposure.
        rungs: (MVRV level, fraction sold above it), ascending.
        normal: the exposure between `full_exposure_below` and the first rung.
    """
    bands = [
        Band(low=None, high=full_exposure_below, label="full exposure", tone="buy"),
        Band(
            low=full_exposure_below,
            high=rungs[0][0] if rungs else None,
            label=f"hold {_pct(normal, 0)}",
            tone="hold",
            low_inclusive=True,
        ),
    ]
    for index, (level, sold) in enumerate(rungs):
        high = rungs[index + 1][0] if index + 1 < len(rungs) else None
        tone = "sell-all" if sold >= 1 else f"sell-{min(index + 1, 3)}"
        bands.append(Band(low=level, high=high, label=f"sell {_pct(sold, 0)}", tone=tone))
    return tuple(bands)


def band_for(value: Decimal, bands: Sequence[Band]) -> Band:
    """The band a value falls in: above its low end (or at it, where `low_inclusive`)."""
    found = bands[0]
    for band in bands:
        if band.low is None or value > band.low or (band.low_inclusive and value == band.low):
            found = band
    return found


def mvrv_gauge(
    value: Decimal | None,
    bands: Sequence[Band],
    *,
    axis_min: Decimal = Decimal(-2),
    axis_max: Decimal = Decimal(11),
) -> str:
    """A horizontal gauge of MVRV Z: coloured ladder bands, threshold ticks and a marker.

    A value outside the axis is pinned to the edge with an arrow; None draws no marker and
    says "unknown".
    """
    width, height, left, right = 480, 92, 12, 12
    plot_w = width - left - right
    lo, hi = _f(axis_min), _f(axis_max)

    def x_of(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    parts: list[str] = []
    for band in bands:
        x1 = x_of(_f(band.low) if band.low is not None else lo)
        x2 = x_of(_f(band.high) if band.high is not None else hi)
        parts.append(
            f'<rect class="band {escape(band.tone)}" x="{_n(x1)}" y="26" '
            f'width="{_n(max(x2 - x1, 0))}" height="22"/>'
        )
        if band.low is not None:
            parts.append(
                f'<line class="tick" x1="{_n(x1)}" x2="{_n(x1)}" y1="22" y2="52"/>'
                f'<text class="tick-label" x="{_n(x1)}" y="66" text-anchor="middle">'
                f"{escape(_plain(band.low))}</text>"
            )
    if value is None:
        desc = "MVRV Z is unknown; no marker drawn"
        parts.append(f'<text class="note" x="{left}" y="84">MVRV Z unknown</text>')
    else:
        band = band_for(value, bands)
        desc = f"MVRV Z {_plain(value)}: {band.label}"
        v = _f(value)
        x = x_of(v)
        parts.append(
            f'<path class="marker" d="M{_n(x - 7)} 8 L{_n(x + 7)} 8 L{_n(x)} 24 Z"/>'
            f'<line class="marker-line" x1="{_n(x)}" x2="{_n(x)}" y1="24" y2="50"/>'
        )
        if v < lo or v > hi:
            arrow = "◀" if v < lo else "▶"
            parts.append(
                f'<text class="note" x="{_n(x)}" y="84" text-anchor="middle">{arrow} '
                f"{escape(_plain(value))}</text>"
            )
        else:
            anchor = "start" if x < width / 2 else "end"
            parts.append(
                f'<text class="note" x="{_n(x)}" y="84" text-anchor="{anchor}">'
                f"{escape(_plain(value))} · {escape(band.label)}</text>"
            )
    title = "MVRV Z on the tactical ladder"
    return _open(width, height, title, desc, "gauge") + "".join(parts) + "</svg>"


def _plain(value: Number) -> str:
    text = f"{Decimal(str(value)):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def drawdown(points: Sequence[Point]) -> tuple[Point, ...]:
    """The underwater curve: each point's fall from the running peak, as a fraction ≤ 0."""
    peak: Decimal | None = None
    out: list[Point] = []
    for point in points:
        peak = point.value if peak is None else max(peak, point.value)
        depth = (point.value - peak) / peak if peak > 0 else Decimal(0)
        out.append(Point(at=point.at, value=depth))
    return tuple(out)


def equity_chart(equity: Series, baselines: Sequence[Series] = ()) -> str:
    """The equity curve with baselines on a shared time axis, and its drawdown beneath.

    Fewer than two equity points draws an empty frame that says so rather than a fake line.
    """
    width, height = 720, 300
    left, right, top = 76, 16, 14
    main_h, gap, dd_h = 170, 26, 60
    plot_w = width - left - right
    lines = [equity, *baselines]
    every = [p for s in lines for p in s.points]
    if len(equity.points) < 2:
        desc = "not enough equity history to draw a curve yet"
        body = (
            f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{main_h}"/>'
            f'<text class="note" x="{left + plot_w / 2}" y="{top + main_h / 2}" '
            f'text-anchor="middle">{escape(desc)}</text>'
        )
        return _open(width, height, "Equity curve", desc, "equity") + body + "</svg>"
    t0 = min(p.at for p in every).timestamp()
    t1 = max(p.at for p in every).timestamp()
    span_t = (t1 - t0) or 1.0
    v_lo = min(_f(p.value) for p in every)
    v_hi = max(_f(p.value) for p in every)
    pad = (v_hi - v_lo) * 0.08 or max(abs(v_hi) * 0.01, 1.0)
    v_lo, v_hi = v_lo - pad, v_hi + pad

    def x_of(at: datetime) -> float:
        return left + (at.timestamp() - t0) / span_t * plot_w

    def y_of(v: Number) -> float:
        return top + (v_hi - _f(v)) / (v_hi - v_lo) * main_h

    parts = [f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{main_h}"/>']
    for step in range(5):
        v = v_lo + (v_hi - v_lo) * step / 4
        y = y_of(v)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<text class="axis" x="{left - 6}" y="{_n(y + 4)}" text-anchor="end">'
            f"{escape(_money_short(v))}</text>"
        )
    for series in reversed(lines):
        if len(series.points) < 2:
            continue
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_n(x_of(p.at))} {_n(y_of(p.value))}"
            for i, p in enumerate(series.points)
        )
        parts.append(f'<path class="line {escape(series.tone)}" d="{d}"/>')
    dd = drawdown(equity.points)
    worst = min((_f(p.value) for p in dd), default=0.0)
    dd_top = top + main_h + gap
    floor = min(worst, -0.0001)

    def y_dd(v: Number) -> float:
        return dd_top + _f(v) / floor * dd_h

    area = (
        f"M{_n(x_of(dd[0].at))} {_n(dd_top)} "
        + " ".join(f"L{_n(x_of(p.at))} {_n(y_dd(p.value))}" for p in dd)
        + f" L{_n(x_of(dd[-1].at))} {_n(dd_top)} Z"
    )
    parts.append(
        f'<rect class="frame" x="{left}" y="{_n(dd_top)}" width="{plot_w}" height="{dd_h}"/>'
        f'<path class="drawdown" d="{area}"/>'
        f'<text class="axis" x="{left - 6}" y="{_n(dd_top + 10)}" text-anchor="end">0 %</text>'
        f'<text class="axis" x="{left - 6}" y="{_n(dd_top + dd_h)}" text-anchor="end">'
        f"{escape(_pct(worst))}</text>"
        f'<text class="axis" x="{left}" y="{_n(dd_top - 6)}">drawdown</text>'
    )
    start, end = min(p.at for p in every), max(p.at for p in every)
    parts.append(
        f'<text class="axis" x="{left}" y="{height - 4}">{start:%Y-%m-%d %H:%M}</text>'
        f'<text class="axis" x="{left + plot_w}" y="{height - 4}" text-anchor="end">'
        f"{end:%Y-%m-%d %H:%M}</text>"
    )
    last = equity.points[-1].value
    desc = (
        f"{equity.name} from {_money_short(equity.points[0].value)} to {_money_short(last)}"
        f" between {start:%Y-%m-%d} and {end:%Y-%m-%d}; worst drawdown {_pct(worst)}"
    )
    for series in baselines:
        if series.points:
            desc += f"; {series.name} ends at {_money_short(series.points[-1].value)}"
    return _open(width, height, "Equity curve", desc, "equity") + "".join(parts) + "</svg>"


def _money_short(value: Number) -> str:
    v = _f(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= size:
            return f"${v / size:.2f}{suffix}"
    return f"${v:.2f}"
