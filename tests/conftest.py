"""Suite-wide set-up: one shared cache of compiled dev-chain contracts for every test process.

Compiled contracts are keyed by a hash of their source and the Vyper version, so sharing the
directory between tests, pytest-xdist workers and the paper servers they start is safe; it
spares each fresh data directory a recompile of every contract.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault(
    "TREASURY_DEVCHAIN_COMPILE_CACHE",
    str(Path(__file__).resolve().parents[1] / "var" / "test-cache" / "compiled"),
)

_QUIETED = ("httpx", "httpcore")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo what a test's CLI or service start did to logging.

    `configure_logging` replaces the root handlers with one writing to the stderr of the moment
    (a CliRunner's buffer, closed when the command returns) and the service quiets httpx; left
    in place, both would leak into later tests.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in _QUIETED}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the long end-to-end files first, the longest of all first, then the browser tests.

    Under pytest-xdist the workers take files in collection order; starting the longest ones
    first keeps one of them from running alone at the end. `pytest.mark.slow(seconds=N)` gives
    a file's rough cost.
    """

    def weight(item: pytest.Item) -> tuple[int, float]:
        slow = item.get_closest_marker("slow")
        if slow is not None:
            return 0, -float(slow.kwargs.get("seconds", 0))
        if item.get_closest_marker("browser"):
            return 1, 0.0
        return 2, 0.0

    items.sort(key=weight)  # stable: the order within each group is kept
