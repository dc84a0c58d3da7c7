"""Per-token rate limits on the mutating routes (Litestar's rate-limit middleware).

Two allowances, both per minute and per bearer token (a caller without a token counts by
address): one for every mutating request (POST, PUT, PATCH, DELETE), and a tighter one for
requests that run a decision cycle (`POST /portfolio/rebalance`), since each writes a decision,
a plan and audit rows. Over either, the answer is 429 with `Retry-After` (set where errors are
answered, in `errors.py`). The numbers come from `ServiceSettings`
(`TREASURY_RATE_LIMIT_REBALANCES_PER_MINUTE`, `TREASURY_RATE_LIMIT_MUTATIONS_PER_MINUTE`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address

from entrypoints.api.auth import TokenRegistry
from entrypoints.settings.service import ServiceSettings

# Route handlers that run a decision cycle carry this key in their `opt`.
RUNS_CYCLE = "runs_cycle"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiLimits:
    """How many requests one caller may make per minute."""

    rebalances_per_minute: int
    mutations_per_minute: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ApiLimits:
        """The limits the service settings configure."""
        return cls(
            rebalances_per_minute=settings.rate_limit_rebalances_per_minute,
            mutations_per_minute=settings.rate_limit_mutations_per_minute,
        )


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The bearer token of a request, if it sends one."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller_of(request: Request[Any, Any, Any]) -> str:
    """Whose allowance a request uses: a digest of its valid token (never the token itself),
    else its address (so made-up tokens cannot each open a fresh allowance)."""
    token = bearer_token(request)
    registry: TokenRegistry = request.app.state.tokens
    if token and registry.authenticate(token) is not None:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    return "address:" + get_remote_address(request)


def _mutates(request: Request[Any, Any, Any]) -> bool:
    return request.method in MUTATING_METHODS


def _runs_cycle(request: Request[Any, Any, Any]) -> bool:
    return bool(request.scope["route_handler"].opt.get(RUNS_CYCLE))


def _mutation_key(request: Request[Any, Any, Any]) -> str:
    return "mutation:" + caller_of(request)


def _cycle_key(request: Request[Any, Any, Any]) -> str:
    return "cycle:" + caller_of(request)


def rate_limit_middleware(limits: ApiLimits) -> list[DefineMiddleware]:
    """The app-wide middleware enforcing `limits`."""
    mutations = RateLimitConfig(
        rate_limit=("minute", limits.mutations_per_minute),
        identifier_for_request=_mutation_key,
        check_throttle_handler=_mutates,
    )
    cycles = RateLimitConfig(
        rate_limit=("minute", limits.rebalances_per_minute),
        identifier_for_request=_cycle_key,
        check_throttle_handler=_runs_cycle,
    )
    return [mutations.middleware, cycles.middleware]
