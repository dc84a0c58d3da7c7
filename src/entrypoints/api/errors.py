"""One table from domain and application errors to HTTP answers: JSON, no stack traces."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from adapters.persistence.errors import DatabaseUnavailable
from application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    CycleBusy,
    EmergencyStopActive,
    ExecutionRefused,
    MarketDataUnavailable,
    NotFound,
    NotLeader,
    PermanentError,
    TransientError,
)
from application.performance import PerformanceHistoryTooShort
from application.ports.owners import OwnersMustSign, ProposalChanged, SignatureRefused
from domain.errors import DecisionNotPending, DomainError, InvalidValue, PlanInfeasible

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (DatabaseUnavailable, 503),
    (NotFound, 404),
    (DecisionNotPending, 409),
    (SignatureRefused, 400),
    (OwnersMustSign, 409),
    (ProposalChanged, 409),
    (ConcurrencyConflict, 409),
    (CycleBusy, 409),
    (NotLeader, 503),
    (ExecutionRefused, 409),
    (EmergencyStopActive, 409),
    (PerformanceHistoryTooShort, 422),
    (InvalidValue, 400),
    (PlanInfeasible, 503),
    (MarketDataUnavailable, 500),
    (TransientError, 503),
    (PermanentError, 500),
    (DomainError, 400),
)


def status_for(exc: Exception) -> int:
    """The HTTP status for an error (500 when nothing in the table matches)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def known_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Answer a domain or application error with its status and message."""
    status = status_for(exc)
    if status >= 500:
        log.warning("request failed", extra={"error_type": type(exc).__name__, "error": str(exc)})
    return Response({"error": str(exc), "type": type(exc).__name__}, status_code=status)


def http_error_handler(
    _: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, object]]:
    """Answer Litestar's own errors (401, 403, 400 validation, 415, 429) as JSON with a clear
    message; a 429 says when to retry (`Retry-After`, from the rate limiter's reset)."""
    body: dict[str, object] = {"error": exc.detail, "type": type(exc).__name__}
    extra = getattr(exc, "extra", None)
    if extra:
        body["details"] = extra
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == HTTP_429_TOO_MANY_REQUESTS:
        retry_after = max(1, int(headers.get("RateLimit-Reset", "60")))
        headers["Retry-After"] = str(retry_after)
        body["error"] = (
            f"too many requests: at most {headers.get('RateLimit-Limit', 'a few')} a minute "
            f"for this token; retry after {retry_after} s"
        )
    return Response(body, status_code=exc.status_code, headers=headers or None)


def unexpected_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Anything else: logged with its type, answered without internals."""
    log.error("unexpected error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return Response({"error": "internal error", "type": "InternalError"}, status_code=500)


EXCEPTION_HANDLERS = {
    DomainError: known_error_handler,
    ApplicationError: known_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
