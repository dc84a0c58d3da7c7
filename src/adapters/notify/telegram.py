"""Telegram Bot API `sendMessage`: POST `{base}/bot<token>/sendMessage` with JSON
`{"chat_id", "text", "parse_mode": "HTML", "link_preview_options": {"is_disabled": true}}`.

Telegram answers `{"ok": true, "result": {...}}`, or `{"ok": false, "error_code": N,
"description": "..."}`; a 429 carries `parameters.retry_after` (seconds), which is honoured.
The token is part of the URL, so it is a secret in every message and log: errors name the
channel and Telegram's description only, and httpx's request log is scrubbed.
"""

from __future__ import annotations

import html
import json
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from adapters.notify.transport import (
    DEFAULT_TIMEOUT_S,
    DeliveryRejected,
    classify,
    hide_in_http_logs,
    post,
    short,
)
from application.ports.notify import Event

DEFAULT_BASE_URL = "https://api.telegram.org"
TEXT_LIMIT = 4096
BODY_LIMIT = 2500
SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


class _Parameters(BaseModel):
    retry_after: int | None = None


class _Answer(BaseModel):
    ok: bool
    description: str | None = None
    error_code: int | None = None
    parameters: _Parameters | None = None


def telegram_text(event: Event) -> str:
    """The message as Telegram HTML: bold title, body, fields, links; within 4096 chars."""
    e = html.escape
    body = event.body if len(event.body) <= BODY_LIMIT else event.body[: BODY_LIMIT - 1] + "…"
    parts = [f"{SEVERITY_MARK[event.severity.value]} <b>{e(event.title, quote=False)}</b>"]
    if body.strip():
        parts.append(e(body, quote=False))
    if event.fields:
        parts.append(
            "\n".join(
                f"<b>{e(k, quote=False)}:</b> {e(v, quote=False)}" for k, v in event.fields.items()
            )
        )
    text = "\n\n".join(parts)
    for link in event.links:
        anchor = f'\n<a href="{e(link.url, quote=True)}">{e(link.label, quote=False)}</a>'
        if len(text) + len(anchor) > TEXT_LIMIT:
            break
        text += anchor
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT]


class TelegramChannel:
    """Sends to one chat through one bot."""

    def __init__(
        self,
        *,
        bot_token: str,
        chat_id: str,
        client: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        name: str = "telegram",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._name = name
        self._token = bot_token
        self._chat_id = chat_id
        self._client = client
        self._url = f"{base_url.rstrip('/')}/bot{bot_token}/sendMessage"
        self._timeout_s = timeout_s
        hide_in_http_logs([bot_token])

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def __repr__(self) -> str:
        return f"TelegramChannel(name={self._name!r}, chat_id={self._chat_id!r})"

    def payload(self, event: Event) -> dict[str, Any]:
        """The sendMessage request body."""
        return {
            "chat_id": self._chat_id,
            "text": telegram_text(event),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }

    async def send(self, event: Event) -> int:
        """Send the message.

        Raises:
            DeliveryFailed: timeout, connection failure, 429 (with retry_after) or 5xx.
            DeliveryRejected: Telegram refused it (bad token, unknown chat, bad markup).
        """
        body = json.dumps(self.payload(event), ensure_ascii=False).encode()
        response = await post(
            self._client,
            self._name,
            self._url,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout_s=self._timeout_s,
        )
        answer = self._answer(response)
        retry_after = None
        if answer is not None and answer.parameters is not None:
            retry_after = answer.parameters.retry_after
        reason = answer.description if answer is not None else short(response.text) or None
        classify(
            self._name,
            response,
            reason=reason,
            retry_after_s=float(retry_after) if retry_after is not None else None,
        )
        if answer is None or not answer.ok:
            raise DeliveryRejected(
                self._name,
                f"unexpected answer: {reason or 'not a Bot API response'}",
                status_code=response.status_code,
            )
        return response.status_code

    @staticmethod
    def _answer(response: httpx.Response) -> _Answer | None:
        try:
            return _Answer.model_validate(json.loads(response.content))
        except (ValueError, ValidationError):
            return None
