"""`treasury notify test` against loopback fakes and a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from adapters.notify.dispatcher import ChannelHealthProbe
from adapters.persistence import migrate
from adapters.persistence.deliveries import SqlDeliveryLog
from adapters.persistence.engine import create_engine
from entrypoints.cli.main import app
from tests.integration.notify.fake_services import FakeService, Reply

runner = CliRunner()
TOKEN = "987654321:AAFakeTokenForTheCliTest_abcdefghij"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in (
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "SLACK_WEBHOOK_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_CHAT_ID",
        "DATABASE_URL",
    ):
        monkeypatch.delenv(f"TREASURY_{key}", raising=False)
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREASURY_DB_AUTO_UPGRADE", "true")
    return tmp_path


def test_notify_test_sends_to_every_channel_and_reports_each(
    env: Path,
    service: FakeService,
    second_service: FakeService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    second_service.default = Reply(body=b'{"ok":true,"result":{"message_id":1}}')
    monkeypatch.setenv("TREASURY_WEBHOOK_URL", f"{service.url}/hook")
    monkeypatch.setenv("TREASURY_WEBHOOK_SECRET", "cli-webhook-secret")
    monkeypatch.setenv("TREASURY_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TREASURY_TELEGRAM_CHAT_ID", "42")
    monkeypatch.setenv("TREASURY_TELEGRAM_BASE_URL", second_service.url)
    result = runner.invoke(app, ["notify", "test"])
    assert result.exit_code == 0, result.output
    assert "webhook" in result.output
    assert "telegram" in result.output
    assert result.output.count("sent") == 2
    assert TOKEN not in result.output
    assert json.loads(service.requests[0].body)["kind"] == "test"
    assert second_service.requests[0].path == f"/bot{TOKEN}/sendMessage"

    async def health() -> str:
        engine = create_engine(f"sqlite+aiosqlite:///{env / 'treasury.db'}")
        try:
            probe = ChannelHealthProbe("telegram", SqlDeliveryLog(engine))
            return (await probe.check()).detail
        finally:
            await engine.dispose()

    assert "last sent test" in asyncio.run(health())


def test_notify_test_fails_for_a_channel_that_is_down(
    env: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREASURY_SLACK_WEBHOOK_URL", closed_port_url)
    result = runner.invoke(app, ["notify", "test", "--channel", "slack", "--timeout", "20"])
    assert result.exit_code == 1
    assert "failed" in result.output
    assert "could not connect" in result.output


def test_notify_test_names_the_settings_when_nothing_is_configured(env: Path) -> None:
    result = runner.invoke(app, ["notify", "test"])
    assert result.exit_code == 1
    assert "TREASURY_SLACK_WEBHOOK_URL" in result.output


def test_notify_test_refuses_an_unknown_channel(
    env: Path, service: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREASURY_SLACK_WEBHOOK_URL", service.url)
    result = runner.invoke(app, ["notify", "test", "--channel", "pager"])
    assert result.exit_code == 1
    assert "configured: slack" in result.output
    assert service.requests == []


async def test_the_schema_head_includes_the_delivery_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'head.db'}")
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            names = await connection.run_sync(
                lambda sync: set(sqlalchemy.inspect(sync).get_table_names())
            )
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
    assert "notification_deliveries" in names
