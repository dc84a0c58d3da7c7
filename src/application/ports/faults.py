"""Fault points: named boundaries in a plan's execution where a test can crash the process.

The execution engine and the executor call `reach(point)` at each boundary. In production the
port is `NO_FAULTS`, which does nothing; the crash-injection tests wire an adapter that kills
the process (SIGKILL, no clean-up) when a chosen boundary is reached, so recovery can be
proved at every boundary. The boundaries, in the order a plan meets them:

* `after_intent`: the plan's steps are persisted and audited; nothing simulated or signed yet.
* `mid_simulation`: a simulation has started (the node was asked) and has not returned.
* `after_sign`: a step's signed transaction is recorded in the journal, not yet broadcast.
* `after_broadcast`: the transaction was handed to the node; its receipt is not recorded.
* `after_receipt`: the step's receipt is recorded and audited; the next step has not started.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class FaultPoint(StrEnum):
    """A boundary in a plan's execution (see module doc)."""

    AFTER_INTENT = "after_intent"
    MID_SIMULATION = "mid_simulation"
    AFTER_SIGN = "after_sign"
    AFTER_BROADCAST = "after_broadcast"
    AFTER_RECEIPT = "after_receipt"


class FaultPoints(Protocol):
    """Told each time execution reaches a boundary; may end the process there."""

    def reach(self, point: FaultPoint) -> None:
        """Execution has reached `point`."""
        ...


class NoFaults:
    """The production default: reaching a boundary does nothing."""

    def reach(self, point: FaultPoint) -> None:
        """Do nothing."""
        del point


NO_FAULTS: FaultPoints = NoFaults()
