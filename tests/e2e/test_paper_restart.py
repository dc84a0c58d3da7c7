"""Stop it, start it again: `treasury paper` comes back on its own data directory.

The in-process chain forgets everything when the process exits, so every start runs a new chain
with the same chain id; the journal keeps the old chain's nonces. A restart must settle the old
chain's unfinished steps as "chain reset", rebuild the recorded positions on the new chain and
answer `/health`, with the audit chain intact. On anvil the chain outlives the service.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ROOT, PaperServer, free_port, paper_server, server_env
from tests.integration.devchain.fixtures import running_anvil

pytestmark = pytest.mark.slow(seconds=120)


def total_value(server: PaperServer) -> float:
    with server.client() as client:
        response = client.get("/portfolio/status")
    assert response.status_code == 200, response.text
    return float(response.json()["total_value_usd"])


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
        timeout=60,
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
        timeout=120,
        check=False,
    )


def transactions(server: PaperServer) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/transactions", params={"limit": 200})
    assert response.status_code == 200
    return list(response.json())


@pytest.fixture
def anvil() -> Iterator[str]:
    """A node of its own, so the chain outlives the service between the two starts."""
    with running_anvil() as url:
        yield url


def restart_after_sigterm(data_dir: Path, **env: str) -> None:
    with paper_server(data_dir, **env) as first:
        before = total_value(first)
    # uvicorn re-raises the stop signal after its clean shutdown, so -15 is a clean exit too.
    assert first.process.returncode in (0, -15), first.logs()[-3000:]
    assert "scheduler stopped" in first.logs()

    with paper_server(data_dir, **env) as second:
        status, body = health(second)
        assert status == 200, body
        assert total_value(second) == pytest.approx(before, rel=0.01)
    verified = audit_verify(data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout


def test_paper_restarts_after_sigterm_on_the_in_process_chain(tmp_path: Path) -> None:
    restart_after_sigterm(tmp_path, TREASURY_CYCLE_INTERVAL_S="3600")


def test_a_second_instance_on_the_same_data_directory_refuses_before_writing_anything(
    tmp_path: Path,
) -> None:
    with paper_server(tmp_path, TREASURY_CYCLE_INTERVAL_S="3600") as first:
        journal = journal_rows(tmp_path)
        refused = second_instance(tmp_path)
        assert refused.returncode == 1, refused.stdout + refused.stderr[-2000:]
        assert refused.stderr.count("\n") == 1, refused.stderr  # one line, no traceback
        assert f"pid {first.process.pid}" in refused.stderr
        assert first.url in refused.stderr
        assert journal_rows(tmp_path) == journal
        status, body = health(first)
        assert status == 200, body


@pytest.mark.anvil
def test_paper_restarts_after_sigterm_on_anvil(anvil: str, tmp_path: Path) -> None:
    restart_after_sigterm(
        tmp_path, TREASURY_CYCLE_INTERVAL_S="3600", TREASURY_DEVCHAIN_RPC_URL=anvil
    )
