"""A paper service under Safe custody for the service tests: the environment it reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def use_paper_safe(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, *, capital_usd: int, approver: str
) -> None:
    """Set the environment for a paper service starting in cash with `capital_usd`, its money
    in a 2-of-3 Safe (the paper owners), and `approver` as an approver's API token; every
    other TREASURY_ variable is removed."""
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_MODE", "paper")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TREASURY_PAPER_START", "cash")
    monkeypatch.setenv("TREASURY_PAPER_CAPITAL_USD", str(capital_usd))
    monkeypatch.setenv("TREASURY_CUSTODY", "safe")
    monkeypatch.setenv("TREASURY_SAFE_THRESHOLD", "2")
    monkeypatch.setenv("TREASURY_API_TOKENS", f"{approver}:approver")
