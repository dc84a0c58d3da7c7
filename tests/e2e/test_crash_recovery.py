"""The crash test: the paper service is SIGKILLed after a step was broadcast and before its
receipt was recorded; after a restart the step is reconciled with the chain and nothing is
sent twice.

The chain is anvil (a separate process, so it outlives the killed service). Automine is
switched off just before the approval, so the plan's first transaction sits in anvil's pool
after broadcast while the service waits for its receipt; that is when it is killed.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import APPROVER, paper_server
from tests.integration.devchain.fixtures import running_anvil

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=45)]


@pytest.fixture
def anvil() -> Iterator[str]:
    """A node of its own: this test switches automine off."""
    with running_anvil() as url:
        yield url


def rpc(url: str, method: str, *params: Any) -> Any:
    response = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    body = response.json()
    assert "error" not in body, body
    return body["result"]


def attempts(database: Path) -> list[tuple[str, int, str, str]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT step_id, nonce, tx_hash, sender FROM broadcast_attempts"))


def wait_for(what: str, probe: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_step_broadcast_before_a_crash_is_reconciled_and_never_sent_twice(
    anvil: str, tmp_path: Path
) -> None:
    env = {
        "TREASURY_PAPER_START": "cash",
        "TREASURY_CYCLE_INTERVAL_S": "3600",
        "TREASURY_DEVCHAIN_RPC_URL": anvil,
        "TREASURY_RECEIPT_TIMEOUT_SECONDS": "600",
    }
    database = tmp_path / "treasury.db"
    with paper_server(tmp_path, **env) as server:
        pending = wait_for(
            "a pending decision",
            lambda: server.client().get("/decisions/pending").json(),
        )
        decision_id = pending[0]["id"]
        before = attempts(database)
        rpc(anvil, "evm_setAutomine", False)
        approved = server.client(APPROVER).post(
            f"/decisions/{decision_id}/approve", json={"approved": True}
        )
        assert approved.status_code == 202
        new = wait_for("the first step's broadcast", lambda: attempts(database)[len(before) :])
        step_id, nonce, tx_hash, sender = new[0]
        assert rpc(anvil, "eth_getTransactionReceipt", tx_hash) is None  # in the pool only
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)

    rpc(anvil, "evm_mine")
    rpc(anvil, "evm_setAutomine", True)
    receipt = rpc(anvil, "eth_getTransactionReceipt", tx_hash)
    assert receipt is not None
    sent_before_restart = int(rpc(anvil, "eth_getTransactionCount", sender, "latest"), 16)

    with paper_server(tmp_path, **env) as server:
        steps = server.client().get("/transactions", params={"limit": 200}).json()
        step = next(s for s in steps if s["id"] == step_id)
        assert step["status"] == "confirmed", step
        assert step["tx_hash"] == tx_hash
        assert step["nonce"] == nonce
        later = [s for s in steps if s["plan_id"] == step["plan_id"] and s["id"] != step_id]
        assert all(s["status"] in ("failed", "dropped") for s in later), later
        audit = server.client().get("/audit", params={"count": 1000}).json()
        assert any(
            e["action"] == "execution.reconciled" and e["subject_id"] == step_id for e in audit
        )

    assert [a for a in attempts(database) if a[0] == step_id] == [(step_id, nonce, tx_hash, sender)]
    sent_after = int(rpc(anvil, "eth_getTransactionCount", sender, "latest"), 16)
    # The restart may run a new cycle of its own, but never resends the reconciled step.
    hashes = [a[2] for a in attempts(database)]
    assert len(hashes) == len(set(hashes))
    assert sent_after >= sent_before_restart
