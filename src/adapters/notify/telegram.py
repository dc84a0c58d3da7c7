"""Telegram Bot API `sendMessage`: POST `{base}/bot<token>/sendMessage` with JSON
`{"chat_id", "text", "parse_mode": "HTML", "link_preview_options": {"is_disabled": true}}`.

Telegram answers `{"ok": true, "result": {...}}`, or `{"ok": false, "error_code": N,
"description": "..."}`; a 429 carries `parameters.retry_after` (seconds), which is honoured.
The token is part of the URL, so it is a secret in every message and log: errors name the
channel and Telegram's description only, and httpx's request log is scrubbed.

Telegram counts its 4096-character limit on the text after entity parsing (what the reader
sees, in UTF-16 code units), so a long message is cut in its text: never inside an HTML entity
or tag, with an ellipsis, and with every open tag closed.
"""

from __future__ import annotations

import html
import json
import re
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
ELLIPSIS = "…"
# One piece of Telegram HTML: a tag, an entity, or a run of plain text.
_PIECE = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_ANY_TAG = re.compile(r"<[^<>]*>")


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(text: str) -> int:
    """The length of Telegram HTML once parsed: tags dropped, entities decoded."""
    return _units(html.unescape(_ANY_TAG.sub("", text)))


def fit_html(text: str, limit: int = TEXT_LIMIT) -> str:
    """Telegram HTML cut so its visible text is at most `limit`: cut in text only, ended with an
    ellipsis, open tags closed. Text that fits is returned unchanged."""
    if visible_length(text) <= limit:
        return text
    budget = limit - _units(ELLIPSIS)
    out: list[str] = []
    open_tags: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece.startswith("<") and piece.endswith(">") and len(piece) > 1:
            name = _TAG_NAME.match(piece)
            if name is not None:
                if piece.startswith("</"):
                    if open_tags and open_tags[-1] == name.group(1):
                        open_tags.pop()
                elif not piece.endswith("/>"):
                    open_tags.append(name.group(1))
            out.append(piece)
            continue
        seen = html.unescape(piece) if piece.startswith("&") else piece
        cost = _units(seen)
        if cost <= budget:
            out.append(piece)
            budget -= cost
            continue
        if not piece.startswith("&"):  # an entity is whole or absent; text may be split
            kept = ""
            for char in piece:
                if _units(kept + char) > budget:
                    break
                kept += char
            out.append(kept)
        break
    out.append(ELLIPSIS)
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return "".join(out)


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
        if visible_length(text + anchor) > TEXT_LIMIT:
            break
        text += anchor
    return fit_html(text)


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
