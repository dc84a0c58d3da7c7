"""The dashboard's routes: the page at `/`, its live panels, who-am-I, and static files.

`GET /` is a shell with the sign-in form and empty panels; it holds no data, so it needs no
token. The browser keeps the token in sessionStorage and sends it as a bearer token to
`GET /dashboard/panels` (every panel rendered server-side as HTML, polled every few seconds)
and to the JSON API's actions. The panels render the caller's role: controls a role may not use
are disabled, and the API refuses them anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.static_files import create_static_files_router
from pydantic import ValidationError

from entrypoints.api.auth import Principal, Role
from entrypoints.api.dto import PerformanceMetricsOut
from entrypoints.dashboard.views import (
    FILTERS,
    TIME_RANGES,
    Answer,
    Viewer,
    allocation_view,
    health_view,
    market_view,
    parse_performance,
    performance_view,
    read_api,
)

HERE = Path(__file__).parent
STATIC_PATH = "/dashboard/static"
REFRESH_MS = 3000

# Scripts, styles and connections only from this origin; no inline script, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(FILTERS)

PANELS = (
    "banner",
    "market",
    "signal",
    "allocation",
    "positions",
    "pending",
    "performance",
    "transactions",
    "audit",
    "health",
)


def viewer_of(principal: Principal) -> Viewer:
    """What the page offers a caller, from the same role rules the API enforces."""
    return Viewer(
        role=principal.role.name.lower(),
        fingerprint=principal.fingerprint,
        may_approve=principal.role >= Role.APPROVER,
        may_stop=principal.role >= Role.OPERATOR,
        may_resume=principal.role >= Role.APPROVER,
    )


def render_panels(answers: dict[str, Answer], viewer: Viewer, time_range: str) -> dict[str, str]:
    """Every panel's HTML from the API's answers; a failed source shows its error in place."""
    market, portfolio, health = answers["market"], answers["portfolio"], answers["health"]
    performance = answers["performance"]
    measured: PerformanceMetricsOut | None = None
    if performance.ok:
        try:
            measured = parse_performance(performance.body)
        except ValidationError as exc:
            problem = f"the answer does not match the API's model ({exc.error_count()} errors)"
            answers = {**answers, "performance": Answer(performance.status, error=problem)}
    context: dict[str, Any] = {
        "answers": answers,
        "viewer": viewer,
        "time_range": time_range,
        "market": market_view(market.body) if market.ok else None,
        "allocation": allocation_view(portfolio.body) if portfolio.ok else None,
        "health": health_view(health.body) if health.ok else None,
        "performance": performance_view(measured) if measured is not None else None,
    }
    return {
        name: templates.get_template(f"panels/{name}.html").render(**context) for name in PANELS
    }


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> Response[str]:
    """The dashboard page: sign-in form and panel placeholders, filled by the browser."""
    html = templates.get_template("index.html").render(
        static=STATIC_PATH, panels=PANELS, refresh_ms=REFRESH_MS, time_ranges=TIME_RANGES
    )
    return Response(html, media_type=MediaType.HTML, headers=SECURITY_HEADERS)


@get("/auth/whoami", tags=["auth"], opt={"role": Role.VIEWER}, sync_to_thread=False)
def whoami(principal: NamedDependency[Principal]) -> dict[str, Any]:
    """The caller's role and token fingerprint (never the token), and what it may do."""
    viewer = viewer_of(principal)
    return {
        "role": viewer.role,
        "fingerprint": viewer.fingerprint,
        "may": {
            "approve": viewer.may_approve,
            "emergency_stop": viewer.may_stop,
            "resume": viewer.may_resume,
        },
    }


@get("/dashboard/panels", tags=["dashboard"], opt={"role": Role.VIEWER})
async def panels(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    time_range: str = Parameter(default="7d", pattern=r"^(24h|7d|30d)$"),
) -> Response[dict[str, Any]]:
    """Every panel as server-rendered HTML, for the page to swap in without a reload."""
    answers = await read_api(request.app, time_range)
    body = {
        "panels": render_panels(answers, viewer_of(principal), time_range),
        "generated_at": datetime.now(UTC).isoformat(),
    }
    return Response(body, headers={"Cache-Control": "no-store"})


def dashboard_routes() -> list[Any]:
    """The route handlers to pass to `create_app(extra_routes=...)`."""
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[HERE / "static"],
        include_in_schema=False,
        cache_control=None,
    )
    return [index, whoami, panels, static]
