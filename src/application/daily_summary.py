"""The daily summary: the treasury's value, allocations and 24 h return, sent to people."""

from __future__ import annotations

from application.notifications import announce, daily_summary
from application.ports.clock import Clock
from application.ports.notify import Notifier
from application.queries import GetPortfolioStatus
from domain.portfolio import PortfolioState


class PublishDailySummary:
    """Read the portfolio status and publish it; the scheduler calls this once a day (repeats
    the same day are dropped by the channels' dedup)."""

    def __init__(
        self,
        *,
        clock: Clock,
        status: GetPortfolioStatus,
        notifier: Notifier,
        dashboard_url: str = "",
    ) -> None:
        self._clock = clock
        self._status = status
        self._notifier = notifier
        self._dashboard_url = dashboard_url

    async def execute(self) -> PortfolioState:
        """Publish the summary and return the state it describes.

        Raises:
            TransientError: the portfolio could not be read.
        """
        state = await self._status.execute()
        now = self._clock.now()
        announce(self._notifier, lambda: daily_summary(state, self._dashboard_url, at=now))
        return state
