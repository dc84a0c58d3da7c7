"""Each channel against a loopback fake of its service: the exact request shape, the signature,
retries on 5xx and 429, and a channel that is down delaying nothing."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from datetime import timedelta

import httpx
import pytest

from adapters.notify.dispatcher import NotificationDispatcher, RetryPolicy, Route
from adapters.notify.slack import SlackChannel
from adapters.notify.telegram import TelegramChannel
from adapters.notify.transport import DeliveryFailed, DeliveryRejected
from adapters.notify.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify_signature,
)
from adapters.persistence.deliveries import InMemoryDeliveryLog
from application.ports.notify import DeliveryOutcome, EventKind
from tests.fakes.treasury import FixedClock
from tests.integration.notify.fake_services import FakeService, Reply
from tests.unit.notify.samples import AT, sample_event

SECRET = "whsec-3f9a0c2b7d"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0)


class SleepRecorder:
    """Back-off sleeps, recorded and skipped (the waits chosen are the outcome under test)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def outcomes(log: InMemoryDeliveryLog, channel: str) -> list[DeliveryOutcome]:
    return [r.outcome for r in log.records if r.channel == channel]


async def test_the_webhook_posts_the_event_as_json_with_a_signature_the_receiver_can_verify(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    clock = FixedClock(AT)
    channel = WebhookChannel(url=f"{service.url}/hook", secret=SECRET, client=client, clock=clock)
    status = await channel.send(sample_event())
    assert status == 200
    [request] = service.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-treasury-event"] == "approval_pending"
    payload = json.loads(request.body)
    assert payload["kind"] == "approval_pending"
    assert payload["severity"] == "warning"
    assert payload["fields"]["Decision"] == "dec-1"
    assert payload["links"] == [
        {"label": "Open in dashboard", "url": "http://127.0.0.1:8600/#decision-dec-1"}
    ]
    assert payload["occurred_at"] == "2026-03-02T12:00:00+00:00"
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert timestamp == str(int(AT.timestamp()))
    assert signature.startswith("sha256=")
    assert verify_signature(
        SECRET, timestamp=timestamp, body=request.body, signature=signature, now=AT
    )


async def test_a_webhook_signature_fails_for_a_changed_body_a_wrong_key_or_a_replay(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    channel = WebhookChannel(url=service.url, secret=SECRET, client=client, clock=FixedClock(AT))
    await channel.send(sample_event())
    [request] = service.requests
    ts = request.headers["x-treasury-timestamp"]
    sig = request.headers["x-treasury-signature"]
    tampered = request.body.replace(b"160,000", b"960,000")
    assert not verify_signature(SECRET, timestamp=ts, body=tampered, signature=sig, now=AT)
    assert not verify_signature("other-key", timestamp=ts, body=request.body, signature=sig, now=AT)
    later = AT + timedelta(minutes=6)
    assert not verify_signature(SECRET, timestamp=ts, body=request.body, signature=sig, now=later)
    new_ts = str(int(later.timestamp()))
    assert not verify_signature(
        SECRET, timestamp=new_ts, body=request.body, signature=sig, now=later
    )


async def test_slack_receives_text_and_blocks_in_the_incoming_webhook_shape(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    channel = SlackChannel(webhook_url=f"{service.url}/services/T000/B000/XXXX", client=client)
    assert await channel.send(sample_event()) == 200
    [request] = service.requests
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["content-type"].startswith("application/json")
    payload = request.json()
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == "[warning] Approval needed: rebalance moving up to $160,000.00"
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["header", "section", "section", "actions", "context"]
    header, body, fields, actions, _ = payload["blocks"]
    assert header["text"] == {
        "type": "plain_text",
        "text": "Approval needed: rebalance moving up to $160,000.00",
        "emoji": True,
    }
    assert body["text"]["type"] == "mrkdwn"
    assert "&lt;limit&gt; &amp; more" in body["text"]["text"]
    assert {"type": "mrkdwn", "text": "*Decision*\ndec-1"} in fields["fields"]
    assert actions["elements"] == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in dashboard"},
            "url": "http://127.0.0.1:8600/#decision-dec-1",
        }
    ]


async def test_slack_refusing_the_payload_is_a_permanent_rejection(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    service.script.append(Reply(status=400, body=b"invalid_payload"))
    channel = SlackChannel(webhook_url=service.url, client=client)
    with pytest.raises(DeliveryRejected, match="HTTP 400: invalid_payload"):
        await channel.send(sample_event())


async def test_telegram_calls_send_message_with_chat_id_html_text_and_parse_mode(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    service.default = Reply(body=b'{"ok":true,"result":{"message_id":7}}')
    channel = TelegramChannel(
        bot_token=TOKEN, chat_id="-1001234567890", client=client, base_url=service.url
    )
    assert await channel.send(sample_event()) == 200
    [request] = service.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    payload = request.json()
    assert payload["chat_id"] == "-1001234567890"
    assert payload["parse_mode"] == "HTML"
    assert payload["link_preview_options"] == {"is_disabled": True}
    text = payload["text"]
    assert "<b>Approval needed: rebalance moving up to $160,000.00</b>" in text
    assert "&lt;limit&gt; &amp; more" in text
    assert "<b>Decision:</b> dec-1" in text
    assert '<a href="http://127.0.0.1:8600/#decision-dec-1">Open in dashboard</a>' in text
    assert len(text) <= 4096
    assert html.unescape(text).count("$160,000.00") >= 2


async def test_telegram_errors_carry_its_description_and_never_the_token(
    service: FakeService, client: httpx.AsyncClient
) -> None:
    service.script.append(
        Reply(
            status=400,
            body=b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}',
        )
    )
    channel = TelegramChannel(bot_token=TOKEN, chat_id="42", client=client, base_url=service.url)
    with pytest.raises(DeliveryRejected) as caught:
        await channel.send(sample_event())
    assert "chat not found" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(channel)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(status=500, body=b"boom"), id="500"),
        pytest.param(Reply(status=502, body=b"bad gateway"), id="502"),
        pytest.param(Reply(status=503, body=b"unavailable"), id="503"),
    ],
)
async def test_server_errors_are_retried_until_delivered(
    service: FakeService,
    client: httpx.AsyncClient,
    delivery_log: InMemoryDeliveryLog,
    reply: Reply,
) -> None:
    service.script.extend([reply, reply])
    channel = WebhookChannel(url=service.url, secret=SECRET, client=client)
    dispatcher = NotificationDispatcher(
        [Route(channel=channel)], delivery_log, FixedClock(AT), retry=FAST
    )
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert len(service.requests) == 3
    assert outcomes(delivery_log, "webhook") == [
        DeliveryOutcome.RETRYING,
        DeliveryOutcome.RETRYING,
        DeliveryOutcome.SENT,
    ]
    first = delivery_log.records[0]
    assert first.status_code == reply.status
    assert f"HTTP {reply.status}" in (first.detail or "")
    assert delivery_log.records[-1].attempt == 3


