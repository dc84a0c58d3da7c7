"""Preflight: run every read-only check concurrently and say whether live mode would work.

Each check reports its own lines (ok, or failed with the fix); a check that does not answer
within the time limit is a failed line naming it. The report passes only when every required
line passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from application.ports.preflight import CheckResult, PreflightCheck

DEFAULT_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightReport:
    """Every line, in the order the checks were given."""

    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Whether live mode would work: every required line passed."""
        return all(r.ok or not r.required for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The required lines that failed."""
        return tuple(r for r in self.results if r.required and not r.ok)


class Preflight:
    """Runs the checks; sends nothing anywhere."""

    def __init__(
        self, checks: Sequence[PreflightCheck], *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._checks = tuple(checks)
        self._timeout_s = timeout_s

    async def execute(self) -> PreflightReport:
        """Run every check at once and gather their lines."""
        answers = await asyncio.gather(*(self._run(check) for check in self._checks))
        return PreflightReport(results=tuple(line for lines in answers for line in lines))

    async def _run(self, check: PreflightCheck) -> Sequence[CheckResult]:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await check.run()
        except TimeoutError:
            return (
                CheckResult(
                    name=check.name,
                    ok=False,
                    detail=f"no answer within {self._timeout_s:.0f} s",
                    fix="check the network path to it and that it is up",
                ),
            )
