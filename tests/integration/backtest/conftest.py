"""The real BTC history beside the clone (../shared/data/btc.csv), when it is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import require_server

REAL_HISTORY = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "btc.csv"


@pytest.fixture
def real_history() -> Path:
    """The real history file: skipped locally when absent, a failure under CI."""
    require_server(
        "the BTC history file",
        REAL_HISTORY.is_file(),
        f"expected at {REAL_HISTORY.resolve()} (see ../shared/data/README.md)",
    )
    return REAL_HISTORY
