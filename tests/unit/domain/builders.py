"""Small builders for domain tests: realistic portfolios, market data and contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.market import Freshness, MarketData, MarketField
from domain.phases import classify_phase
from domain.planner import PlanningPrices
from domain.portfolio import PortfolioState, Position
from domain.safety import SafetyContext

D = Decimal
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TVL = {"aave": D(12_000_000_000), "curve": D(2_000_000_000), "pendle": D(4_000_000_000)}
PRICES = PlanningPrices(
    asset_usd={"WBTC": D(60_000), "WETH": D(3_000)}, gas_price_gwei=D(20), eth_usd=D(3_000)
)


def position(protocol: str, asset: str, value: int | str, price: int | str = 1) -> Position:
    """A position worth `value` USD at `price` USD per unit."""
    value_d, price_d = D(value), D(price)
    return Position(
        protocol=protocol,
        asset=asset,
        amount=value_d / price_d,
        value_usd=value_d,
        apy=D("0.05"),
        entered_at=NOW,
    )


def portfolio(*positions: Position, cash: int | str = 0) -> PortfolioState:
    """A portfolio of the positions plus idle cash."""
    return PortfolioState.build(positions=tuple(positions), cash_balance=D(cash), as_of=NOW)


def balanced_400k() -> PortfolioState:
    """The reference treasury at its euphoria targets (60 / 24 / 16)."""
    return portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000, "0.96"),
        position("curve", "3CRV", 72_000, "1.03"),
        position("wallet", "WBTC", 48_000, 60_000),
        position("wallet", "WETH", 48_000, 3_000),
        cash=64_000,
    )


def market(
    *,
    mvrv: str | None = "2",
    fng: int | None = 60,
    funding: str | None = "0.0001",
    btc: str | None = "60000",
    eth: str | None = "3000",
    btc_change: str | None = "0.01",
    eth_change: str | None = "0.01",
    stale: tuple[MarketField, ...] = (),
    stablecoins: dict[str, Decimal] | None = None,
    btc_iv: str | None = None,
    eth_iv: str | None = None,
    btc_iv_change: str | None = None,
    eth_iv_change: str | None = None,
    put_call: str | None = None,
) -> MarketData:
    """Market data with every core field set unless told otherwise; Deribit's options fields
    are unknown unless given."""
    mvrv_d = D(mvrv) if mvrv is not None else None
    funding_d = D(funding) if funding is not None else None
    given = {
        MarketField.BTC_IMPLIED_VOLATILITY: btc_iv,
        MarketField.ETH_IMPLIED_VOLATILITY: eth_iv,
        MarketField.PUT_CALL_RATIO: put_call,
    }
    freshness = {
        f: Freshness(source="test", observed_at=NOW, stale=f in stale)
        for f in MarketField
        if given.get(f, "core") is not None
    }
    return MarketData(
        btc_price=D(btc) if btc else None,
        eth_price=D(eth) if eth else None,
        mvrv_z_score=mvrv_d,
        funding_rate=funding_d,
        fear_greed_index=fng,
        market_phase=classify_phase(mvrv_d, fng, funding_d),
        timestamp=NOW,
        btc_change_24h=D(btc_change) if btc_change else None,
        eth_change_24h=D(eth_change) if eth_change else None,
        stablecoin_prices=stablecoins or {},
        btc_implied_volatility=D(btc_iv) if btc_iv else None,
        eth_implied_volatility=D(eth_iv) if eth_iv else None,
        btc_iv_change_24h=D(btc_iv_change) if btc_iv_change else None,
        eth_iv_change_24h=D(eth_iv_change) if eth_iv_change else None,
        put_call_ratio=D(put_call) if put_call else None,
        freshness=freshness,
    )


def context(**changes: object) -> SafetyContext:
    """A safety context with known TVLs and a normal base fee."""
    values: dict[str, object] = {"now": NOW, "protocol_tvl_usd": TVL, "base_fee_gwei": D(20)}
    values.update(changes)
    return SafetyContext(**values)  # type: ignore[arg-type]
