"""One GET helper for the protocol HTTP APIs: errors translated once, numbers as Decimal."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from application.ports.chain import ProtocolUnavailable


async def get_json(
    client: httpx.AsyncClient,
    source: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET `url` and parse JSON with Decimal floats.

    Raises:
        ProtocolUnavailable: transport failure, 429 or 5xx (transient); other 4xx or a body
            that is not JSON (permanent). The message quotes the API's description, never
            request headers.
    """
    try:
        response = await client.get(url, params=dict(params or {}), headers=dict(headers or {}))
    except httpx.TimeoutException as exc:
        raise ProtocolUnavailable(source, "timed out") from exc
    except httpx.HTTPError as exc:
        raise ProtocolUnavailable(source, f"unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        detail = _error_detail(response)
        permanent = response.status_code < 500 and response.status_code != 429
        raise ProtocolUnavailable(
            source, f"HTTP {response.status_code}: {detail}", permanent=permanent
        )
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError as exc:
        raise ProtocolUnavailable(source, "answer is not JSON", permanent=True) from exc


def _error_detail(response: httpx.Response) -> str:
    try:
        body = json.loads(response.text)
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, dict):
        for key in ("description", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:300]
    return response.reason_phrase or "error"
