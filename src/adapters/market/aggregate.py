"""The live MarketDataSource: five cached sources read concurrently into one MarketData.

Each field carries its Freshness (source, observation time, stale, manual, age). A source that
fails leaves its fields stale or None; the fetch raises only when no field at all could be
produced by the four core sources (Deribit's options fields are extras: None when Deribit
cannot be read, and never enough on their own). MVRV Z falls back to the operator's manual
value when Glassnode is not configured, or fails with no cached value young enough, or when
the manual value is newer than the cached Glassnode point while Glassnode is failing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from adapters.market.cache import (
    DEFAULT_ERROR_COOLDOWN_S,
    DEFAULT_MAX_STALE_S,
    DEFAULT_TTL_S,
    Reading,
    Served,
    SourceCache,
)
from adapters.market.coingecko import (
    DEFAULT_BASE_URL as COINGECKO_URL,
)
from adapters.market.coingecko import (
    CoinGeckoPlan,
    CoinGeckoPrices,
    SpotPrices,
)
from adapters.market.coinglass import DEFAULT_BASE_URL as COINGLASS_URL
from adapters.market.coinglass import SOURCE as COINGLASS
from adapters.market.coinglass import CoinglassFunding, FundingRates
from adapters.market.deribit import DEFAULT_BASE_URL as DERIBIT_URL
from adapters.market.deribit import SOURCE as DERIBIT
from adapters.market.deribit import DeribitOptions, OptionsMarket
from adapters.market.errors import SourceNotConfigured
from adapters.market.fear_greed import DEFAULT_BASE_URL as FEAR_GREED_URL
from adapters.market.fear_greed import SOURCE as FEAR_GREED
from adapters.market.fear_greed import FearGreedIndex
from adapters.market.glassnode import DEFAULT_BASE_URL as GLASSNODE_URL
from adapters.market.glassnode import SOURCE as GLASSNODE
from adapters.market.glassnode import GlassnodeMvrv
from application.errors import ApplicationError, MarketDataUnavailable
from application.ports.clock import Clock
from application.ports.market import ManualMvrvStore, SourceHealth, SourceStatus
from domain.market import Freshness, MarketData, MarketField
from domain.phases import PhaseThresholds, classify_phase

logger = logging.getLogger(__name__)

T = TypeVar("T")

MANUAL_SOURCE = "manual"
DEFAULT_THRESHOLDS = PhaseThresholds()
DEFAULT_MANUAL_MAX_AGE_S = 7 * 24 * 3600.0
# The whole fetch may take the per-source budget plus this much (scheduling, parsing).
FETCH_MARGIN_S = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveMarketConfig:
    """Plain settings for the live sources. Keys are kept out of the repr."""

    coingecko_base_url: str = COINGECKO_URL
    coingecko_api_key: str | None = field(default=None, repr=False)
    coingecko_plan: CoinGeckoPlan = CoinGeckoPlan.DEMO
    glassnode_base_url: str = GLASSNODE_URL
    glassnode_api_key: str | None = field(default=None, repr=False)
    coinglass_base_url: str = COINGLASS_URL
    coinglass_api_key: str | None = field(default=None, repr=False)
    fear_greed_base_url: str = FEAR_GREED_URL
    deribit_base_url: str = DERIBIT_URL
    cache_ttl_s: float = DEFAULT_TTL_S
    source_timeout_s: float = 4.0
    max_stale_s: float = DEFAULT_MAX_STALE_S
    error_cooldown_s: float = DEFAULT_ERROR_COOLDOWN_S
    manual_mvrv_max_age_s: float = DEFAULT_MANUAL_MAX_AGE_S


def _freshness(served: Served[Any], now: datetime) -> Freshness:
    return Freshness(
        source=served.source,
        observed_at=served.observed_at,
        stale=served.stale,
        age_seconds=max(Decimal(str((now - served.observed_at).total_seconds())), Decimal(0)),
    )


class LiveMarketData:
    """MarketDataSource over CoinGecko, Glassnode (or the manual MVRV), Coinglass,
    Alternative.me and Deribit, each behind its own SourceCache."""

    def __init__(
        self,
        *,
        prices: SourceCache[SpotPrices],
        mvrv: SourceCache[Decimal] | None,
        funding: SourceCache[FundingRates],
        fear_greed: SourceCache[int],
        clock: Clock,
        options: SourceCache[OptionsMarket] | None = None,
        manual_mvrv: ManualMvrvStore | None = None,
        manual_max_age_s: float = DEFAULT_MANUAL_MAX_AGE_S,
        fetch_budget_s: float | None = None,
        thresholds: PhaseThresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        self._prices = prices
        self._mvrv = mvrv
        self._funding = funding
        self._fear_greed = fear_greed
        self._options = options
        self._clock = clock
        self._manual = manual_mvrv
        self._manual_max_age = timedelta(seconds=manual_max_age_s)
        self._fetch_budget_s = fetch_budget_s
        self._thresholds = thresholds
        self._fetched_once = False

    def __repr__(self) -> str:
        return "LiveMarketData(coingecko, glassnode, coinglass, alternative.me, deribit)"

    async def fetch(self) -> MarketData:
        """Read every source concurrently and assemble MarketData.

        Raises:
            MarketDataUnavailable: not one field could be produced.
        """
        self._fetched_once = True
        prices, mvrv, funding, fng, options, manual = await asyncio.gather(
            self._serve(self._prices),
            self._serve(self._mvrv) if self._mvrv is not None else _none(),
            self._serve(self._funding),
            self._serve(self._fear_greed),
            self._serve(self._options) if self._options is not None else _none(),
            self._manual_reading(),
        )
        now = self._clock.now()
        freshness: dict[MarketField, Freshness] = {}
        values: dict[str, Any] = {}
        if prices is not None:
            values.update(
                btc_price=prices.value.btc_usd,
                eth_price=prices.value.eth_usd,
                btc_change_24h=prices.value.btc_change_24h,
                eth_change_24h=prices.value.eth_change_24h,
            )
            freshness[MarketField.BTC_PRICE] = freshness[MarketField.ETH_PRICE] = _freshness(
                prices, now
            )
        mvrv_value, mvrv_freshness = self._choose_mvrv(mvrv, manual, now)
        if mvrv_freshness is not None:
            freshness[MarketField.MVRV_Z_SCORE] = mvrv_freshness
        if funding is not None:
            values["funding_rate"] = funding.value.average
            freshness[MarketField.FUNDING_RATE] = _freshness(funding, now)
        if fng is not None:
            values["fear_greed_index"] = fng.value
            freshness[MarketField.FEAR_GREED_INDEX] = _freshness(fng, now)
        if not freshness:
            reasons = "; ".join(
                h.last_error or f"{h.source}: no value" for h in await self.health()
            )
            raise MarketDataUnavailable("market", f"no source could be read ({reasons})")
        options_values = self._options_values(options, now, freshness)
        funding_rate = values.get("funding_rate")
        fear_greed = values.get("fear_greed_index")
        return MarketData(
            btc_price=values.get("btc_price"),
            eth_price=values.get("eth_price"),
            mvrv_z_score=mvrv_value,
            funding_rate=funding_rate,
            fear_greed_index=fear_greed,
            market_phase=classify_phase(mvrv_value, fear_greed, funding_rate, self._thresholds),
            timestamp=now,
            btc_change_24h=values.get("btc_change_24h"),
            eth_change_24h=values.get("eth_change_24h"),
            freshness=freshness,
            btc_implied_volatility=options_values.get("btc_implied_volatility"),
            eth_implied_volatility=options_values.get("eth_implied_volatility"),
            btc_iv_change_24h=options_values.get("btc_iv_change_24h"),
            eth_iv_change_24h=options_values.get("eth_iv_change_24h"),
            put_call_ratio=options_values.get("put_call_ratio"),
        )

    def _options_values(
        self,
        options: Served[OptionsMarket] | None,
        now: datetime,
        freshness: dict[MarketField, Freshness],
    ) -> dict[str, Decimal | None]:
        """Deribit's fields, with their freshness added; empty when Deribit gave nothing."""
        if options is None:
            return {}
        info = _freshness(options, now)
        market = options.value
        values: dict[str, Decimal | None] = {
            "btc_implied_volatility": market.implied_volatility.get("BTC"),
            "eth_implied_volatility": market.implied_volatility.get("ETH"),
            "btc_iv_change_24h": market.iv_change_24h.get("BTC"),
            "eth_iv_change_24h": market.iv_change_24h.get("ETH"),
            "put_call_ratio": market.put_call_ratio,
        }
        for market_field in (
            MarketField.BTC_IMPLIED_VOLATILITY,
            MarketField.ETH_IMPLIED_VOLATILITY,
            MarketField.PUT_CALL_RATIO,
        ):
            if values[market_field.value] is not None:
                freshness[market_field] = info
        return values

    async def _serve(self, cache: SourceCache[T]) -> Served[T] | None:
        try:
            if self._fetch_budget_s is None:
                return await cache.get()
            # Belt and braces: the transport already bounds each source by its budget.
            async with asyncio.timeout(self._fetch_budget_s):
                return await cache.get()
        except TimeoutError:
            logger.warning("market source over budget", extra={"source": cache.source})
            return None
        except MarketDataUnavailable as exc:
            logger.warning(
                "market field missing", extra={"source": cache.source, "error": str(exc)}
            )
            return None

    async def _manual_reading(self) -> Reading[Decimal] | None:
        if self._manual is None:
            return None
        try:
            found = await self._manual.get_manual_mvrv()
        except ApplicationError as exc:
            # The store (a database) being down must not cost us the other fields.
            logger.warning("manual MVRV store unavailable", extra={"error": str(exc)})
            return None
        if found is None:
            return None
        value, at = found
        if self._clock.now() - at > self._manual_max_age:
            return None
        return Reading(value=value, observed_at=at)

    def _choose_mvrv(
        self, glassnode: Served[Decimal] | None, manual: Reading[Decimal] | None, now: datetime
    ) -> tuple[Decimal | None, Freshness | None]:
        use_manual = manual is not None and (
            glassnode is None or (glassnode.stale and manual.observed_at > glassnode.observed_at)
        )
        if use_manual and manual is not None:
            age = max(Decimal(str((now - manual.observed_at).total_seconds())), Decimal(0))
            return manual.value, Freshness(
                source=MANUAL_SOURCE, observed_at=manual.observed_at, manual=True, age_seconds=age
            )
        if glassnode is not None:
            return glassnode.value, _freshness(glassnode, now)
        return None, None

    async def health(self) -> list[SourceHealth]:
        """Health of CoinGecko, Glassnode, Coinglass, Alternative.me and Deribit.

        Before the first fetch, one fetch runs so that the report says something true.
        """
        if not self._fetched_once:
            try:
                await self.fetch()
            except MarketDataUnavailable as exc:
                logger.warning("market health probe found no data", extra={"error": str(exc)})
        report = [self._prices.health()]
        if self._mvrv is not None:
            report.append(self._mvrv.health())
        else:
            manual = await self._manual_reading()
            report.append(
                SourceHealth(
                    source=GLASSNODE,
                    status=SourceStatus.DEGRADED if manual is not None else SourceStatus.DOWN,
                    last_success=None,
                    last_error=str(
                        SourceNotConfigured(
                            GLASSNODE,
                            "no API key; using the manual MVRV value"
                            if manual is not None
                            else "no API key and no manual MVRV value (`treasury market set-mvrv`)",
                        )
                    ),
                )
            )
        report += [self._funding.health(), self._fear_greed.health()]
        if self._options is not None:
            report.append(self._options.health())
        return report


