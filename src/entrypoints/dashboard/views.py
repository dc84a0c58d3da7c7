"""What each dashboard panel shows, read from the service's own JSON API.

The dashboard calls the API in-process (httpx over ASGI, no socket), so it shows exactly what
an API client sees, needs no second path into the use cases, and treats an endpoint that does
not exist yet (404) as "not available yet" instead of inventing data. Numbers are parsed as
Decimal; they become floats only where a chart needs pixel positions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from domain.tactical import TacticalLadder
from entrypoints.api.dto import CurvePointOut, PerformanceMetricsOut
from entrypoints.dashboard import svg

# A fixed in-process origin: ASGITransport never opens a socket, whatever the host says.
_ORIGIN = "http://dashboard.internal"
TIME_RANGES = ("24h", "7d", "30d")

# Panel name -> the API path it reads; the panel template has the same name.
SOURCES: dict[str, str] = {
    "market": "/market/data",
    "signal": "/market/signal",
    "portfolio": "/portfolio/status",
    "pending": "/decisions/pending",
    "transactions": "/transactions?limit=15",
    "audit": "/audit?count=15",
    "health": "/health",
    "revocation": "/emergency-stop/revocation",
    # Paper mode under Safe custody only (404 elsewhere): the paper owners the server can sign as.
    "paper_owners": "/paper/safe-owners",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One API answer: status and Decimal-parsed JSON body, or why there is none."""

    status: int
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the body holds the data (health answers 500 with a full body too)."""
        return self.error is None and self.body is not None

    @property
    def missing(self) -> bool:
        """Whether the endpoint does not exist on this server yet."""
        return self.status == 404


def _decode(response: httpx.Response) -> Answer:
    try:
        body = json.loads(response.content, parse_float=Decimal) if response.content else None
    except ValueError:
        return Answer(response.status_code, error=f"HTTP {response.status_code}: not JSON")
    if response.status_code == 404:
        return Answer(404, error="not available yet")
    if response.status_code >= 400 and not (
        response.status_code == 500 and isinstance(body, dict) and "status" in body
    ):
        message = body.get("error") if isinstance(body, dict) else None
        return Answer(response.status_code, error=str(message or f"HTTP {response.status_code}"))
    return Answer(response.status_code, body=body)


async def read_api(app: Any, time_range: str) -> dict[str, Answer]:
    """Read every source the panels need, concurrently, from the app itself."""
    paths = {**SOURCES, "performance": f"/performance/metrics?time_range={time_range}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=_ORIGIN, timeout=20) as client:

        async def one(path: str) -> Answer:
            try:
                return _decode(await client.get(path))
            except httpx.HTTPError as exc:
                return Answer(0, error=f"{path} failed: {type(exc).__name__}")

        answers = await asyncio.gather(*(one(p) for p in paths.values()))
    return dict(zip(paths, answers, strict=True))


# ---------------------------------------------------------------- formatting (Jinja filters)


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def usd(value: Any, digits: int = 2) -> str:
    """$1,234.56; an em dash when unknown."""
    v = _dec(value)
    if v is None:
        return "—"
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.{digits}f}"


def pct(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage (0.065 → 6.5 %); an em dash when unknown."""
    v = _dec(value)
    if v is None:
        return "—"
    text = f"{v * 100:+,.{digits}f} %" if signed else f"{v * 100:,.{digits}f} %"
    return text


