"""A leader lock for tests: one seat several contenders share, taken by at most one at a time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Seat:
    """Who holds the leader lock (as the database would know it)."""

    holder: FakeLeaderLock | None = None


class FakeLeaderLock:
    """The LeaderLock port over a shared `Seat`. `lose()` drops the lock behind the holder's
    back, as a dropped database connection (or the holder's death) would."""

    def __init__(self, seat: Seat) -> None:
        self._seat = seat
        self.acquire_attempts = 0

    async def try_acquire(self) -> bool:
        self.acquire_attempts += 1
        if self._seat.holder is None:
            self._seat.holder = self
        return self._seat.holder is self

    async def still_held(self) -> bool:
        return self._seat.holder is self

    async def release(self) -> None:
        if self._seat.holder is self:
            self._seat.holder = None

    def lose(self) -> None:
        if self._seat.holder is self:
            self._seat.holder = None
