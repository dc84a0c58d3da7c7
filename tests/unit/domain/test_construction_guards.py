"""Domain models refuse what money must never be built from, and the audit log refuses text it
cannot store, with the documented InvalidValue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.audit import canonical_json, seal_entry
from domain.errors import InvalidValue
from domain.market import MarketData, MarketPhase
from domain.planner import PlanningPrices
from domain.plans import Transaction, TransactionType
from domain.portfolio import PortfolioState, Position
from domain.safety import SafetyContext, SafetyLimits
from domain.tactical import RatchetState

D = Decimal
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_lone_surrogate_in_an_audit_payload_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        seal_entry(
            after_seq=0,
            prev_hash="0" * 64,
            at=NOW,
            actor="api",
            action="decision.created",
            subject_type="decision",
            subject_id="dec-1",
            payload={"reasoning": "half a pair: \ud800"},
        )


def test_a_lone_surrogate_in_an_audit_payload_key_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        canonical_json({"\udfff": "x"})


def _position(**changes: object) -> Position:
    values: dict[str, object] = {
        "protocol": "wallet",
        "asset": "WBTC",
        "amount": D(1),
        "value_usd": D(60_000),
        "apy": D(0),
        "entered_at": NOW,
    }
    values.update(changes)
    return Position(**values)  # type: ignore[arg-type]


def _market(**changes: object) -> MarketData:
    values: dict[str, object] = {
        "btc_price": D(60_000),
        "eth_price": D(3_000),
        "mvrv_z_score": D(2),
        "funding_rate": D("0.0001"),
        "fear_greed_index": 60,
        "market_phase": MarketPhase.EUPHORIA,
        "timestamp": NOW,
    }
    values.update(changes)
    return MarketData(**values)  # type: ignore[arg-type]


def _swap(**changes: object) -> Transaction:
    values: dict[str, object] = {
        "tx_type": TransactionType.SWAP,
        "protocol": "oneinch",
        "from_asset": "WBTC",
        "to_asset": "USDC",
        "amount": D(1),
        "amount_usd": D(60_000),
        "estimated_gas": 300_000,
        "estimated_gas_usd": D(18),
        "estimated_slippage_usd": D(30),
        "slippage_tolerance": D("0.005"),
    }
    values.update(changes)
    return Transaction(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: _position(amount=1.5), id="position-amount"),
        pytest.param(lambda: _position(value_usd=60_000.0), id="position-value"),
        pytest.param(lambda: _position(apy=0.05), id="position-apy"),
        pytest.param(
            lambda: PortfolioState.build(positions=(), cash_balance=100.0),  # type: ignore[arg-type]
            id="portfolio-cash",
        ),
        pytest.param(lambda: _market(btc_price=60_000.0), id="market-btc-price"),
        pytest.param(lambda: _market(mvrv_z_score=2.5), id="market-mvrv"),
        pytest.param(lambda: _market(funding_rate=0.0001), id="market-funding"),
        pytest.param(lambda: _market(btc_change_24h=-0.25), id="market-change"),
        pytest.param(lambda: _market(stablecoin_prices={"USDC": 0.9}), id="market-stablecoin"),
        pytest.param(lambda: _swap(amount=1.0), id="transaction-amount"),
        pytest.param(lambda: _swap(amount_usd=60_000.0), id="transaction-usd"),
        pytest.param(
            lambda: PlanningPrices(
                asset_usd={"WBTC": 60_000.0}, gas_price_gwei=D(20), eth_usd=D(3_000)
            ),  # type: ignore[dict-item]
            id="planning-prices",
        ),
        pytest.param(lambda: SafetyLimits(approval_threshold_usd=50_000.0), id="limits"),  # type: ignore[arg-type]
        pytest.param(lambda: SafetyContext(now=NOW, base_fee_gwei=20.0), id="context-fee"),  # type: ignore[arg-type]
        pytest.param(
            lambda: RatchetState(sold_fraction=0.25),
            id="ratchet",  # type: ignore[arg-type]
        ),
    ],
)
def test_a_float_reaching_a_domain_model_is_refused_at_construction(
    build: Callable[[], object],
) -> None:
    with pytest.raises(InvalidValue, match="float"):
        build()
