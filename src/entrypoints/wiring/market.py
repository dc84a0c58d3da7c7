"""The simulated market paper mode reads, for the service and for `treasury market`."""

from __future__ import annotations

from datetime import datetime

from adapters.market.history import ReplayMarket
from adapters.market.simulated import SimulatedMarket
from application.ports.clock import Clock
from entrypoints.settings.market import MarketSettings


def simulated_market(
    settings: MarketSettings, clock: Clock, started_at: datetime | None = None
) -> SimulatedMarket | ReplayMarket:
    """The paper-trading market the settings describe (history replay or a scenario);
    `started_at` is the clock time of its first day (default: now)."""
    if settings.market_history_csv is not None:
        return ReplayMarket.from_csv(
            settings.market_history_csv,
            clock=clock,
            seconds_per_day=settings.market_simulated_day_s,
            started_at=started_at,
        )
    return SimulatedMarket(
        clock=clock,
        scenario=settings.market_scenario,
        seed=settings.market_seed,
        seconds_per_day=settings.market_simulated_day_s,
        started_at=started_at,
    )


__all__ = ["simulated_market"]
