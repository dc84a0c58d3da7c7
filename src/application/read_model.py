"""Read models: what people look at (portfolio status, market data, signal), held in memory.

`GET /portfolio/status`, the market endpoints and the dashboard read the latest state from
here; no request reads the chain. A `ReadModel` is refreshed:

- by the decision cycle (the cycle's own fresh reading is published when it finishes),
- after every execution of an approved plan,
- and in the background at most every `refresh_every_s` seconds, once someone has looked,
  one load at a time (single flight: a refresh asked for while one runs shares it).

Each published value gets a new `version`; front ends prepare their response once per version.
When a refresh fails the last good value is still served, flagged `stale` with the error's kind,
so a reader sees how old it is (`as_of`) instead of a silently frozen picture.

None of this feeds a decision: the cycle and the execution read the chain themselves, fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from application.approvals import ExecuteApprovedDecision
from application.cycle import CycleCommand, CycleResult, RunDecisionCycle
from application.execution import ExecutionReport
from application.ports.clock import Clock
from application.queries import GetMarketData, GetPortfolioStatus, PreviewSignal
from domain.market import MarketData
from domain.portfolio import PortfolioState
from domain.signals import AllocationSignal

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, kw_only=True)
class Latest(Generic[T]):
    """One published state of a read model: the value, its version and how fresh it is.

    `as_of` is when the value was read; `stale` says the refreshes since have failed (with
    `error`, the failure's kind, never its message: messages can carry URLs with keys).
    """

    value: T
    version: int
    as_of: datetime
    stale: bool = False
    error: str | None = None
    _derived: dict[Callable[[Any], Any], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the value was read (never negative)."""
        return max((now - self.as_of).total_seconds(), 0.0)

    def derived(self, make: Callable[[Latest[T]], R]) -> R:
        """`make(self)`, computed once for this state (a prepared response, for example)."""
        if make not in self._derived:
            self._derived[make] = make(self)
        result: R = self._derived[make]
        return result


class ReadModel(Generic[T]):
    """The latest value of one view, refreshed by its writers and a background refresher."""

    def __init__(
        self,
        *,
        name: str,
        load: Callable[[], Awaitable[T]],
        clock: Clock,
        refresh_every_s: float | None,
    ) -> None:
        """`load` reads the value fresh; `refresh_every_s` None means no background refresher
        (the value then changes only when a writer publishes or refreshes it)."""
        self.name = name
        self._load = load
        self._clock = clock
        self._every = refresh_every_s
        self._latest: Latest[T] | None = None
        self._version = 0
        self._in_flight: asyncio.Future[Latest[T]] | None = None
        self._loads_started = 0
        self._loads_begun = 0
        self._flight_number = 0  # which load `_in_flight` is (loads run one at a time)
        self._closed = False
        self._refresher: asyncio.Task[None] | None = None
        self._published_at = 0.0  # the event loop's clock, for the refresher's spacing

    def age_seconds(self, latest: Latest[T]) -> float:
        """How old a state is now, by this model's clock."""
        return latest.age_seconds(self._clock.now())

    @property
    def latest(self) -> Latest[T] | None:
        """The latest published state, if any."""
        return self._latest

    async def current(self) -> Latest[T]:
        """The latest state, from memory; the very first call waits for the first load.

        Raises:
            Whatever the load raises when there is nothing to serve yet.
        """
        self._start_refresher()
        latest = self._latest
        if latest is None:
            return await self.refresh()
        return latest

    async def refresh(self) -> Latest[T]:
        """Load the value and publish it, from a load that starts after this call (so a
        refresh asked for after an execution sees the execution). Single flight: callers
        share a load that started after they asked; a load that started before is awaited,
        then one new load serves them all.

        Raises:
            Whatever the load raises (the last good value is then flagged stale).
        """
        asked_after = self._loads_begun  # a load that begins reading later will do
        while True:
            flight = self._in_flight
            if flight is None or flight.done():
                self._loads_started += 1
                self._flight_number = self._loads_started
                flight = self._in_flight = asyncio.ensure_future(self._load_and_publish())
                return await asyncio.shield(flight)
            if self._flight_number > asked_after:
                return await asyncio.shield(flight)
            with contextlib.suppress(Exception):  # that earlier load's failure is not ours
                await asyncio.shield(flight)

    async def refresh_quietly(self) -> None:
        """Refresh, logging a failure instead of raising it (it is flagged on the state)."""
        with contextlib.suppress(Exception):  # _load_and_publish logged and flagged it
            await self.refresh()

    def publish(self, value: T, as_of: datetime) -> Latest[T]:
        """Publish a value a writer read itself. A reading older than the published one (a
        background load that started before the cycle's) does not replace it."""
        current = self._latest
        if current is not None and as_of < current.as_of:
            return current
        self._version += 1
        self._latest = Latest(value=value, version=self._version, as_of=as_of)
        self._published_at = asyncio.get_running_loop().time()
        return self._latest

    async def aclose(self) -> None:
        """Stop the background refresher (for good) and wait for a load under way."""
        self._closed = True
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        if self._in_flight is not None and not self._in_flight.done():
            with contextlib.suppress(Exception):
                await self._in_flight

    async def _load_and_publish(self) -> Latest[T]:
        self._loads_begun += 1
        as_of = self._clock.now()
        try:
            value = await self._load()
        except Exception as exc:
            self._flag_stale(exc)
            raise
        return self.publish(value, as_of)

    def _flag_stale(self, exc: Exception) -> None:
        kind = type(exc).__name__
        log.warning(
            "read model refresh failed; serving the last good state",
            extra={"view": self.name, "error": kind},
        )
        if self._latest is not None:
            self._latest = replace(self._latest, stale=True, error=kind)

    def _start_refresher(self) -> None:
        if self._every is None or self._refresher is not None or self._closed:
            return
        self._refresher = asyncio.get_running_loop().create_task(
            self._refresh_forever(self._every), name=f"refresh {self.name}"
        )

    async def _refresh_forever(self, every: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            latest = self._latest
            fresh = latest is not None and not latest.stale
            if fresh and loop.time() - self._published_at < every:
                continue  # a writer published within the interval: nothing to do yet
            await self.refresh_quietly()


@dataclass(frozen=True, slots=True, kw_only=True)
class Views:
    """The read models the API and the dashboard serve from."""

    portfolio: ReadModel[PortfolioState]
    market: ReadModel[MarketData]
    signal: ReadModel[AllocationSignal]

    async def aclose(self) -> None:
        """Stop every background refresher."""
        for view in (self.portfolio, self.market, self.signal):
            await view.aclose()


class DecisionCycle(Protocol):
    """Runs one decision cycle (the use case, or the use case with its views kept current)."""

    async def execute(self, command: CycleCommand) -> CycleResult:
        """Run one cycle."""
        ...


class CycleFeedingViews:
    """The decision cycle, then its fresh readings published to the read models.

    The cycle decides on its own fresh reads; the views only receive what it read. A cycle
    that fails part-way leaves the views to the background refresher.
    """

    def __init__(
        self, *, cycle: RunDecisionCycle, views: Views, status: GetPortfolioStatus, clock: Clock
    ) -> None:
        self._cycle = cycle
        self._views = views
        self._status = status
        self._clock = clock

    async def execute(self, command: CycleCommand) -> CycleResult:
        """Run the cycle (see `RunDecisionCycle.execute`), then publish what it read.

        Raises:
            CycleBusy: another cycle holds the lock.
            MarketDataUnavailable: no market data at all could be read.
        """
        result = await self._cycle.execute(command)
        self._views.market.publish(result.market, result.market.timestamp)
        portfolio = result.portfolio
        try:
            decorated = await self._status.decorate(portfolio)
        except Exception as exc:  # the cycle's result stands; the view catches up later
            log.warning(
                "could not publish the cycle's portfolio to the read model",
                extra={"error": type(exc).__name__},
            )
        else:
            self._views.portfolio.publish(decorated, portfolio.as_of or self._clock.now())
        await self._views.signal.refresh_quietly()  # the cycle may have moved the ratchet
        return result


class ExecutionFeedingViews:
    """An approved plan's execution, then a fresh portfolio for the read model."""

    def __init__(self, *, execution: ExecuteApprovedDecision, views: Views) -> None:
        self._execution = execution
        self._views = views

    async def execute(self, decision_id: str) -> ExecutionReport | None:
        """Execute (see `ExecuteApprovedDecision.execute`), then refresh the portfolio view.

        Raises:
            NotFound: no such decision, or it has no plan.
        """
        try:
            return await self._execution.execute(decision_id)
        finally:
            await self._views.portfolio.refresh_quietly()


def build_views(
    *,
    clock: Clock,
    status: GetPortfolioStatus,
    market: GetMarketData,
    signal: PreviewSignal,
    status_refresh_s: float | None,
    market_refresh_s: float | None,
) -> Views:
    """The read models over the query use cases that load them fresh."""
    return Views(
        portfolio=ReadModel(
            name="portfolio", load=status.execute, clock=clock, refresh_every_s=status_refresh_s
        ),
        market=ReadModel(
            name="market", load=market.execute, clock=clock, refresh_every_s=market_refresh_s
        ),
        signal=ReadModel(
            name="signal", load=signal.execute, clock=clock, refresh_every_s=market_refresh_s
        ),
    )