async def test_a_429_is_retried_after_the_wait_slack_asks_for(
    service: FakeService, client: httpx.AsyncClient, delivery_log: InMemoryDeliveryLog
) -> None:
    service.script.append(Reply(status=429, body=b"rate_limited", headers={"Retry-After": "2"}))
    sleeps = SleepRecorder()
    dispatcher = NotificationDispatcher(
        [Route(channel=SlackChannel(webhook_url=service.url, client=client))],
        delivery_log,
        FixedClock(AT),
        retry=FAST,
        sleep=sleeps,
    )
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert sleeps.waits == [2.0]
    assert len(service.requests) == 2
    assert outcomes(delivery_log, "slack") == [DeliveryOutcome.RETRYING, DeliveryOutcome.SENT]
    assert delivery_log.records[0].status_code == 429


async def test_a_telegram_429_honours_its_retry_after_parameter(
    service: FakeService, client: httpx.AsyncClient, delivery_log: InMemoryDeliveryLog
) -> None:
    service.script.append(
        Reply(
            status=429,
            body=b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3",'
            b'"parameters":{"retry_after":3}}',
        )
    )
    service.default = Reply(body=b'{"ok":true,"result":{"message_id":8}}')
    sleeps = SleepRecorder()
    channel = TelegramChannel(bot_token=TOKEN, chat_id="42", client=client, base_url=service.url)
    dispatcher = NotificationDispatcher(
        [Route(channel=channel)], delivery_log, FixedClock(AT), retry=FAST, sleep=sleeps
    )
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert sleeps.waits == [3.0]
    assert outcomes(delivery_log, "telegram") == [DeliveryOutcome.RETRYING, DeliveryOutcome.SENT]


async def test_retries_are_bounded_and_the_final_failure_is_recorded_with_its_reason(
    service: FakeService, client: httpx.AsyncClient, delivery_log: InMemoryDeliveryLog
) -> None:
    service.default = Reply(status=503, body=b"down for maintenance")
    channel = WebhookChannel(url=service.url, secret=SECRET, client=client)
    dispatcher = NotificationDispatcher(
        [Route(channel=channel)], delivery_log, FixedClock(AT), retry=FAST
    )
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert len(service.requests) == FAST.attempts
    assert outcomes(delivery_log, "webhook") == [DeliveryOutcome.RETRYING] * 3 + [
        DeliveryOutcome.FAILED
    ]
    final = delivery_log.records[-1]
    assert final.attempt == 4
    assert final.detail == "gave up after 4 attempt(s): webhook: HTTP 503: down for maintenance"
    health = await dispatcher.probes()[0].check()
    assert health.status.value == "degraded"
    assert "down for maintenance" in health.detail


