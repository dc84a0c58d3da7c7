"""SIGKILL at three moments of a plan (mid-simulation, after signing, after broadcast) on the
in-process chain: each next start runs a new chain, settles the old chain's signed step as
"chain reset" and comes back healthy with the treasury's value."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.restarts import CASH_START, RESET, kills_at_three_moments

pytestmark = pytest.mark.slow(seconds=240)


def test_paper_comes_back_after_sigkill_at_three_moments_on_the_in_process_chain(
    tmp_path: Path,
) -> None:
    kills_at_three_moments(tmp_path, **CASH_START)
    with sqlite3.connect(tmp_path / "treasury.db") as db:
        resets = list(db.execute("SELECT subject_id FROM audit_log WHERE action = ?", (RESET,)))
    # after_sign and after_broadcast left a signed step on a chain that is gone each time.
    assert len(resets) >= 2, resets
