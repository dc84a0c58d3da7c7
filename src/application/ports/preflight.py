"""Preflight checks: cheap, read-only probes of every outside world live mode depends on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One line of the preflight: what was checked, whether it passed, and the fix if not.

    `required` False marks something live mode can run without (an optional data source):
    its failure is reported but does not fail the preflight.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


class PreflightCheck(Protocol):
    """A read-only probe; it sends nothing and never raises (a failure is a failed result)."""

    name: str

    async def run(self) -> Sequence[CheckResult]:
        """Probe once and report one or more lines."""
        ...
