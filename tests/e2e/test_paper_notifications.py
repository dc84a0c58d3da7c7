"""Notifications end to end through the real paper service: a move above the approval limit
produces exactly one "pending approval" webhook, with the decision id, its dashboard link and
a signature the receiver can verify; the health endpoint shows the channel's last delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.notify.webhook import verify_signature
from tests.e2e.harness import OPERATOR, paper_server
from tests.integration.notify.fake_services import FakeService

pytestmark = pytest.mark.slow(seconds=30)

SECRET = "paper-e2e-webhook-secret"
DASHBOARD = "http://treasury.example.internal"


@pytest.fixture
def receiver() -> Iterator[FakeService]:
    fake = FakeService().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_a_large_move_sends_exactly_one_pending_approval_notification(
    receiver: FakeService, tmp_path: Path
) -> None:
    with paper_server(
        tmp_path,
        TREASURY_PAPER_START="cash",
        TREASURY_CYCLE_INTERVAL_S="3600",
        TREASURY_WEBHOOK_URL=f"{receiver.url}/hook",
        TREASURY_WEBHOOK_SECRET=SECRET,
        TREASURY_DASHBOARD_URL=DASHBOARD,
    ) as server:
        # The first cycle runs once the service is up; on a busy machine (two test workers, each
        # with its own paper server) it can take a while, so wait for its result, generously.
        deadline = time.monotonic() + 180
        pending: list[dict[str, object]] = []
        while time.monotonic() < deadline and not (pending and receiver.requests):
            pending = server.client().get("/decisions/pending").json()
            time.sleep(0.5)
        assert len(pending) == 1, server.logs()[-2000:]
        decision_id = pending[0]["id"]

        # A second cycle while the decision waits must not announce anything new.
        with server.client(OPERATOR) as client:
            again = client.post("/portfolio/rebalance", json={"force": True})
        assert again.status_code == 202
        assert again.json()["status"] == "held"
        # Anything that cycle announced is queued before this stop's notice, and one channel
        # delivers in order: once the notice arrives, a second "pending approval" would have.
        with server.client(OPERATOR) as client:
            assert client.post("/emergency-stop", json={"reason": "marker"}).status_code == 200
        deadline = time.monotonic() + 60
        while not any(r.json()["kind"] == "emergency_stop" for r in receiver.requests):
            assert time.monotonic() < deadline, [r.json()["kind"] for r in receiver.requests]
            time.sleep(0.1)

        approvals = [r for r in receiver.requests if r.json()["kind"] == "approval_pending"]
        assert len(approvals) == 1, [r.json()["kind"] for r in receiver.requests]
        request = approvals[0]
        payload = request.json()
        assert payload["fields"]["Decision"] == decision_id
        assert {"label": "Open in dashboard", "url": f"{DASHBOARD}/#decision-{decision_id}"} in (
            payload["links"]
        )
        stamp = request.headers["x-treasury-timestamp"]
        assert verify_signature(
            SECRET,
            timestamp=stamp,
            body=request.body,
            signature=request.headers["x-treasury-signature"],
            now=datetime.fromtimestamp(int(stamp), UTC),  # paper time runs ahead of the wall
        )

        health = server.client().get("/health").json()
        assert health["others"]["notify:webhook"]["status"] == "healthy", health["others"]
        assert SECRET not in server.logs()
        assert receiver.url not in server.logs()
