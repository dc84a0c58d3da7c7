"""What the restart tests share: start, stop and kill `treasury paper`, and check that it came
back (health, value, audit chain, journal) on the same data directory."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    APPROVER,
    OPERATOR,
    ROOT,
    PaperServer,
    free_port,
    paper_server,
    server_env,
)

RESET = "execution.chain_reset"
# A start deploys the contracts and unlocks the keystore (scrypt): minutes on a busy two-core
# machine running the suite on two workers.
READY_S = 300.0


def total_value(server: PaperServer) -> float:
    with server.client() as client:
        response = client.get("/portfolio/status")
    assert response.status_code == 200, response.text
    return float(response.json()["total_value_usd"])


def holdings(server: PaperServer) -> set[tuple[str, str]]:
    """Which positions the treasury holds: a rebuild must bring back each, not just the value."""
    with server.client() as client:
        response = client.get("/portfolio/status")
    assert response.status_code == 200, response.text
    return {(p["protocol"], p["asset"]) for p in response.json()["positions"]}


def health(server: PaperServer) -> tuple[int, dict[str, Any]]:
    with server.client() as client:
        response = client.get("/health")
    return response.status_code, dict(response.json())


def audit_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`treasury audit verify` on the data directory, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", "audit", "verify"],
        cwd=ROOT,
        env=server_env(data_dir, 0),
        capture_output=True,
        text=True,
        timeout=READY_S,
        check=False,
    )


def journal_rows(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "treasury.db") as db:
        return list(db.execute("SELECT * FROM broadcast_attempts ORDER BY step_id, attempt"))


def second_instance(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Another `treasury paper` on the same data directory (on another port)."""
    port = free_port()
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", "paper", "--port", str(port)],
        cwd=ROOT,
        env=server_env(data_dir, port),
        capture_output=True,
        text=True,
        timeout=READY_S,
        check=False,
    )


def transactions(server: PaperServer) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/transactions", params={"limit": 200})
    assert response.status_code == 200
    return list(response.json())


def restart_after_sigterm(data_dir: Path, *, try_a_second_instance: bool, **env: str) -> None:
    with paper_server(data_dir, ready_timeout_s=READY_S, **env) as first:
        before = total_value(first)
        held = holdings(first)
        funding = [t for t in transactions(first) if t["plan_id"].startswith("paper-seed-")]
        assert funding, "the first split is listed with the other transactions"
        assert {t["status"] for t in funding} == {"confirmed"}, funding
        if try_a_second_instance:
            journal = journal_rows(data_dir)
            refused = second_instance(data_dir)
            assert refused.returncode == 1, refused.stdout + refused.stderr[-2000:]
            assert refused.stderr.count("\n") == 1, refused.stderr  # one line, no traceback
            assert f"pid {first.process.pid}" in refused.stderr
            assert first.url in refused.stderr
            assert journal_rows(data_dir) == journal  # it wrote nothing
        # SIGTERM, with time for a cycle in progress to finish (the harness's own stop would
        # escalate to SIGKILL after 20 s, too soon on a busy machine).
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(timeout=READY_S)
    # uvicorn re-raises the stop signal after its clean shutdown, so -15 is a clean exit too.
    assert first.process.returncode in (0, -15), first.logs()[-3000:]
    assert "scheduler stopped" in first.logs(), first.logs()[-3000:]

    with paper_server(data_dir, ready_timeout_s=READY_S, **env) as second:
        status, body = health(second)
        assert status == 200, body
        assert total_value(second) == pytest.approx(before, rel=0.01)
        assert holdings(second) == held  # rebuilt position by position, not left as cash
    verified = audit_verify(data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout


# approved plan. Each kill is followed by a start with the next boundary armed, and a last
# start with none: every start after a kill must come up healthy with the treasury's value
# where it was, and the audit chain must stay intact. One data directory carries the three
# kills, so the file pays for four starts per chain instead of six.

MOMENTS = ("mid_simulation", "after_sign", "after_broadcast")
CASH_START = {"TREASURY_PAPER_START": "cash", "TREASURY_CYCLE_INTERVAL_S": "3600"}


def wait_for(what: str, probe: Any, timeout_s: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def pending_decision(server: PaperServer) -> str:
    def probe() -> str | None:
        with server.client() as client:
            pending = client.get("/decisions/pending").json()
            if pending:
                return str(pending[0]["id"])
            # A cycle after a restart may not plan on its own: ask for one.
            client.headers["Authorization"] = f"Bearer {OPERATOR}"
            client.post("/portfolio/rebalance", json={"force": True})
        return None

    return str(wait_for("a pending decision", probe))


def approve_and_be_killed(server: PaperServer, moment: str) -> None:
    decision_id = pending_decision(server)
    # The kill may come before the answer.
    with server.client(APPROVER) as client, contextlib.suppress(httpx.HTTPError):
        client.post(f"/decisions/{decision_id}/approve", json={"approved": True})
    try:
        server.process.wait(timeout=READY_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"not killed at {moment}:\n{server.logs()[-3000:]}") from None
    assert server.process.returncode == -signal.SIGKILL, server.logs()[-3000:]
    assert f"fault injected: killing the process at {moment}@1" in server.logs()


def kills_at_three_moments(data_dir: Path, **env: str) -> None:
    before: float | None = None
    for moment in MOMENTS:
        with paper_server(
            data_dir, ready_timeout_s=READY_S, **env, TREASURY_FAULT_AT=moment
        ) as server:
            status, body = health(server)
            assert status == 200, body
            value = total_value(server)
            if before is not None:
                assert value == pytest.approx(before, rel=0.01), moment
            before = value
            approve_and_be_killed(server, moment)
        verified = audit_verify(data_dir)
        assert verified.returncode == 0, moment + verified.stdout + verified.stderr

    with paper_server(data_dir, ready_timeout_s=READY_S, **env) as last:
        status, body = health(last)
        assert status == 200, body
        assert total_value(last) == pytest.approx(before, rel=0.01)
        steps = transactions(last)
    # Nothing signed twice on one chain. (Two new in-process chains may see the very same
    # transaction signed for each: same nonce 0, same calldata, same fees, same hash.)
    signed = journal_hashes(data_dir)
    assert len(signed) == len(set(signed))
    assert not [s for s in steps if s["status"] in ("planned", "signed")], steps
    verified = audit_verify(data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def journal_hashes(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "treasury.db") as db:
        return list(db.execute("SELECT chain_instance, tx_hash FROM broadcast_attempts"))