async def _none() -> None:
    return None


def build_live_market(
    client: httpx.AsyncClient,
    config: LiveMarketConfig,
    *,
    clock: Clock,
    manual_mvrv: ManualMvrvStore | None = None,
    thresholds: PhaseThresholds = DEFAULT_THRESHOLDS,
) -> LiveMarketData:
    """Wire the five live sources over one shared httpx client."""
    budget = config.source_timeout_s

    def cached(source: str, read: Any) -> Any:
        return SourceCache(
            source,
            read,
            clock=clock,
            ttl_s=config.cache_ttl_s,
            max_stale_s=config.max_stale_s,
            error_cooldown_s=config.error_cooldown_s,
        )

    prices = CoinGeckoPrices(
        client=client,
        clock=clock,
        base_url=config.coingecko_base_url,
        api_key=config.coingecko_api_key,
        plan=config.coingecko_plan,
        budget_s=budget,
    )
    mvrv = (
        GlassnodeMvrv(
            client=client,
            clock=clock,
            api_key=config.glassnode_api_key,
            base_url=config.glassnode_base_url,
            budget_s=budget,
        )
        if config.glassnode_api_key
        else None
    )
    funding = CoinglassFunding(
        client=client,
        clock=clock,
        api_key=config.coinglass_api_key,
        base_url=config.coinglass_base_url,
        budget_s=budget,
    )
    fng = FearGreedIndex(client=client, base_url=config.fear_greed_base_url, budget_s=budget)
    options = DeribitOptions(
        client=client, clock=clock, base_url=config.deribit_base_url, budget_s=budget
    )
    return LiveMarketData(
        prices=cached("coingecko", prices.read),
        mvrv=cached(GLASSNODE, mvrv.read) if mvrv is not None else None,
        funding=cached(COINGLASS, funding.read),
        fear_greed=cached(FEAR_GREED, fng.read),
        options=cached(DERIBIT, options.read),
        clock=clock,
        manual_mvrv=manual_mvrv,
        manual_max_age_s=config.manual_mvrv_max_age_s,
        fetch_budget_s=budget + FETCH_MARGIN_S,
        thresholds=thresholds,
    )


def create_market_client(*, trust_env: bool = True) -> httpx.AsyncClient:
    """The one httpx client the market sources share (connection pooling, no redirects)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        trust_env=trust_env,
        headers={"user-agent": "treasury-manager"},
    )
