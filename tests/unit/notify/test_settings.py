"""Notification settings: channels from the environment, filters validated, secrets hidden."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from application.ports.notify import EventKind, EventSeverity
from entrypoints.settings.notify import NotifySettings, parse_kinds

TOKEN = "555000111:AAsettingsTestTokenValue_xyz"
SLACK = "https://hooks.slack.com/services/T1/B2/settingsSecretPath"
HMAC = "settings-hmac-key"
ENV_KEYS = (
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_KINDS",
    "SLACK_WEBHOOK_URL",
    "SLACK_MIN_SEVERITY",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
    "TELEGRAM_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(f"TREASURY_{key}", raising=False)


def test_no_settings_means_no_channels() -> None:
    assert NotifySettings().routes(httpx.AsyncClient()) == []


def test_every_configured_channel_becomes_a_route_with_its_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_WEBHOOK_URL", "https://receiver.example.org/hook")
    monkeypatch.setenv("TREASURY_WEBHOOK_SECRET", HMAC)
    monkeypatch.setenv("TREASURY_WEBHOOK_KINDS", "approval_pending, execution_failed")
    monkeypatch.setenv("TREASURY_SLACK_WEBHOOK_URL", SLACK)
    monkeypatch.setenv("TREASURY_SLACK_MIN_SEVERITY", "critical")
    monkeypatch.setenv("TREASURY_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TREASURY_TELEGRAM_CHAT_ID", "42")
    routes = NotifySettings().routes(httpx.AsyncClient())
    assert [r.channel.name for r in routes] == ["webhook", "slack", "telegram"]
    assert routes[0].kinds == {EventKind.APPROVAL_PENDING, EventKind.EXECUTION_FAILED}
    assert routes[1].min_severity is EventSeverity.CRITICAL
    assert routes[2].kinds is None


def test_secrets_never_appear_in_the_settings_repr_or_the_channels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_WEBHOOK_URL", "https://receiver.example.org/hook?k=abc123456")
    monkeypatch.setenv("TREASURY_WEBHOOK_SECRET", HMAC)
    monkeypatch.setenv("TREASURY_SLACK_WEBHOOK_URL", SLACK)
    monkeypatch.setenv("TREASURY_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TREASURY_TELEGRAM_CHAT_ID", "42")
    settings = NotifySettings()
    shown = repr(settings) + str(settings) + repr(settings.routes(httpx.AsyncClient()))
    for secret in (TOKEN, SLACK, HMAC, "abc123456"):
        assert secret not in shown
    assert set(settings.secrets()) >= {TOKEN, SLACK, HMAC}


def test_a_webhook_without_its_hmac_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_WEBHOOK_URL", "https://receiver.example.org/hook")
    with pytest.raises(ValidationError, match="TREASURY_WEBHOOK_SECRET is required"):
        NotifySettings()


def test_a_telegram_token_without_a_chat_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_TELEGRAM_BOT_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="TREASURY_TELEGRAM_CHAT_ID") as caught:
        NotifySettings()
    assert TOKEN not in str(caught.value)


def test_an_unknown_event_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown event kinds \\['aproval'\\]; known: approval_pending"
    ):
        parse_kinds("aproval")
    assert parse_kinds(" ") is None
