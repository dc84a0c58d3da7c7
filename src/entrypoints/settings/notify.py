"""Notification settings (env prefix `TREASURY_`) and the dispatcher they describe.

Each channel is optional and switched on by its URL or token; several may be active at once:

- `TREASURY_WEBHOOK_URL` + `TREASURY_WEBHOOK_SECRET`: generic JSON webhook, HMAC-SHA256 signed.
- `TREASURY_SLACK_WEBHOOK_URL`: a Slack incoming webhook.
- `TREASURY_TELEGRAM_BOT_TOKEN` + `TREASURY_TELEGRAM_CHAT_ID` (+ `TREASURY_TELEGRAM_BASE_URL`,
  default https://api.telegram.org): Telegram Bot API sendMessage.

Per channel, `TREASURY_<CHANNEL>_KINDS` (comma-separated event kinds; empty means all) and
`TREASURY_<CHANNEL>_MIN_SEVERITY` (info, warning, critical) choose what it receives.
`TREASURY_NOTIFY_DEDUP_WINDOW_S` (default 600) drops repeats; `TREASURY_NOTIFY_ATTEMPTS`
(default 5) and `TREASURY_NOTIFY_TIMEOUT_S` (default 10) bound each delivery.
URLs, tokens and the HMAC key are secrets: SecretStr here, registered for log redaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.notify.dispatcher import NotificationDispatcher, RetryPolicy, Route
from adapters.notify.slack import SlackChannel
from adapters.notify.telegram import DEFAULT_BASE_URL, TelegramChannel
from adapters.notify.webhook import WebhookChannel
from application.ports.clock import Clock
from application.ports.notify import DeliveryLog, EventKind, EventSeverity
from entrypoints.logging_setup import register_secrets

KIND_NAMES = ", ".join(k.value for k in EventKind)


def parse_kinds(text: str) -> frozenset[EventKind] | None:
    """`"approval_pending, execution_failed"` -> those kinds; empty -> None (all kinds).

    Raises:
        ValueError: an unknown kind.
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        return None
    unknown = [n for n in names if n not in {k.value for k in EventKind}]
    if unknown:
        raise ValueError(f"unknown event kinds {unknown}; known: {KIND_NAMES}")
    return frozenset(EventKind(n) for n in names)


def _secret(value: SecretStr | None) -> str | None:
    if value is None or not value.get_secret_value().strip():
        return None
    return value.get_secret_value().strip()


class NotifySettings(BaseSettings):
    """Which notification channels are on, and what each receives."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    webhook_url: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    webhook_kinds: str = ""
    webhook_min_severity: EventSeverity = EventSeverity.INFO

    slack_webhook_url: SecretStr | None = None
    slack_kinds: str = ""
    slack_min_severity: EventSeverity = EventSeverity.INFO

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_base_url: str = DEFAULT_BASE_URL
    telegram_kinds: str = ""
    telegram_min_severity: EventSeverity = EventSeverity.INFO

    notify_dedup_window_s: float = Field(default=600, ge=0)
    notify_attempts: int = Field(default=5, ge=1, le=20)
    notify_timeout_s: float = Field(default=10, gt=0, le=120)

    @field_validator("webhook_kinds", "slack_kinds", "telegram_kinds")
    @classmethod
    def _known_kinds(cls, value: str) -> str:
        parse_kinds(value)
        return value

    @model_validator(mode="after")
    def _complete_channels(self) -> NotifySettings:
        if _secret(self.webhook_url) and not _secret(self.webhook_secret):
            raise ValueError(
                "TREASURY_WEBHOOK_SECRET is required with TREASURY_WEBHOOK_URL: receivers "
                "verify the X-Treasury-Signature HMAC with it"
            )
        if bool(_secret(self.telegram_bot_token)) != bool(self.telegram_chat_id):
            raise ValueError(
                "set both TREASURY_TELEGRAM_BOT_TOKEN and TREASURY_TELEGRAM_CHAT_ID, or neither"
            )
        return self

    @property
    def dedup_window(self) -> timedelta:
        """How long a repeat of the same event is dropped."""
        return timedelta(seconds=self.notify_dedup_window_s)

    def secrets(self) -> list[str]:
        """Every secret value, for log redaction."""
        values = (
            self.webhook_url,
            self.webhook_secret,
            self.slack_webhook_url,
            self.telegram_bot_token,
        )
        return [s for s in (_secret(v) for v in values) if s]

    def routes(self, client: httpx.AsyncClient, clock: Clock | None = None) -> list[Route]:
        """The configured channels with their filters."""
        routes: list[Route] = []
        timeout = self.notify_timeout_s
        webhook_url = _secret(self.webhook_url)
        if webhook_url:
            channel = WebhookChannel(
                url=webhook_url,
                secret=_secret(self.webhook_secret),
                client=client,
                clock=clock,
                timeout_s=timeout,
            )
            routes.append(
                Route(
                    channel=channel,
                    kinds=parse_kinds(self.webhook_kinds),
                    min_severity=self.webhook_min_severity,
                )
            )
        slack_url = _secret(self.slack_webhook_url)
        if slack_url:
            routes.append(
                Route(
                    channel=SlackChannel(webhook_url=slack_url, client=client, timeout_s=timeout),
                    kinds=parse_kinds(self.slack_kinds),
                    min_severity=self.slack_min_severity,
                )
            )
        token = _secret(self.telegram_bot_token)
        if token and self.telegram_chat_id:
            routes.append(
                Route(
                    channel=TelegramChannel(
                        bot_token=token,
                        chat_id=self.telegram_chat_id,
                        client=client,
                        base_url=self.telegram_base_url,
                        timeout_s=timeout,
                    ),
                    kinds=parse_kinds(self.telegram_kinds),
                    min_severity=self.telegram_min_severity,
                )
            )
        return routes


def build_dispatcher(
    settings: NotifySettings,
    *,
    client: httpx.AsyncClient,
    delivery_log: DeliveryLog,
    clock: Clock,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> NotificationDispatcher:
    """The Notifier for these settings (no channel configured: a dispatcher that sends
    nothing). Registers every secret with the log redaction first."""
    register_secrets(settings.secrets())
    return NotificationDispatcher(
        settings.routes(client, clock),
        delivery_log,
        clock,
        dedup_window=settings.dedup_window,
        retry=retry or RetryPolicy(attempts=settings.notify_attempts),
        sleep=sleep,
    )
