"""A simulated market for paper trading: seeded, deterministic, coherent daily paths.

The model, one step per simulated day:
- BTC follows a log-normal walk whose drift and volatility come from the scenario's regime
  (accumulation, euphoria, top, bear, sideways, crash day);
- ETH follows BTC with a beta of 1.2 plus its own noise;
- a realised price (the market's cost basis) trails the price slowly (an exponential average
  with a 300-day half-life-like weight), and MVRV Z is 3 x (price / realised - 1), so it rises
  with a rally and falls back as the realised price catches up (clamped to -1.5..10);
- funding (a fraction per 8 h) and Fear & Greed follow 7- and 14-day momentum, with noise;
- Deribit's options picture: each coin's DVOL (implied volatility, percentage points) is pulled
  towards the regime's annualised volatility plus a premium, and jumps on a falling day (a -30 %
  day adds about 75 points, as in March 2020); ETH's runs about 1.2 times BTC's. The put/call
  open-interest ratio rises with fear (negative 14-day momentum). These draw from their own
  random stream, so the prices, MVRV, funding and Fear & Greed of a seed are unchanged.

Scenarios: `full-cycle` (accumulation, euphoria, top, bear, then again), `bull-to-top`,
`crash` (a calm month, a black-swan day of -25 to -35 %, then a bear market) and `sideways`.

Time: day N is served once N x `seconds_per_day` has passed on the injected clock since the
start (86 400 for real time; 10 for a simulated day every ten seconds), plus any days added
with `advance()`. Paths are generated lazily and are the same for the same seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from application.errors import MarketDataUnavailable
from application.ports.clock import Clock
from application.ports.market import SourceHealth, SourceStatus
from domain.history import DailyObservation
from domain.market import Freshness, MarketData, MarketField
from domain.phases import PhaseThresholds, classify_phase

D = Decimal
PRICE_PLACES = D("0.01")
RATE_PLACES = D("0.00000001")
Z_PLACES = D("0.0001")
DEFAULT_START_DAY = date(2026, 1, 1)
DEFAULT_THRESHOLDS = PhaseThresholds()


class Scenario(StrEnum):
    """The simulated market's storylines."""

    FULL_CYCLE = "full-cycle"
    BULL_TO_TOP = "bull-to-top"
    CRASH = "crash"
    SIDEWAYS = "sideways"


@dataclass(frozen=True, slots=True)
class Regime:
    """Daily log-return drift and volatility of BTC during one stretch of a scenario."""

    name: str
    drift: float
    volatility: float


