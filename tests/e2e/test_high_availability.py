"""High availability: two `treasury serve` processes on one PostgreSQL database and one chain.

Exactly one of them (the leader, holding a PostgreSQL advisory lock on a connection of its own)
runs decision cycles and executions; the other (the standby) serves reads, records approvals
for the leader to execute, and takes over when the leader is SIGKILLed: PostgreSQL drops the
dead process's connection and with it the lock, the standby takes it at its next try.

The chain is anvil, shared by both processes (paper mode's in-process chain cannot be shared);
the database is one the test creates and migrates with `treasury db upgrade`, dropped at the
end. Checked: one leader, the standby runs no cycle, an approval given to the standby is
executed by the leader, takeover within 30 s followed by a cycle, no transaction sent twice,
and `treasury audit verify` passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import URL, make_url

from tests.e2e.harness import (
    APPROVER,
    OPERATOR,
    ROOT,
    PaperServer,
    free_port,
    server_env,
    stop,
    wait_ready,
)
from tests.integration.devchain.fixtures import running_anvil
from tests.integration.persistence.conftest import postgres_url, require_postgres

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.slow(seconds=120)]

TAKEOVER_LIMIT_S = 30.0
CYCLE_FINISHED = "decision cycle finished"


def _plain(url: URL) -> str:
    """The URL as asyncpg takes it (no +asyncpg driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_plain(make_url(postgres_url())))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own (the service has no search_path setting, so a schema would not
    isolate it), created empty and dropped afterwards; yields its SQLAlchemy URL."""
    require_postgres()
    name = f"tm_ha_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def anvil() -> Iterator[str]:
    """A node of this test's own."""
    with running_anvil() as url:
        yield url


def rows(database_url: str, sql: str) -> list[asyncpg.Record]:
    async def query() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(_plain(make_url(database_url)))
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()

    return asyncio.run(query())


def rpc(url: str, method: str, *params: Any) -> Any:
    body = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).json()
    assert "error" not in body, body
    return body["result"]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serve(data_dir: Path, name: str, **extra_env: str) -> Iterator[PaperServer]:
    """Run `treasury serve` until the block ends (SIGTERM; SIGKILL if it hangs)."""
    port = free_port()
    env = server_env(data_dir, port, **extra_env)
    log_path = data_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli.main", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = PaperServer(
            url=f"http://127.0.0.1:{port}",
            data_dir=data_dir,
            process=process,
            log_path=log_path,
            env=env,
        )
        try:
            wait_ready(server, 120)
            yield server
        finally:
            stop(server)


def role(server: PaperServer) -> str | None:
    try:
        body = server.client().get("/health").json()
    except httpx.HTTPError:
        return None
    value = body.get("role")
    return value if isinstance(value, str) else None


def cycles_run(server: PaperServer) -> int:
    """How many decision cycles this process finished, from its JSON log."""
    count = 0
    for line in server.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == CYCLE_FINISHED:
            count += 1
    return count


def test_two_serve_processes_one_leads_and_the_standby_takes_over_after_a_sigkill(
    database: str, anvil: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir()
    env = {
        "TREASURY_MODE": "paper",
        "TREASURY_DATABASE_URL": database,
        "TREASURY_DEVCHAIN_RPC_URL": anvil,
        "TREASURY_PAPER_START": "cash",
        "TREASURY_CYCLE_INTERVAL_S": "2",
        "TREASURY_APPROVAL_EXPIRY_HOURS": "10000",
        # server_env drops every TREASURY_* variable; keep the suite's shared compile cache.
        "TREASURY_DEVCHAIN_COMPILE_CACHE": os.environ["TREASURY_DEVCHAIN_COMPILE_CACHE"],
    }
    upgraded = cli(server_env(data_dir, 0, **env), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    with serve(data_dir, "first", **env) as first:
        pending = wait_for(
            "the first cycle's pending decision",
            lambda: first.client().get("/decisions/pending").json(),
        )
        decision_id = pending[0]["id"]
        with serve(data_dir, "second", **env) as second:
            led_before = cycles_run(first)
            wait_for("two more cycles on the leader", lambda: cycles_run(first) >= led_before + 2)
            assert cycles_run(second) == 0, "the standby ran a decision cycle"
            assert role(first) == "leader"
            assert role(second) == "follower"

            # A forced rebalance sent to the standby is refused, clearly; nothing runs there.
            refused = second.client(OPERATOR).post("/portfolio/rebalance", json={"force": True})
            assert refused.status_code == 503, refused.text
            assert "leader" in refused.json()["error"]

            # An approval given to the standby is recorded there and executed by the leader.
            approved = second.client(APPROVER).post(
                f"/decisions/{decision_id}/approve", json={"approved": True}
            )
            assert approved.status_code == 202, approved.text
            executed = wait_for(
                "the leader to execute the approved plan",
                lambda: (
                    first.client().get(f"/decisions/{decision_id}").json()["status"]
                    in ("executed", "failed")
                ),
            )
            assert executed
            assert first.client().get(f"/decisions/{decision_id}").json()["status"] == "executed"
            assert "transaction mined" in first.logs()
            assert "transaction mined" not in second.logs()
            assert cycles_run(second) == 0

            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
            killed_at = time.monotonic()
            wait_for(
                "the standby to take over",
                lambda: role(second) == "leader",
                timeout_s=TAKEOVER_LIMIT_S,
            )
            took_over_s = time.monotonic() - killed_at
            wait_for("a cycle on the new leader", lambda: cycles_run(second) >= 1)
            print(f"takeover after {took_over_s:.1f} s")  # noqa: T201 - reported by -s

    # Nothing was sent twice: one mined transaction per nonce, one nonce per step.
    attempts = rows(database, "SELECT step_id, nonce, tx_hash, sender FROM broadcast_attempts")
    assert attempts, "the approved plan sent nothing"
    hashes = [a["tx_hash"] for a in attempts]
    assert len(hashes) == len(set(hashes))
    steps_per_nonce: dict[int, set[str]] = {}
    for attempt in attempts:
        steps_per_nonce.setdefault(attempt["nonce"], set()).add(attempt["step_id"])
    assert all(len(steps) == 1 for steps in steps_per_nonce.values()), steps_per_nonce
    sender = attempts[0]["sender"]
    sent_on_chain = int(rpc(anvil, "eth_getTransactionCount", sender, "latest"), 16)
    assert sent_on_chain == len(steps_per_nonce)
    executed_plans = rows(
        database, "SELECT subject_id FROM audit_log WHERE action = 'plan.executed'"
    )
    assert len(executed_plans) == len({r["subject_id"] for r in executed_plans})

    verified = cli(server_env(data_dir, 0, **env), "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
