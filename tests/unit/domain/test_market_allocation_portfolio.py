"""Market data, allocations and the portfolio model validate their values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from domain.allocation import Bucket, Drift, TargetAllocations, rebalance_due, shares
from domain.errors import (
    AllocationsDoNotSumToOne,
    FearGreedOutOfRange,
    InvalidValue,
    NegativeAmount,
)
from domain.market import MarketData, MarketField, MarketPhase
from domain.portfolio import PortfolioState, Position, bucket_of
from tests.unit.domain.builders import NOW, balanced_400k, market, portfolio, position

D = Decimal


@pytest.mark.parametrize("fng", [-1, 101])
def test_fear_greed_outside_0_to_100_is_rejected(fng: int) -> None:
    with pytest.raises(FearGreedOutOfRange, match="0 to 100"):
        market(fng=fng)


@pytest.mark.parametrize("fng", [0, 100])
def test_fear_greed_bounds_are_accepted(fng: int) -> None:
    assert market(fng=fng).fear_greed_index == fng


def test_market_data_rejects_bad_prices_and_changes() -> None:
    with pytest.raises(InvalidValue):
        market(btc="0")
    with pytest.raises(InvalidValue):
        market(btc_iv="-1")
    with pytest.raises(InvalidValue):
        market(eth_iv_change="-1.01")
    with pytest.raises(NegativeAmount):
        market(put_call="-0.1")
    with pytest.raises(InvalidValue):
        market(btc_change="-1.5")
    with pytest.raises(NegativeAmount):
        market(stablecoins={"USDC": D(-1)})


def test_market_data_knows_prices_missing_and_stale_fields() -> None:
    m = market(mvrv=None, stale=(MarketField.FEAR_GREED_INDEX,), stablecoins={"DAI": D("0.999")})
    assert m.missing_fields() == (
        MarketField.MVRV_Z_SCORE,
        MarketField.BTC_IMPLIED_VOLATILITY,
        MarketField.ETH_IMPLIED_VOLATILITY,
        MarketField.PUT_CALL_RATIO,
    )
    assert m.stale_fields() == (MarketField.FEAR_GREED_INDEX,)
    assert m.price_of("wbtc") == D(60000)
    assert m.price_of("ETH") == D(3000)
    assert m.price_of("USDC") == 1
    assert m.price_of("DAI") == D("0.999")
    assert m.price_of("XYZ") is None


def test_market_data_requires_an_aware_timestamp() -> None:
    with pytest.raises(InvalidValue):
        MarketData(
            btc_price=None,
            eth_price=None,
            mvrv_z_score=None,
            funding_rate=None,
            fear_greed_index=None,
            market_phase=MarketPhase.EUPHORIA,
            timestamp=datetime(2026, 1, 1),  # noqa: DTZ001
        )


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        pytest.param(("0.6", "0.3", "0.1"), True, id="exact"),
        pytest.param(("0.6", "0.3", "0.1000009"), True, id="within-1e-6"),
        pytest.param(("0.6", "0.3", "0.1000011"), False, id="beyond-1e-6"),
        pytest.param(("0.5", "0.3", "0.1"), False, id="sums-to-0.9"),
    ],
)
def test_target_allocations_must_sum_to_one(values: tuple[str, str, str], ok: bool) -> None:
    if ok:
        TargetAllocations(D(values[0]), D(values[1]), D(values[2]))
    else:
        with pytest.raises(AllocationsDoNotSumToOne, match="must sum to 1"):
            TargetAllocations(D(values[0]), D(values[1]), D(values[2]))


def test_target_allocations_from_a_mapping() -> None:
    t = TargetAllocations.from_mapping({"base": D("0.6"), "tactical": D("0.3"), "cash": D("0.1")})
    assert t.as_dict() == {"base_yield": D("0.6"), "tactical": D("0.3"), "cash": D("0.1")}
    with pytest.raises(InvalidValue, match="unknown bucket"):
        TargetAllocations.from_mapping({"base": D(1), "tactical": D(0), "cash": D(0), "x": D(0)})
    with pytest.raises(InvalidValue, match="missing bucket"):
        TargetAllocations.from_mapping({"base": D(1)})


def test_drift_and_rebalance_due() -> None:
    target = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))
    drift = Drift(
        current={Bucket.BASE_YIELD: D("0.6"), Bucket.TACTICAL: D("0.30"), Bucket.CASH: D("0.10")},
        target=target,
    )
    assert drift.of(Bucket.TACTICAL) == D("0.06")
    assert drift.max_abs() == D("0.06")
    assert rebalance_due(drift)
    assert not rebalance_due(drift, band=D("0.06"))
    assert rebalance_due(drift, band=D("0.06"), threshold_crossed=True)
    with pytest.raises(InvalidValue):
        rebalance_due(drift, band=D(-1))


def test_shares_of_an_empty_treasury_are_zero() -> None:
    assert shares({}) == {b: 0 for b in Bucket}


@pytest.mark.parametrize(
    ("protocol", "asset", "bucket"),
    [
        ("wallet", "WBTC", Bucket.TACTICAL),
        ("wallet", "weth", Bucket.TACTICAL),
        ("wallet", "USDC", Bucket.CASH),
        ("aave", "USDC", Bucket.BASE_YIELD),
        ("curve", "3CRV", Bucket.BASE_YIELD),
    ],
)
def test_holdings_are_classified_into_buckets(protocol: str, asset: str, bucket: Bucket) -> None:
    assert bucket_of(protocol, asset) is bucket


def test_portfolio_totals_allocations_and_shares() -> None:
    p = balanced_400k()
    assert p.total_value_usd == 400_000
    alloc = p.current_allocations()
    assert alloc == {
        Bucket.BASE_YIELD: D("0.6"),
        Bucket.TACTICAL: D("0.24"),
        Bucket.CASH: D("0.16"),
    }
    assert p.volatile_value() == 96_000
    assert p.position_shares()[("aave", "USDC")] == D("0.24")
    assert p.allocations[Bucket.CASH].current == D("0.16")
    pos = p.positions[3]
    assert pos.unit_price_usd == 60_000
    assert pos.is_volatile
    assert pos.bucket is Bucket.TACTICAL


def test_portfolio_total_must_match_positions_and_cash() -> None:
    with pytest.raises(InvalidValue, match="must equal positions"):
        PortfolioState(
            total_value_usd=D(1),
            positions=(),
            cash_balance=D(2),
            allocations={},
            last_rebalance=None,
        )


def test_portfolio_rejects_duplicate_positions_and_negative_values() -> None:
    with pytest.raises(InvalidValue, match="appears once"):
        portfolio(position("aave", "USDC", 1), position("aave", "USDC", 2))
    with pytest.raises(NegativeAmount):
        position("aave", "USDC", -1)
    with pytest.raises(InvalidValue):
        Position(protocol="", asset="USDC", amount=D(1), value_usd=D(1), apy=D(0), entered_at=NOW)
    with pytest.raises(InvalidValue):
        Position(
            protocol="aave", asset="USDC", amount=D(1), value_usd=D(1), apy=D(-2), entered_at=NOW
        )
    with pytest.raises(NegativeAmount):
        Position(
            protocol="aave",
            asset="USDC",
            amount=D(1),
            value_usd=D(1),
            apy=D(0),
            entered_at=NOW,
            cost_basis_usd=D(-1),
        )


def test_empty_portfolio_has_zero_shares() -> None:
    p = portfolio(position("aave", "USDC", 0))
    assert p.position_shares() == {("aave", "USDC"): 0}
    assert p.positions[0].unit_price_usd == 0
