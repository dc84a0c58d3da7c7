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
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from domain.tactical import TacticalLadder
from entrypoints.dashboard import svg

# A fixed in-process origin: ASGITransport never opens a socket, whatever the host says.
_ORIGIN = "http://dashboard.internal"
TIME_RANGES = ("24h", "7d", "30d")
STATIC_YIELD = Decimal("0.065")

# Panel name -> the API path it reads; the panel template has the same name.
SOURCES: dict[str, str] = {
    "market": "/market/data",
    "signal": "/market/signal",
    "portfolio": "/portfolio/status",
    "pending": "/decisions/pending",
    "transactions": "/transactions?limit=15",
    "audit": "/audit?count=15",
    "health": "/health",
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


def _points(raw: Any) -> tuple[svg.Point, ...]:
    if isinstance(raw, Mapping):
        raw = raw.get("points") or raw.get("values")
    points: list[svg.Point] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            at = parse_time(item.get("at") or item.get("timestamp") or item.get("time"))
            value = _dec(
                next(
                    (item[k] for k in ("value_usd", "value", "equity", "equity_usd") if k in item),
                    None,
                )
            )
        elif isinstance(item, list | tuple) and len(item) == 2:
            at, value = parse_time(item[0]), _dec(item[1])
        else:
            continue
        if at is not None and value is not None:
            points.append(svg.Point(at=at, value=value))
    return tuple(sorted(points, key=lambda p: p.at))


def static_yield_baseline(first: svg.Point, times: Sequence[datetime]) -> tuple[svg.Point, ...]:
    """What the first equity value would be worth at the static 6.5 % yield, at each time."""
    out = []
    for at in times:
        years = Decimal(str((at - first.at) / timedelta(days=365)))
        growth = Decimal(str(float(1 + STATIC_YIELD) ** float(years)))
        out.append(svg.Point(at=at, value=first.value * growth))
    return tuple(out)


_METRICS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Return", ("time_weighted_return", "total_return", "return", "returns"), "pct"),
    ("APY", ("apy", "annualized_return"), "pct"),
    ("Sharpe ratio", ("sharpe_ratio", "sharpe"), "number"),
    ("Sortino ratio", ("sortino_ratio", "sortino"), "number"),
    ("Sharpe, risk-free 0", ("sharpe_at_zero_rate",), "number"),
    ("Sharpe, risk-free = static yield", ("sharpe_at_static_yield",), "number"),
    ("Sortino, risk-free 0", ("sortino_at_zero_rate",), "number"),
    ("Sortino, risk-free = static yield", ("sortino_at_static_yield",), "number"),
    ("Max drawdown", ("max_drawdown", "drawdown"), "pct"),
    ("Volatility", ("volatility",), "pct"),
    ("P&L", ("pnl_usd",), "usd"),
)


def _metric(body: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in body:
            value = body[key]
            if isinstance(value, Mapping):
                value = value.get("depth", value.get("value", value.get("total")))
            return value
    return None


def performance_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """Headline metrics and the equity curve against the baselines the endpoint returns.

    Reads `equity_curve` (a list of {at, value_usd}) and `baselines` (name → list of points);
    the static 6.5 % yield line is derived from the curve's first point when the endpoint
    does not send one. BTC buy-and-hold is drawn only when the endpoint sends it.
    """
    metrics = []
    for name, keys, kind in _METRICS:
        value = _metric(body, keys)
        if value is not None and not isinstance(value, Mapping | list):
            metrics.append({"name": name, "value": value, "kind": kind})
    equity = _points(body.get("equity_curve") or body.get("equity"))
    baselines: list[svg.Series] = []
    raw_baselines = body.get("baselines") or {}
    for name, raw in sorted(raw_baselines.items()):
        points = _points(raw)
        if points:
            series_tone = "btc" if "btc" in name else ("yield" if "yield" in name else "other")
            title = label(name).replace("Btc", "BTC").replace("Eth", "ETH")
            baselines.append(svg.Series(name=title, points=points, tone=series_tone))
    if len(equity) >= 2 and not any(s.tone == "yield" for s in baselines):
        baselines.append(
            svg.Series(
                name="Static 6.5 % yield",
                points=static_yield_baseline(equity[0], [p.at for p in equity]),
                tone="yield",
            )
        )
    trades = body.get("trade_history") or body.get("trades")
    # A new treasury: nothing measured yet, and the answer's note says why.
    unmeasured = body.get("note") if not equity and body.get("points", 2) < 2 else None
    return {
        "unmeasured": unmeasured,
        "metrics": metrics,
        "chart": svg.equity_chart(
            svg.Series(name="Treasury", points=equity, tone="equity"), baselines
        ),
        "legend": [("Treasury", "equity"), *((s.name, s.tone) for s in baselines)],
        "has_btc": any(s.tone == "btc" for s in baselines),
        "trade_count": len(trades)
        if isinstance(trades, list)
        else _dec(trades.get("count") if isinstance(trades, Mapping) else None),
        "range": body.get("time_range"),
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
