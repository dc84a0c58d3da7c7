"""One HTTP POST to a notification service, with its failures translated once.

Timeouts, connection failures, 408, 429 and 5xx become `DeliveryFailed` (a retry may work; a
429's wait comes from Retry-After or the service's own hint); any other answer outside 2xx
becomes `DeliveryRejected` (fix the settings). Messages name the channel and the status, never
the URL: webhook URLs and bot tokens are secrets, and httpx's own request log is scrubbed of
them by `hide_in_http_logs`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from application.errors import PermanentError, TransientError
from application.ports.notify import Event

DEFAULT_TIMEOUT_S = 10.0
_DETAIL_LIMIT = 200
MASK = "***"


class DeliveryFailed(TransientError):
    """A notification could not be delivered now; a retry may work."""

    def __init__(
        self,
        channel: str,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.channel = channel
        self.reason = reason
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        super().__init__(f"{channel}: {reason}")


class DeliveryRejected(PermanentError):
    """The service refused the notification (bad URL, token or chat); retrying will not help."""

    def __init__(self, channel: str, reason: str, *, status_code: int | None = None) -> None:
        self.channel = channel
        self.reason = reason
        self.status_code = status_code
        super().__init__(f"{channel}: {reason}")


class Channel(Protocol):
    """One place notifications go (a webhook, a Slack channel, a Telegram chat)."""

    @property
    def name(self) -> str:
        """The channel's name in settings, records and `/health`."""
        ...

    async def send(self, event: Event) -> int:
        """Deliver one event; returns the HTTP status of the accepted request.

        Raises:
            DeliveryFailed: a retry may work (timeout, connection, 408, 429, 5xx).
            DeliveryRejected: the service refused it for good.
        """
        ...


class _SecretFilter(logging.Filter):
    """Replaces registered secrets in a log record's message (httpx logs every request URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = message
        for secret in self.secrets:
            scrubbed = scrubbed.replace(secret, MASK)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_HTTP_LOG_FILTER = _SecretFilter()
_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.http11", "httpcore.connection")


def hide_in_http_logs(secrets: Iterable[str | None]) -> None:
    """Mask these strings (URLs, tokens) wherever httpx or httpcore would log them."""
    _HTTP_LOG_FILTER.secrets.update(s for s in secrets if s and len(s) >= 6)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _HTTP_LOG_FILTER not in logger.filters:
            logger.addFilter(_HTTP_LOG_FILTER)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - (now or datetime.now(UTC))).total_seconds())


def short(text: str) -> str:
    """A response body cut to one short line for records."""
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_LIMIT else line[: _DETAIL_LIMIT - 1] + "…"


def classify(
    channel: str,
    response: httpx.Response,
    *,
    reason: str | None = None,
    retry_after_s: float | None = None,
) -> None:
    """Raise the typed error for a non-2xx answer; return for a 2xx.

    Raises:
        DeliveryFailed: 408, 429 or 5xx.
        DeliveryRejected: any other status outside 2xx.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    why = f"HTTP {status}" + (f": {reason}" if reason else "")
    if status == 429:
        wait = retry_after_s
        if wait is None:
            wait = retry_after_seconds(response.headers.get("retry-after"))
        raise DeliveryFailed(channel, why, status_code=status, retry_after_s=wait)
    if status == 408 or status >= 500:
        raise DeliveryFailed(channel, why, status_code=status)
    raise DeliveryRejected(channel, why, status_code=status)


async def post(
    client: httpx.AsyncClient,
    channel: str,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> httpx.Response:
    """POST `content`; return the response whatever its status.

    Raises:
        DeliveryFailed: the request timed out or could not connect.
    """
    try:
        return await client.post(url, content=content, headers=dict(headers), timeout=timeout_s)
    except httpx.TimeoutException:
        # `from None`: httpx exceptions carry the request, whose URL is a secret.
        raise DeliveryFailed(channel, f"timed out after {timeout_s:g} s") from None
    except httpx.TransportError as exc:
        raise DeliveryFailed(channel, f"could not connect ({type(exc).__name__})") from None
