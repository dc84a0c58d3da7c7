"""SIGKILL at three moments of a plan (mid-simulation, after signing, after broadcast) on anvil,
which outlives the service: each next start comes back healthy with the treasury's value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.restarts import CASH_START, kills_at_three_moments
from tests.integration.devchain.fixtures import running_anvil

pytestmark = pytest.mark.slow(seconds=100)


@pytest.fixture
def anvil() -> Iterator[str]:
    """A node of its own, so the chain outlives the service between starts."""
    with running_anvil() as url:
        yield url


@pytest.mark.anvil
def test_paper_comes_back_after_sigkill_at_three_moments_on_anvil(
    anvil: str, tmp_path: Path
) -> None:
    kills_at_three_moments(tmp_path, **CASH_START, TREASURY_DEVCHAIN_RPC_URL=anvil)
