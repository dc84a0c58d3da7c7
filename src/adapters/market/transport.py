"""One HTTP GET of JSON from a market service, with bounded retries and errors translated once.

Each source has a time budget (`TREASURY_MARKET_SOURCE_TIMEOUT_S`, default 4 s) that covers
every attempt and every back-off sleep, so a slow or hung service costs at most that long.
Timeouts, connection failures, 5xx, 408 and 429 are retried with exponential back-off and
jitter (tenacity); a 429's Retry-After is honoured when it fits in the budget, otherwise the
source gives up at once. Everything else (401/403, other 4xx, malformed JSON) fails at once.

API keys travel only in request headers, never in URLs, so no error message, log line or
repr can carry one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from adapters.market.errors import (
    MalformedPayload,
    SourceAuthFailed,
    SourceHttpError,
    SourceRateLimited,
    SourceTimedOut,
    SourceUnreachable,
)
from application.errors import MarketDataUnavailable

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

DEFAULT_ATTEMPTS = 3
BACKOFF_INITIAL_S = 0.2
BACKOFF_MAX_S = 1.0
BACKOFF_JITTER_S = 0.2
_DETAIL_LIMIT = 160


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, MarketDataUnavailable) and not exc.permanent


def parse_retry_after(value: str | None, now: datetime | None = None) -> Decimal | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delta = Decimal(str((when - (now or datetime.now(UTC))).total_seconds()))
        return max(delta, Decimal(0))
    if not seconds.is_finite():
        return None
    return max(seconds, Decimal(0))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _error_detail(response: httpx.Response) -> str:
    """A short, safe description from an error body (the services' message field, if any)."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ""
    message: object = None
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict):
            message = status.get("error_message")
        error = body.get("error")
        if isinstance(error, dict):  # JSON-RPC services (Deribit): {"error": {"message": ...}}
            error = error.get("message")
        message = message or body.get("msg") or error or body.get("message")
    if not isinstance(message, str):
        return ""
    return message[:_DETAIL_LIMIT]


def validation_summary(error: ValidationError) -> str:
    """The first problems of a pydantic validation error, without the offending input values."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_model(source: str, model: type[M], body: object) -> M:
    """Validate a decoded payload against a private model.

    Raises:
        MalformedPayload: missing fields or wrong types.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise MalformedPayload(source, validation_summary(exc)) from exc


class JsonGetter:
    """GETs JSON from one service through a shared httpx client, within a time budget."""

    def __init__(
        self,
        *,
        source: str,
        client: httpx.AsyncClient,
        base_url: str,
        budget_s: float,
        headers: Mapping[str, str] | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._budget_s = budget_s
        self._headers = {"accept": "application/json", **(headers or {})}
        self._attempts = attempts
        self._backoff = wait_exponential_jitter(
            multiplier=BACKOFF_INITIAL_S, max=BACKOFF_MAX_S, jitter=BACKOFF_JITTER_S
        )

    def __repr__(self) -> str:
        # Headers may carry an API key: never show them.
        return f"JsonGetter(source={self.source!r}, base_url={self.base_url!r})"

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, SourceRateLimited) and exc.retry_after is not None:
            return float(exc.retry_after)
        return float(self._backoff(state))

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `path` and decode its JSON body, numbers as Decimal.

        Raises:
            SourceTimedOut: no answer within the budget, after retries.
            SourceUnreachable: connection failures, after retries.
            SourceRateLimited: 429 after retries, or a Retry-After longer than the budget left.
            SourceAuthFailed: 401 or 403.
            SourceHttpError: other HTTP error statuses.
            MalformedPayload: the body is not JSON.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._budget_s
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts) | stop_before_delay(self._budget_s),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SourceTimedOut(self.source, self._budget_s)
                return await self._get_once(path, params, remaining)
        raise AssertionError(
            "unreachable: tenacity either returns or re-raises"
        )  # pragma: no cover

    async def _get_once(self, path: str, params: Mapping[str, str] | None, remaining: float) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            # httpx's timeout is per operation; asyncio.timeout bounds the whole exchange, so a
            # server trickling bytes cannot hold us past the budget either.
            async with asyncio.timeout(remaining):
                response = await self._client.get(
                    url, params=dict(params or {}), headers=self._headers, timeout=remaining
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            logger.info("market source timed out", extra={"source": self.source, "path": path})
            raise SourceTimedOut(self.source, self._budget_s) from exc
        except httpx.TransportError as exc:
            raise SourceUnreachable(self.source, f"{type(exc).__name__} on {path}") from exc
        return self._decode(response, path)

    def _decode(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        if status == 429:
            raise SourceRateLimited(
                self.source,
                parse_retry_after(response.headers.get("retry-after")),
                _error_detail(response),
            )
        if status in (401, 403):
            raise SourceAuthFailed(self.source, status, _error_detail(response))
        if status >= 400:
            raise SourceHttpError(self.source, status, _error_detail(response))
        if status != 200:
            raise SourceHttpError(self.source, status, f"unexpected status on {path}")
        try:
            return json.loads(response.content, parse_float=Decimal, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload(self.source, f"body of {path} is not JSON") from exc
