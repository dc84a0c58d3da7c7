"""The crash-injection adapter of the FaultPoints port: SIGKILL at a chosen boundary.

Wired only when `TREASURY_FAULT_AT` is set (tests); see `application.ports.faults` for the
boundaries. `after_sign@2` kills at the second time the boundary is reached (the second
step's signing), so a test can crash between any two steps of a plan.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from application.ports.faults import FaultPoint


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Where to crash: a boundary and which time it is reached (1 = the first)."""

    point: FaultPoint
    occurrence: int = 1

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """`<boundary>` or `<boundary>@<n>`.

        Raises:
            ValueError: an unknown boundary or an occurrence below 1.
        """
        name, _, count = text.strip().partition("@")
        try:
            point = FaultPoint(name)
        except ValueError:
            known = ", ".join(p.value for p in FaultPoint)
            raise ValueError(f"unknown fault boundary {name!r}; known: {known}") from None
        occurrence = int(count) if count else 1
        if occurrence < 1:
            raise ValueError(f"fault occurrence must be >= 1, got {occurrence}")
        return cls(point, occurrence)

    def __str__(self) -> str:
        return f"{self.point.value}@{self.occurrence}"


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt:
    """Kills this process (SIGKILL: no clean-up, no flush) when `spec` is reached."""

    def __init__(self, spec: FaultSpec, kill: Callable[[], None] = _sigkill) -> None:
        self._spec = spec
        self._kill = kill
        self._seen = 0

    def reach(self, point: FaultPoint) -> None:
        """Count the boundary; at the chosen occurrence, say so on stderr and kill."""
        if point is not self._spec.point:
            return
        self._seen += 1
        if self._seen == self._spec.occurrence:
            # Written straight to the file descriptor: a SIGKILL loses buffered log records.
            os.write(2, f"fault injected: killing the process at {self._spec}\n".encode())
            self._kill()
