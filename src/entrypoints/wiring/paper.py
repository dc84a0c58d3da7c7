"""Paper mode's clock: wall time plus the simulated time fast-forwarded so far, kept on disk.

Paper mode runs the live cadence faster: each scheduler tick (every
`TREASURY_CYCLE_INTERVAL_S`, 10 s by default) lets `TREASURY_PAPER_HOURS_PER_CYCLE` simulated
hours pass (1 by default, the live hourly cycle). Every use case reads this clock, the simulated
market walks its days along it, and the dev chain's block time is moved by the same amount, so
interest accrues, decisions expire and performance is measured on one consistent calendar.

The offset and the epoch (simulated day 0) live in a small JSON file beside the database, so a
restarted paper service resumes on the same simulated day.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from application.ports.clock import Clock


class PaperClockFileInvalid(ValueError):
    """The paper clock file exists but cannot be read as one."""


class PaperClock:
    """A Clock that runs ahead of wall time by a persisted offset."""

    def __init__(self, path: Path, wall: Clock) -> None:
        self._path = path
        self._wall = wall
        self._offset = timedelta(0)
        self._epoch: datetime | None = None
        self._load()

    def _load(self) -> None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._epoch = self._wall.now()
            self._save()
            return
        try:
            data = json.loads(text)
            self._epoch = datetime.fromisoformat(data["epoch"])
            self._offset = timedelta(seconds=float(data["offset_s"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise PaperClockFileInvalid(
                f"{self._path} is not a paper clock file ({exc}); move it away to start over"
            ) from None
        if self._epoch.tzinfo is None or self._offset < timedelta(0):
            raise PaperClockFileInvalid(f"{self._path} holds an invalid epoch or offset")

    def _save(self) -> None:
        if self._epoch is None:
            raise PaperClockFileInvalid("the paper clock has no epoch")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"epoch": self._epoch.isoformat(), "offset_s": self._offset.total_seconds()}
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".paper-clock-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def reload(self) -> None:
        """Read the offset again from disk: a standby that takes over from another process on
        the same data directory resumes on the calendar that process left behind.

        Raises:
            PaperClockFileInvalid: the file is not a paper clock file.
        """
        self._load()

    @property
    def path(self) -> Path:
        """Where the offset is kept."""
        return self._path

    @property
    def epoch(self) -> datetime:
        """The paper clock's time when this data directory was first used (simulated day 0)."""
        if self._epoch is None:
            raise PaperClockFileInvalid("the paper clock has no epoch")
        return self._epoch

    @property
    def offset(self) -> timedelta:
        """How far ahead of wall time the paper clock runs."""
        return self._offset

    def now(self) -> datetime:
        """Wall time plus the offset (timezone-aware, UTC)."""
        return self._wall.now() + self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Let `delta` of simulated time pass at once; persisted before returning.

        Raises:
            ValueError: `delta` is negative.
        """
        if delta < timedelta(0):
            raise ValueError("the paper clock cannot go back")
        self._offset += delta
        self._save()
        return self.now()
