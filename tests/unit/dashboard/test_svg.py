"""The dashboard's own SVG charts: well-formed, proportional, accessible, and honest."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.tactical import TacticalLadder
from entrypoints.dashboard import svg
from entrypoints.dashboard.views import ladder_bands

D = Decimal
NS = {"s": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own output, not untrusted input)


def rects(root: ET.Element, css: str) -> list[ET.Element]:
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if css in r.get("class", "")]


def test_allocation_bars_are_proportional_to_the_share_with_the_target_marked() -> None:
    root = parse(
        svg.allocation_bars(
            [
                svg.Bar(label="Base yield", current=D("0.5"), target=D("0.6")),
                svg.Bar(label="Cash", current=D("0.25"), target=None),
            ]
        )
    )
    track = rects(root, "track")[0]
    bars = rects(root, "bar current")
    full = float(track.get("width", "0"))
    assert float(bars[0].get("width", "0")) == pytest.approx(full * 0.5, abs=0.01)
    assert float(bars[1].get("width", "0")) == pytest.approx(full * 0.25, abs=0.01)
    targets = list(root.iter("{http://www.w3.org/2000/svg}line"))
    assert len(targets) == 1
    x0 = float(track.get("x", "0"))
    assert float(targets[0].get("x1", "0")) == pytest.approx(x0 + full * 0.6, abs=0.01)


def test_allocation_bars_say_their_numbers_in_words_for_screen_readers() -> None:
    root = parse(
        svg.allocation_bars([svg.Bar(label="Tactical", current=D("0.24"), target=D("0.3"))])
    )
    assert root.get("role") == "img"
    desc = root.find("s:desc", NS)
    assert desc is not None
    assert desc.text == "Tactical 24.0 % (target 30.0 %)"


def test_a_share_above_one_is_drawn_no_wider_than_the_track() -> None:
    root = parse(svg.allocation_bars([svg.Bar(label="x", current=D("1.7"))]))
    assert rects(root, "bar current")[0].get("width") == rects(root, "track")[0].get("width")


def test_labels_are_escaped_so_a_name_cannot_inject_markup() -> None:
    text = svg.allocation_bars([svg.Bar(label='<script>alert("x")</script>', current=D("0.1"))])
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    parse(text)


@pytest.mark.parametrize(
    ("mvrv", "band"),
    [
        pytest.param("-0.01", "full exposure", id="below-zero-full-exposure"),
        pytest.param("0", "hold 60 %", id="zero-holds"),
        pytest.param("3.5", "hold 60 %", id="rung-applies-strictly-above"),
        pytest.param("3.51", "sell 25 %", id="first-rung"),
        pytest.param("5", "sell 25 %", id="at-second-rung-still-first"),
        pytest.param("6", "sell 50 %", id="second-rung"),
        pytest.param("8", "sell 67 %", id="third-rung"),
        pytest.param("9.5", "sell 100 %", id="top-rung"),
    ],
)
def test_the_gauge_names_the_ladder_band_the_market_is_in(mvrv: str, band: str) -> None:
    bands = ladder_bands()
    assert svg.band_for(D(mvrv), bands).label == band
    root = parse(svg.mvrv_gauge(D(mvrv), bands))
    desc = root.find("s:desc", NS)
    assert desc is not None
    assert desc.text == f"MVRV Z {mvrv}: {band}"


@given(st.decimals(min_value=-5, max_value=20, places=2))
def test_the_gauge_band_agrees_with_the_domain_ladder(mvrv: Decimal) -> None:
    ladder = TacticalLadder()
    label = svg.band_for(mvrv, ladder_bands(ladder)).label
    sold = ladder.sell_fraction_at(mvrv)
    if sold > 0:
        assert label == f"sell {sold * 100:.0f} %"
    elif mvrv < ladder.full_exposure_below:
        assert label == "full exposure"
    else:
        assert label == "hold 60 %"


def test_the_gauge_marker_sits_at_the_value_on_the_axis() -> None:
    bands = ladder_bands()
    root = parse(svg.mvrv_gauge(D(2), bands, axis_min=D(-2), axis_max=D(11)))
    line = next(
        e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "marker-line"
    )
    left, plot_w = 12, 480 - 24
    assert float(line.get("x1", "0")) == pytest.approx(left + (2 + 2) / 13 * plot_w, abs=0.01)


def test_a_value_off_the_axis_is_pinned_to_the_edge_with_an_arrow() -> None:
    text = svg.mvrv_gauge(D(14), ladder_bands(), axis_max=D(11))
    assert "▶ 14" in text
    assert 'class="marker-line" x1="468"' in text


def test_an_unknown_mvrv_draws_no_marker_and_says_so() -> None:
    text = svg.mvrv_gauge(None, ladder_bands())
    assert 'class="marker' not in text
    assert "MVRV Z unknown" in text


def test_drawdown_is_the_fall_from_the_running_peak() -> None:
    points = [
        svg.Point(at=T0 + timedelta(days=i), value=D(v)) for i, v in enumerate([100, 120, 90, 130])
    ]
    assert [p.value for p in svg.drawdown(points)] == [D(0), D(0), D("-0.25"), D(0)]


def test_the_equity_chart_draws_the_curve_baselines_and_drawdown() -> None:
    equity = tuple(
        svg.Point(at=T0 + timedelta(days=i), value=D(v)) for i, v in enumerate([100, 120, 90, 130])
    )
    flat = tuple(svg.Point(at=p.at, value=D(100)) for p in equity)
    root = parse(
        svg.equity_chart(
            svg.Series(name="Treasury", points=equity, tone="equity"),
            [svg.Series(name="Static 6.5 % yield", points=flat, tone="yield")],
        )
    )
    paths = {p.get("class"): p.get("d", "") for p in root.iter("{http://www.w3.org/2000/svg}path")}
    assert set(paths) == {"line equity", "line yield", "drawdown"}
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", paths["line equity"])]
    assert ys.index(min(ys)) == 3, "the highest value is drawn highest"
    desc = root.find("s:desc", NS)
    assert desc is not None
    assert "worst drawdown -25.0 %" in (desc.text or "")
    assert "Static 6.5 % yield ends at $100.00" in (desc.text or "")


def test_one_equity_point_draws_no_line_and_says_there_is_not_enough_history() -> None:
    text = svg.equity_chart(
        svg.Series(name="Treasury", points=(svg.Point(at=T0, value=D(100)),), tone="equity")
    )
    assert "<path" not in text
    assert "not enough equity history" in text
    parse(text)
