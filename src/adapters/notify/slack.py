"""Slack incoming webhook: `{"text": ..., "blocks": [...]}` POSTed to the webhook URL.

Slack answers 200 `ok`; errors come as plain-text codes (400 `invalid_payload`, 403
`action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`), 429 with
Retry-After, and 5xx. `text` is the notification fallback; the blocks carry a header, the
body, up to ten fields, link buttons and a context line. Text is escaped for mrkdwn (`&`, `<`,
`>`) and cut to Slack's block limits.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from adapters.notify.transport import DEFAULT_TIMEOUT_S, classify, hide_in_http_logs, post, short
from application.ports.notify import Event, EventSeverity

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BUTTONS = 25
BUTTON_TEXT_LIMIT = 75
URL_LIMIT = 3000
SEVERITY_MARK = {
    EventSeverity.INFO: ":information_source:",
    EventSeverity.WARNING: ":warning:",
    EventSeverity.CRITICAL: ":rotating_light:",
}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(event: Event) -> dict[str, Any]:
    """The message Slack's incoming webhook expects."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(event.title, HEADER_LIMIT), "emoji": True},
        }
    ]
    if event.body.strip():
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(escape(event.body), SECTION_LIMIT)},
            }
        )
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{escape(label)}*\n{escape(value)}", FIELD_LIMIT)}
        for label, value in list(event.fields.items())[:MAX_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(link.label, BUTTON_TEXT_LIMIT)},
            "url": link.url,
        }
        for link in event.links[:MAX_BUTTONS]
        if len(link.url) <= URL_LIMIT
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{SEVERITY_MARK[event.severity]} {event.severity.value} · "
                    f"{event.kind.value} · {event.occurred_at.strftime('%Y-%m-%d %H:%M UTC')}",
                }
            ],
        }
    )
    return {"text": escape(f"[{event.severity.value}] {event.title}"), "blocks": blocks}


class SlackChannel:
    """Posts to one Slack incoming-webhook URL (the URL is the secret)."""

    def __init__(
        self,
        *,
        webhook_url: str,
        client: httpx.AsyncClient,
        name: str = "slack",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._name = name
        self._url = webhook_url
        self._client = client
        self._timeout_s = timeout_s
        hide_in_http_logs([webhook_url])

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def __repr__(self) -> str:
        return f"SlackChannel(name={self._name!r})"

    async def send(self, event: Event) -> int:
        """Post the message.

        Raises:
            DeliveryFailed: timeout, connection failure, 408, 429 or 5xx.
            DeliveryRejected: Slack refused the payload, URL or channel.
        """
        body = json.dumps(slack_payload(event), ensure_ascii=False).encode()
        response = await post(
            self._client,
            self._name,
            self._url,
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout_s=self._timeout_s,
        )
        classify(self._name, response, reason=short(response.text) or None)
        return response.status_code
