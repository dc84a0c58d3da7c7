"""Generic webhook: the event as JSON, POSTed with an HMAC-SHA256 signature.

Signature scheme (documented in docs/notify.md):

- `X-Treasury-Timestamp`: Unix seconds when the request was signed.
- `X-Treasury-Signature`: `sha256=<hex>`, the HMAC-SHA256, keyed with the shared secret, of
  the bytes `<timestamp>.<raw body>`.

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body exactly as
received, compares in constant time, and refuses timestamps older than a few minutes, so a
captured request cannot be replayed later. `verify_signature` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.notify.transport import DEFAULT_TIMEOUT_S, classify, hide_in_http_logs, post, short
from application.ports.clock import Clock
from application.ports.notify import Event

SIGNATURE_HEADER = "X-Treasury-Signature"
TIMESTAMP_HEADER = "X-Treasury-Timestamp"
EVENT_HEADER = "X-Treasury-Event"
SCHEME = "sha256="
DEFAULT_TOLERANCE = timedelta(minutes=5)


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def event_payload(event: Event) -> dict[str, Any]:
    """The JSON document a webhook receives."""
    return {
        "kind": event.kind.value,
        "severity": event.severity.value,
        "title": event.title,
        "body": event.body,
        "fields": dict(event.fields),
        "links": [{"label": link.label, "url": link.url} for link in event.links],
        "dedup_key": event.dedup_key,
        "occurred_at": event.occurred_at.isoformat(),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if not timestamp.isdigit():
        return False
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    """POSTs signed JSON to one URL. Without a secret the request is sent unsigned."""

    def __init__(
        self,
        *,
        url: str,
        secret: str | None,
        client: httpx.AsyncClient,
        name: str = "webhook",
        clock: Clock | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._name = name
        self._url = url
        self._secret = secret or None
        self._client = client
        self._clock: Clock = clock or _UtcClock()
        self._timeout_s = timeout_s
        hide_in_http_logs([url])

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self._name!r}, signed={self._secret is not None})"

    async def send(self, event: Event) -> int:
        """POST the event.

        Raises:
            DeliveryFailed: timeout, connection failure, 408, 429 or 5xx.
            DeliveryRejected: any other non-2xx answer.
        """
        body = json.dumps(event_payload(event), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "treasury-manager",
            EVENT_HEADER: event.kind.value,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        response = await post(
            self._client,
            self._name,
            self._url,
            content=body,
            headers=headers,
            timeout_s=self._timeout_s,
        )
        classify(self._name, response, reason=short(response.text) or None)
        return response.status_code