def number(value: Any, digits: int = 4) -> str:
    """A plain number with at most `digits` decimals, trailing zeros dropped."""
    v = _dec(value)
    if v is None:
        return "—"
    text = f"{v:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def when(value: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM:SS UTC`."""
    at = parse_time(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def age(value: Any) -> str:
    """Seconds as a short age: 45 s, 12 min, 3 h, 2 d."""
    v = _dec(value)
    if v is None:
        return "—"
    seconds = int(v)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def tone(value: Any) -> str:
    """CSS class for a signed number: up, down or flat."""
    v = _dec(value)
    if v is None or v == 0:
        return "flat"
    return "up" if v > 0 else "down"


def label(name: str) -> str:
    """snake_case → Sentence case."""
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (or datetime) as an aware datetime, or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


FILTERS = {
    "usd": usd,
    "pct": pct,
    "number": number,
    "when": when,
    "age": age,
    "tone": tone,
    "label": label,
}


# ---------------------------------------------------------------- panel view models


def ladder_bands(ladder: TacticalLadder | None = None) -> tuple[svg.Band, ...]:
    """The strategy's own MVRV ladder (the default one unless given) as gauge bands."""
    ladder = ladder or TacticalLadder()
    return svg.ladder_bands(
        ladder.full_exposure_below,
        [(r.mvrv_above, r.sell_fraction) for r in ladder.rungs],
        ladder.normal_exposure,
    )


def market_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """Prices, MVRV on the ladder, funding, fear & greed, phase and per-source freshness."""
    bands = ladder_bands()
    mvrv = _dec(body.get("mvrv_z_score"))
    freshness = body.get("freshness") or {}
    sources = [
        {
            "field": name,
            "source": info.get("source", "?"),
            "age_seconds": info.get("age_seconds"),
            "observed_at": info.get("observed_at"),
            "stale": bool(info.get("stale")),
            "manual": bool(info.get("manual")),
        }
        for name, info in sorted(freshness.items())
        if isinstance(info, Mapping)
    ]
    return {
        "data": body,
        "gauge": svg.mvrv_gauge(mvrv, bands),
        "band": svg.band_for(mvrv, bands).label if mvrv is not None else None,
        "thresholds": [(b.low, b.label) for b in bands],
        "sources": sources,
        "any_stale": any(s["stale"] for s in sources),
    }


def allocation_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """Bucket bars (current against target) and each position's share of the total."""
    allocations = body.get("allocations") or {}
    buckets = [
        svg.Bar(
            label=label(name),
            current=_dec(line.get("current")) or Decimal(0),
            target=_dec(line.get("target")),
        )
        for name, line in allocations.items()
        if isinstance(line, Mapping)
    ]
    total = _dec(body.get("total_value_usd")) or Decimal(0)
    positions = body.get("positions") or []
    rows = [
        svg.Bar(
            label=f"{p.get('protocol')} {p.get('asset')}",
            current=(_dec(p.get("value_usd")) or Decimal(0)) / total if total > 0 else Decimal(0),
        )
        for p in positions
    ]
    cash = _dec(body.get("cash_balance")) or Decimal(0)
    if total > 0 and cash > 0:
        rows.append(svg.Bar(label="idle cash", current=cash / total))
    return {
        "buckets_svg": svg.allocation_bars(buckets, title="Buckets: current versus target"),
        "positions_svg": svg.allocation_bars(rows, title="Share of the treasury by position"),
        "buckets": buckets,
    }


def _points(curve: Sequence[CurvePointOut]) -> tuple[svg.Point, ...]:
    return tuple(sorted((svg.Point(at=p.at, value=p.value_usd) for p in curve), key=lambda p: p.at))


# Headline figures: label, the field of the API's PerformanceMetricsOut, and how to show it.
_METRICS: tuple[tuple[str, str, str], ...] = (
    ("Return", "time_weighted_return", "pct"),
    ("APY", "apy", "pct"),
    ("Sharpe ratio", "sharpe_ratio", "number"),
    ("Sortino ratio", "sortino", "number"),
    ("Sharpe, risk-free 0", "sharpe_at_zero_rate", "number"),
    ("Sharpe, risk-free = static yield", "sharpe_at_static_yield", "number"),
    ("Sortino, risk-free 0", "sortino_at_zero_rate", "number"),
    ("Sortino, risk-free = static yield", "sortino_at_static_yield", "number"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Volatility", "volatility", "pct"),
    ("P&L", "pnl_usd", "usd"),
)


def parse_performance(body: Any) -> PerformanceMetricsOut:
    """The answer of GET /performance/metrics read into the API's own model.

    Raises:
        pydantic.ValidationError: the answer is not in the shape the API sends.
    """
    return PerformanceMetricsOut.model_validate(body)


def performance_view(m: PerformanceMetricsOut) -> dict[str, Any]:
    """Headline metrics and the equity curve against the baselines the endpoint returns.

    Every line is one the API sent (`equity_curve` and each of `baselines`); nothing is derived
    here, so the chart shows exactly the figures an API client gets.
    """
    metrics = [
        {"name": name, "value": value, "kind": kind}
        for name, field_name, kind in _METRICS
        if (value := getattr(m, field_name)) is not None
    ]
    equity = _points(m.equity_curve)
    baselines: list[svg.Series] = []
    for name, curve in sorted(m.baselines.items()):
        points = _points(curve)
        if points:
            series_tone = "btc" if "btc" in name else ("yield" if "yield" in name else "other")
            title = label(name).replace("Btc", "BTC").replace("Eth", "ETH")
            baselines.append(svg.Series(name=title, points=points, tone=series_tone))
    return {
        # A new treasury: nothing measured yet, and the answer's note says why.
        "unmeasured": m.note if m.points < 2 else None,
        "metrics": metrics,
        "chart": svg.equity_chart(
            svg.Series(name="Treasury", points=equity, tone="equity"), baselines
        ),
        "legend": [("Treasury", "equity"), *((s.name, s.tone) for s in baselines)],
        "has_btc": any(s.tone == "btc" for s in baselines),
        "trade_count": m.trade_count,
        "range": m.time_range,
    }


def health_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """Every part's health as rows: name, kind, status, detail."""
    rows: list[dict[str, Any]] = [
        {
            "name": "advisor",
            "kind": "AI",
            "status": body.get("ai_status"),
            "detail": body.get("ai_detail"),
        },
        {"name": "database", "kind": "storage", "status": body.get("database"), "detail": None},
    ]
    for name, status in sorted((body.get("protocols_status") or {}).items()):
        rows.append({"name": name, "kind": "protocol", "status": status, "detail": None})
    for name, info in sorted((body.get("market_sources") or {}).items()):
        rows.append(
            {
                "name": name,
                "kind": "market source",
                "status": info.get("status"),
                "detail": info.get("last_error")
                or (
                    f"last success {when(info.get('last_success'))}"
                    if info.get("last_success")
                    else None
                ),
            }
        )
    for name, info in sorted((body.get("others") or {}).items()):
        rows.append(
            {
                "name": name,
                "kind": "other",
                "status": info.get("status"),
                "detail": info.get("detail"),
            }
        )
    return {"status": body.get("status"), "rows": rows, "checked_at": body.get("checked_at")}


@dataclass
class Viewer:
    """Who is looking, and what the page may offer them."""

    role: str
    fingerprint: str
    may_approve: bool = False
    may_stop: bool = False
    may_resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