ACCUMULATION = Regime("accumulation", 0.0015, 0.022)
EUPHORIA = Regime("euphoria", 0.005, 0.030)
TOP = Regime("top", -0.0005, 0.042)
BEAR = Regime("bear", -0.003, 0.032)
SIDEWAYS = Regime("sideways", 0.0, 0.016)
BLACK_SWAN = Regime("black-swan", 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Storyline:
    """Where a scenario starts and which regimes it runs through (and whether it repeats)."""

    btc_start: Decimal
    realised_start: Decimal
    eth_start: Decimal
    schedule: tuple[tuple[Regime, int], ...]
    repeat: bool
    after: Regime = SIDEWAYS


STORYLINES: dict[Scenario, Storyline] = {
    Scenario.FULL_CYCLE: Storyline(
        btc_start=D(17000),
        realised_start=D(20000),
        eth_start=D(1200),
        schedule=((ACCUMULATION, 240), (EUPHORIA, 300), (TOP, 60), (BEAR, 330)),
        repeat=True,
    ),
    Scenario.BULL_TO_TOP: Storyline(
        btc_start=D(30000),
        realised_start=D(24000),
        eth_start=D(1900),
        schedule=((EUPHORIA, 260), (TOP, 60)),
        repeat=False,
        after=BEAR,
    ),
    Scenario.CRASH: Storyline(
        btc_start=D(64000),
        realised_start=D(38000),
        eth_start=D(3300),
        schedule=((SIDEWAYS, 30), (BLACK_SWAN, 1), (BEAR, 150)),
        repeat=False,
    ),
    Scenario.SIDEWAYS: Storyline(
        btc_start=D(58000),
        realised_start=D(40000),
        eth_start=D(3000),
        schedule=((SIDEWAYS, 365),),
        repeat=True,
    ),
}

REALISED_WEIGHT = 1 / 500  # how fast the cost basis follows the price, per day
DEVIATION_PULL = 0.05  # how fast the noise around the trend decays, per day
ETH_BETA = 1.2
Z_SCALE = 3.0
Z_MIN, Z_MAX = -1.5, 10.0
FUNDING_MIN, FUNDING_MAX = -0.0005, 0.001
IV_PLACES = D("0.01")
IV_PREMIUM = 1.15  # implied volatility usually sits above the realised one
IV_PULL = 0.3  # how fast DVOL returns to its regime level, per day
IV_CRASH_POINTS = 250.0  # DVOL points added per unit of a day's fall
IV_MIN, IV_MAX = 15.0, 250.0
ETH_IV_RATIO = 1.2
PUT_CALL_MIN, PUT_CALL_MAX = 0.25, 2.0


def _dec(value: float, places: Decimal) -> Decimal:
    # The walk runs in floats for speed; every value we publish is a Decimal, rounded explicitly.
    return D(repr(value)).quantize(places, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedDay:
    """One simulated day: the observation plus the 24 h changes and the regime behind it."""

    observation: DailyObservation
    btc_change_24h: Decimal
    eth_change_24h: Decimal
    regime: str
    btc_implied_volatility: Decimal | None = None
    eth_implied_volatility: Decimal | None = None
    btc_iv_change_24h: Decimal | None = None
    eth_iv_change_24h: Decimal | None = None
    put_call_ratio: Decimal | None = None


class _Walk:
    """The day-by-day generator behind a SimulatedMarket."""

    def __init__(self, storyline: Storyline, seed: int, start_day: date) -> None:
        self._story = storyline
        self._rng = random.Random(seed)  # noqa: S311 (a simulation, not cryptography)
        self._start_day = start_day
        self._btc = float(storyline.btc_start)
        self._log_trend = math.log(self._btc)
        self._deviation = 0.0
        self._eth = float(storyline.eth_start)
        self._realised = float(storyline.realised_start)
        self._btc_history: list[float] = []
        self._fear_greed = 50.0
        # A separate stream for the options picture, so adding it left every other path as it was.
        self._options_rng = random.Random(seed * 7919 + 1)  # noqa: S311
        self._btc_iv = self._iv_level(self.regime(0))
        self._eth_iv = self._btc_iv * ETH_IV_RATIO
        self.days: list[SimulatedDay] = []

    def regime(self, index: int) -> Regime:
        total = sum(length for _, length in self._story.schedule)
        if index >= total:
            if not self._story.repeat:
                return self._story.after
            index %= total
        for regime, length in self._story.schedule:
            if index < length:
                return regime
            index -= length
        return self._story.after

    def extend_to(self, index: int) -> None:
        while len(self.days) <= index:
            self.days.append(self._step(len(self.days)))

    def _step(self, index: int) -> SimulatedDay:
        rng = self._rng
        regime = self.regime(index)
        before_btc, before_eth = self._btc, self._eth
        if index > 0:
            # Price = trend x exp(deviation): the trend carries the scenario's drift, the
            # deviation is mean-reverting noise, so every seed tells the same story.
            self._log_trend += regime.drift
            if regime is BLACK_SWAN:
                self._log_trend += rng.uniform(-0.43, -0.29)  # a -25 % .. -35 % day
            self._deviation += -DEVIATION_PULL * self._deviation + rng.gauss(0.0, regime.volatility)
            btc = math.exp(self._log_trend + self._deviation)
            btc_return = math.log(btc / self._btc)
            self._btc = btc
            self._eth *= math.exp(ETH_BETA * btc_return + rng.gauss(0.0, 0.012))
            self._realised += (self._btc - self._realised) * REALISED_WEIGHT
        self._btc_history.append(self._btc)
        z = min(max(Z_SCALE * (self._btc / self._realised - 1), Z_MIN), Z_MAX)
        momentum_7 = self._btc / self._btc_history[max(0, index - 7)] - 1
        momentum_14 = self._btc / self._btc_history[max(0, index - 14)] - 1
        funding = 0.0001 + 0.002 * momentum_7 + rng.gauss(0.0, 0.00004)
        funding = min(max(funding, FUNDING_MIN), FUNDING_MAX)
        day_change = self._btc / before_btc - 1
        target = 50 + 150 * momentum_14 + 300 * min(day_change, 0.0)
        self._fear_greed += 0.5 * (target - self._fear_greed) + rng.gauss(0.0, 3.0)
        self._fear_greed = min(max(self._fear_greed, 0.0), 100.0)
        before_iv = self._btc_iv
        self._btc_iv += IV_PULL * (self._iv_level(regime) - self._btc_iv)
        self._btc_iv += IV_CRASH_POINTS * max(-day_change, 0.0)
        self._btc_iv += self._options_rng.gauss(0.0, 1.5)
        self._btc_iv = min(max(self._btc_iv, IV_MIN), IV_MAX)
        before_eth_iv = self._eth_iv
        self._eth_iv = self._btc_iv * ETH_IV_RATIO + self._options_rng.gauss(0.0, 2.0)
        self._eth_iv = min(max(self._eth_iv, IV_MIN), IV_MAX)
        put_call = 0.6 - 1.2 * momentum_14 + 2.0 * max(-day_change, 0.0)
        put_call += self._options_rng.gauss(0.0, 0.04)
        put_call = min(max(put_call, PUT_CALL_MIN), PUT_CALL_MAX)
        observation = DailyObservation(
            day=self._start_day + timedelta(days=index),
            btc_price=_dec(self._btc, PRICE_PLACES),
            eth_price=_dec(self._eth, PRICE_PLACES),
            mvrv_z_score=_dec(z, Z_PLACES),
            funding_rate=_dec(funding, RATE_PLACES),
            fear_greed=round(self._fear_greed),
        )
        return SimulatedDay(
            observation=observation,
            btc_change_24h=_dec(day_change, Z_PLACES),
            eth_change_24h=_dec(self._eth / before_eth - 1, Z_PLACES),
            regime=regime.name,
            btc_implied_volatility=_dec(self._btc_iv, IV_PLACES),
            eth_implied_volatility=_dec(self._eth_iv, IV_PLACES),
            btc_iv_change_24h=_dec(self._btc_iv / before_iv - 1, Z_PLACES) if index > 0 else None,
            eth_iv_change_24h=_dec(self._eth_iv / before_eth_iv - 1, Z_PLACES)
            if index > 0
            else None,
            put_call_ratio=_dec(put_call, Z_PLACES),
        )

    @staticmethod
    def _iv_level(regime: Regime) -> float:
        # The black-swan day has no volatility of its own in the schedule: read it as a bear's.
        volatility = regime.volatility or BEAR.volatility
        return volatility * math.sqrt(365) * 100 * IV_PREMIUM


class Timeline:
    """Maps the injected clock to a simulated day index: `seconds_per_day` of clock time per
    simulated day since `started_at`, plus days added by hand."""

    def __init__(
        self, clock: Clock, *, seconds_per_day: float = 86_400.0, started_at: datetime | None = None
    ) -> None:
        if seconds_per_day <= 0:
            raise ValueError("seconds_per_day must be positive")
        self._clock = clock
        self._seconds_per_day = seconds_per_day
        self.started_at = started_at or clock.now()
        self._offset = 0

    def advance(self, days: int = 1) -> None:
        """Move the simulated calendar forward by whole days."""
        if days < 0:
            raise ValueError("the simulated market cannot go back in time")
        self._offset += days

    def day_index(self) -> int:
        """How many simulated days have passed."""
        elapsed = (self._clock.now() - self.started_at).total_seconds()
        return max(0, int(elapsed // self._seconds_per_day)) + self._offset


def market_data_from_day(
    day: DailyObservation,
    *,
    source: str,
    now: datetime,
    btc_change_24h: Decimal | None,
    eth_change_24h: Decimal | None,
    thresholds: PhaseThresholds = DEFAULT_THRESHOLDS,
    options: SimulatedDay | None = None,
) -> MarketData:
    """MarketData for one simulated or replayed day, observed now, fields known per the day.

    `options` carries a simulated day's options picture (DVOL, put/call); a replayed history
    has none, so those fields stay unknown.
    """
    freshness = Freshness(source=source, observed_at=now)
    values = {
        MarketField.BTC_PRICE: day.btc_price,
        MarketField.ETH_PRICE: day.eth_price,
        MarketField.MVRV_Z_SCORE: day.mvrv_z_score,
        MarketField.FUNDING_RATE: day.funding_rate,
        MarketField.FEAR_GREED_INDEX: day.fear_greed,
        MarketField.BTC_IMPLIED_VOLATILITY: options and options.btc_implied_volatility,
        MarketField.ETH_IMPLIED_VOLATILITY: options and options.eth_implied_volatility,
        MarketField.PUT_CALL_RATIO: options and options.put_call_ratio,
    }
    return MarketData(
        btc_price=day.btc_price,
        eth_price=day.eth_price,
        mvrv_z_score=day.mvrv_z_score,
        funding_rate=day.funding_rate,
        fear_greed_index=day.fear_greed,
        market_phase=classify_phase(day.mvrv_z_score, day.fear_greed, day.funding_rate, thresholds),
        timestamp=now,
        btc_change_24h=btc_change_24h,
        eth_change_24h=eth_change_24h,
        btc_implied_volatility=options.btc_implied_volatility if options else None,
        eth_implied_volatility=options.eth_implied_volatility if options else None,
        btc_iv_change_24h=options.btc_iv_change_24h if options else None,
        eth_iv_change_24h=options.eth_iv_change_24h if options else None,
        put_call_ratio=options.put_call_ratio if options else None,
        freshness={f: freshness for f, v in values.items() if v is not None},
    )


class SimulatedMarket:
    """The paper-trading MarketDataSource: a seeded scenario walked along an injected clock."""

    def __init__(
        self,
        *,
        clock: Clock,
        scenario: Scenario = Scenario.FULL_CYCLE,
        seed: int = 7,
        seconds_per_day: float = 86_400.0,
        start_day: date = DEFAULT_START_DAY,
        thresholds: PhaseThresholds = DEFAULT_THRESHOLDS,
        started_at: datetime | None = None,
    ) -> None:
        """`started_at` is the clock time of simulated day 0 (default: now), so a paper
        service restarted later resumes on the same simulated day."""
        self.scenario = scenario
        self.seed = seed
        self._clock = clock
        self._timeline = Timeline(clock, seconds_per_day=seconds_per_day, started_at=started_at)
        self._walk = _Walk(STORYLINES[scenario], seed, start_day)
        self._thresholds = thresholds
        self._last_success: datetime | None = None

    @property
    def source(self) -> str:
        """The name the freshness and health reports carry."""
        return f"simulated:{self.scenario.value}"

    def advance(self, days: int = 1) -> None:
        """Move the simulated market forward by whole days (tests, demos)."""
        self._timeline.advance(days)

    def day(self, index: int | None = None) -> SimulatedDay:
        """The simulated day at `index` (default: today's)."""
        index = self._timeline.day_index() if index is None else index
        if index < 0:
            raise ValueError("day index must not be negative")
        self._walk.extend_to(index)
        return self._walk.days[index]

    def history(self, days: int) -> Sequence[DailyObservation]:
        """The first `days` simulated days, as a backtest or a CSV export would read them."""
        if days <= 0:
            return ()
        self._walk.extend_to(days - 1)
        return tuple(d.observation for d in self._walk.days[:days])

    def current_prices(self) -> dict[str, Decimal]:
        """Today's simulated USD prices of BTC and ETH, for the dev chain's price oracle."""
        today = self.day().observation
        prices = {"BTC": today.btc_price}
        if today.eth_price is not None:  # the walk always prices ETH; the type allows None
            prices["ETH"] = today.eth_price
        return prices

    async def fetch(self) -> MarketData:
        """Today's simulated market data.

        Raises:
            MarketDataUnavailable: never in practice; declared by the port.
        """
        today = self.day()
        now = self._clock.now()
        try:
            data = market_data_from_day(
                today.observation,
                source=self.source,
                now=now,
                btc_change_24h=today.btc_change_24h,
                eth_change_24h=today.eth_change_24h,
                thresholds=self._thresholds,
                options=today,
            )
        except ValueError as exc:  # a domain validation failure would be a generator bug
            raise MarketDataUnavailable(self.source, str(exc), permanent=True) from exc
        self._last_success = now
        return data

    async def health(self) -> list[SourceHealth]:
        """Always ok: the simulation has no outside dependency."""
        return [
            SourceHealth(
                source=self.source,
                status=SourceStatus.OK,
                last_success=self._last_success,
                last_error=None,
            )
        ]
