"""`treasury notify`: send a test message through the configured channels and show what the
delivery log recorded."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.table import Table

from adapters.notify.dispatcher import RetryPolicy
from adapters.persistence import migrate
from adapters.persistence.deliveries import SqlDeliveryLog
from adapters.persistence.engine import create_engine
from adapters.system import SystemClock
from application.notifications import channel_test_message
from application.ports.notify import DeliveryOutcome, DeliveryRecord
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.cli.output import console, run_async
from entrypoints.settings.database import DatabaseSettings
from entrypoints.settings.notify import NotifySettings, build_dispatcher

TEST_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.5, max_wait_s=5.0, max_retry_after_s=10.0)

notify_app = typer.Typer(
    help="Notifications (webhook, Slack, Telegram): send a test message.", no_args_is_help=True
)


async def send_test(
    settings: NotifySettings, database: DatabaseSettings, channel: str | None, timeout_s: float
) -> list[tuple[str, DeliveryRecord | None]]:
    """Send a test message to one channel or all; the final record of each (None: no answer
    within the timeout)."""
    engine = create_engine(database.resolved_database_url())
    try:
        await migrate.ensure_schema_current(engine, auto_upgrade=database.db_auto_upgrade)
        delivery_log = SqlDeliveryLog(engine)
        clock = SystemClock()
        async with httpx.AsyncClient() as client:
            dispatcher = build_dispatcher(
                settings, client=client, delivery_log=delivery_log, clock=clock, retry=TEST_RETRY
            )
            names = dispatcher.channel_names
            if not names:
                typer.echo(
                    "error: no notification channel is configured; set TREASURY_WEBHOOK_URL, "
                    "TREASURY_SLACK_WEBHOOK_URL or TREASURY_TELEGRAM_BOT_TOKEN",
                    err=True,
                )
                raise typer.Exit(ExitCode.FAILURE)
            if channel is not None and channel not in names:
                typer.echo(
                    f"error: no channel named {channel!r}; configured: {', '.join(names)}",
                    err=True,
                )
                raise typer.Exit(ExitCode.FAILURE)
            targets = [channel] if channel is not None else names
            now = clock.now()
            keys = {}
            for name in targets:
                event = channel_test_message(name, at=now)
                keys[name] = event.dedup_key
                dispatcher.publish_to(name, event)
            await dispatcher.drain(timeout_s)
            await dispatcher.aclose(0)
        results: list[tuple[str, DeliveryRecord | None]] = []
        for name in targets:
            records = [r for r in await delivery_log.recent(20, name) if r.dedup_key == keys[name]]
            results.append((name, records[0] if records else None))
        return results
    finally:
        await engine.dispose()


@notify_app.command("test")
def notify_test(
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Only this channel (webhook, slack or telegram)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the deliveries, retries included.")
    ] = 30.0,
) -> None:
    """Send a test message and report, per channel, whether it was delivered."""
    results = run_async(send_test(NotifySettings(), DatabaseSettings(), channel, timeout))
    table = Table(title="Notification test")
    for column in ("channel", "outcome", "attempts", "HTTP", "detail"):
        table.add_column(column)
    failed = False
    for name, record in results:
        if record is None:
            failed = True
            table.add_row(name, "no answer", "-", "-", f"nothing recorded within {timeout:g} s")
            continue
        failed = failed or record.outcome is not DeliveryOutcome.SENT
        table.add_row(
            name,
            record.outcome.value,
            str(record.attempt),
            str(record.status_code or "-"),
            record.detail or "",
        )
    console.print(table)
    if failed:
        raise typer.Exit(ExitCode.FAILURE)