async def test_a_rejected_delivery_is_not_retried(
    service: FakeService, client: httpx.AsyncClient, delivery_log: InMemoryDeliveryLog
) -> None:
    service.default = Reply(status=404, body=b"no_service")
    dispatcher = NotificationDispatcher(
        [Route(channel=SlackChannel(webhook_url=service.url, client=client))],
        delivery_log,
        FixedClock(AT),
        retry=FAST,
    )
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert len(service.requests) == 1
    assert outcomes(delivery_log, "slack") == [DeliveryOutcome.FAILED]
    assert delivery_log.records[0].status_code == 404


async def test_a_channel_that_is_down_delays_nothing_and_is_recorded_as_failed(
    service: FakeService,
    second_service: FakeService,
    client: httpx.AsyncClient,
    delivery_log: InMemoryDeliveryLog,
    closed_port_url: str,
) -> None:
    second_service.default = Reply(hang_s=30)  # a service that accepts and never answers
    routes = [
        Route(channel=WebhookChannel(url=closed_port_url, secret=SECRET, client=client)),
        Route(
            channel=TelegramChannel(
                bot_token=TOKEN,
                chat_id="42",
                client=client,
                base_url=second_service.url,
                timeout_s=0.3,
            )
        ),
        Route(channel=SlackChannel(webhook_url=service.url, client=client)),
    ]
    retry = RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.01, jitter_s=0)
    dispatcher = NotificationDispatcher(routes, delivery_log, FixedClock(AT), retry=retry)
    started = time.perf_counter()
    for i in range(20):
        dispatcher.publish(sample_event(dedup_key=f"k{i}"))
    assert time.perf_counter() - started < 0.05  # publishing only enqueues
    for _ in range(100):  # the healthy channel is served while the others fail
        if len(service.requests) >= 1:
            break
        await asyncio.sleep(0.01)
    assert len(service.requests) >= 1
    assert len(second_service.requests) <= 2
    await dispatcher.aclose(timeout_s=1.0)
    assert outcomes(delivery_log, "slack").count(DeliveryOutcome.SENT) == 20
    webhook = [r for r in delivery_log.records if r.channel == "webhook"]
    assert [r.outcome for r in webhook if r.outcome is DeliveryOutcome.FAILED]
    assert "could not connect" in (webhook[0].detail or "")
    telegram = [r for r in delivery_log.records if r.channel == "telegram"]
    assert telegram[0].detail == "telegram: timed out after 0.3 s"
    # Whatever was still queued at shutdown is recorded, not lost.
    assert {r.dedup_key for r in telegram if r.outcome is DeliveryOutcome.FAILED} == {
        f"k{i}" for i in range(20)
    }


async def test_secrets_never_reach_the_logs(
    service: FakeService,
    client: httpx.AsyncClient,
    delivery_log: InMemoryDeliveryLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):  # the service quiets httpx; this test wants every line
        caplog.set_level(logging.DEBUG, logger=name)
    service.default = Reply(status=503, body=b"unavailable")
    slack_url = f"{service.url}/services/T0001/B0001/Zx9SECRETslackPATH"
    routes = [
        Route(channel=WebhookChannel(url=f"{service.url}/hook", secret=SECRET, client=client)),
        Route(channel=SlackChannel(webhook_url=slack_url, client=client)),
        Route(
            channel=TelegramChannel(
                bot_token=TOKEN, chat_id="42", client=client, base_url=service.url
            )
        ),
    ]
    retry = RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.01, jitter_s=0)
    dispatcher = NotificationDispatcher(routes, delivery_log, FixedClock(AT), retry=retry)
    dispatcher.publish(sample_event(kind=EventKind.EXECUTION_FAILED))
    assert await dispatcher.drain(5)
    await dispatcher.aclose()
    assert "HTTP Request" in caplog.text  # httpx did log each request...
    for secret in (TOKEN, SECRET, "Zx9SECRETslackPATH"):  # ...with the secrets masked
        assert secret not in caplog.text
        assert all(secret not in (r.detail or "") for r in delivery_log.records)


async def test_channel_errors_name_the_channel_and_not_the_url(
    client: httpx.AsyncClient, closed_port_url: str
) -> None:
    channel = WebhookChannel(url=closed_port_url, secret=SECRET, client=client)
    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(sample_event())
    assert str(caught.value).startswith("webhook: could not connect")
    assert closed_port_url not in str(caught.value)
    assert caught.value.__cause__ is None
