"""Stop it, start it again: `treasury paper` comes back on its own data directory.

The in-process chain forgets everything when the process exits, so every start runs a new chain
with the same chain id; the journal keeps the old chain's nonces. A restart must settle the old
chain's unfinished steps as "chain reset", rebuild the recorded positions on the new chain and
answer `/health`, with the audit chain intact. On anvil the chain outlives the service. The
SIGKILL cases are in `test_paper_kill_in_process.py` and `test_paper_kill_anvil.py` (one file
each, so `--dist loadfile` runs them on different workers).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.restarts import restart_after_sigterm
from tests.integration.devchain.fixtures import running_anvil

pytestmark = pytest.mark.slow(seconds=150)


@pytest.fixture
def anvil() -> Iterator[str]:
    """A node of its own, so the chain outlives the service between starts."""
    with running_anvil() as url:
        yield url


@pytest.mark.slow(seconds=150)
def test_paper_restarts_after_sigterm_on_the_in_process_chain_and_refuses_a_second_instance(
    tmp_path: Path,
) -> None:
    restart_after_sigterm(tmp_path, try_a_second_instance=True, TREASURY_CYCLE_INTERVAL_S="3600")
    with sqlite3.connect(tmp_path / "treasury.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert "funding.planned" in actions  # the first split and the rebuild say why they ran
    assert actions.count("funding.planned") == 2


@pytest.mark.slow(seconds=90)
@pytest.mark.anvil
def test_paper_restarts_after_sigterm_on_anvil(anvil: str, tmp_path: Path) -> None:
    restart_after_sigterm(
        tmp_path,
        try_a_second_instance=False,
        TREASURY_CYCLE_INTERVAL_S="3600",
        TREASURY_DEVCHAIN_RPC_URL=anvil,
    )
