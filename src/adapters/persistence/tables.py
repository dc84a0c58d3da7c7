"""ORM rows (SQLAlchemy 2.0 `Mapped[...]`), kept apart from the domain classes.

`codec.py` maps rows to domain values and back; nothing here knows the domain. Amounts are
`ExactDecimal` (NUMERIC(38, 18)); times are `UtcDateTime`; nested lists and maps are JSON text
written with Decimals as strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from adapters.persistence.types import ExactDecimal, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = 100
SHORT = 40
NAME = 200


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditRow(Base):
    """One sealed audit entry."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(NAME))
    action: Mapped[str] = mapped_column(String(NAME))
    subject_type: Mapped[str] = mapped_column(String(ID))
    subject_id: Mapped[str] = mapped_column(String(NAME))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PortfolioSnapshotRow(Base):
    """A PortfolioState at one moment."""

    __tablename__ = "portfolio_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    total_value_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    cash_balance: Mapped[Decimal] = mapped_column(ExactDecimal)
    cash_asset: Mapped[str] = mapped_column(String(SHORT))
    last_rebalance: Mapped[datetime | None] = mapped_column(UtcDateTime)
    performance_24h: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    performance_7d: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    performance_30d: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    allocations: Mapped[str] = mapped_column(Text)
    extra: Mapped[str] = mapped_column(Text)
    net_flow_usd: Mapped[Decimal] = mapped_column(ExactDecimal, server_default="0")


class SnapshotPositionRow(Base):
    """One position inside a snapshot, in its original order."""

    __tablename__ = "snapshot_positions"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    position_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chain: Mapped[str] = mapped_column(String(SHORT))
    protocol: Mapped[str] = mapped_column(String(ID))
    asset: Mapped[str] = mapped_column(String(ID))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    value_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    apy: Mapped[Decimal] = mapped_column(ExactDecimal)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    current_return: Mapped[Decimal] = mapped_column(ExactDecimal)
    cost_basis_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)


class PositionRow(Base):
    """A current position."""

    __tablename__ = "positions"

    chain: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(ID), primary_key=True)
    asset: Mapped[str] = mapped_column(String(ID), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    value_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    apy: Mapped[Decimal] = mapped_column(ExactDecimal)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    current_return: Mapped[Decimal] = mapped_column(ExactDecimal)
    cost_basis_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)


class MarketDataRow(Base):
    """One MarketData observation."""

    __tablename__ = "market_data"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    btc_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    eth_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    mvrv_z_score: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    funding_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    fear_greed_index: Mapped[int | None] = mapped_column(Integer)
    market_phase: Mapped[str] = mapped_column(String(SHORT))
    btc_change_24h: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    eth_change_24h: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stablecoin_prices: Mapped[str] = mapped_column(Text)
    btc_implied_volatility: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    eth_implied_volatility: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    btc_iv_change_24h: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    eth_iv_change_24h: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    put_call_ratio: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    freshness: Mapped[str] = mapped_column(Text)


class SignalRow(Base):
    """One AllocationSignal."""

    __tablename__ = "signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    body: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(SHORT))
    market_phase: Mapped[str] = mapped_column(String(SHORT))
    confidence: Mapped[Decimal] = mapped_column(ExactDecimal)


class DecisionRow(Base):
    """A decision with its optimistic version."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(SHORT), index=True)
    kind: Mapped[str] = mapped_column(String(SHORT))
    advisor: Mapped[str] = mapped_column(String(ID))
    model: Mapped[str | None] = mapped_column(String(NAME))
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    target_base_yield: Mapped[Decimal] = mapped_column(ExactDecimal)
    target_tactical: Mapped[Decimal] = mapped_column(ExactDecimal)
    target_cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    reasoning: Mapped[str] = mapped_column(Text)
    risk_assessment: Mapped[str] = mapped_column(String(SHORT))
    plan_id: Mapped[str | None] = mapped_column(String(ID))
    verdict_reasons: Mapped[str] = mapped_column(Text)
    approver: Mapped[str | None] = mapped_column(String(NAME))
    notes: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signal: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class PlanRow(Base):
    """A RebalancingPlan (its transactions are PlannedTransactionRow)."""

    __tablename__ = "rebalancing_plans"

    plan_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    decision_id: Mapped[str | None] = mapped_column(String(ID), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(SHORT))
    current_allocations: Mapped[str] = mapped_column(Text)
    target_base_yield: Mapped[Decimal] = mapped_column(ExactDecimal)
    target_tactical: Mapped[Decimal] = mapped_column(ExactDecimal)
    target_cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    estimated_gas_cost: Mapped[Decimal] = mapped_column(ExactDecimal)
    estimated_slippage: Mapped[Decimal] = mapped_column(ExactDecimal)
    requires_approval: Mapped[bool]
    risk_level: Mapped[str] = mapped_column(String(SHORT))
    max_slippage: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    skipped: Mapped[str] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text)
    approval_reasons: Mapped[str] = mapped_column(Text)


class PlannedTransactionRow(Base):
    """One planned move of a plan, in order."""

    __tablename__ = "planned_transactions"

    plan_id: Mapped[str] = mapped_column(
        ForeignKey("rebalancing_plans.plan_id", ondelete="CASCADE"), primary_key=True
    )
    step_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_type: Mapped[str] = mapped_column(String(SHORT))
    protocol: Mapped[str] = mapped_column(String(ID))
    from_asset: Mapped[str] = mapped_column(String(ID))
    to_asset: Mapped[str] = mapped_column(String(ID))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    amount_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    estimated_gas: Mapped[int] = mapped_column(BigInteger)
    estimated_gas_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    estimated_slippage_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    slippage_tolerance: Mapped[Decimal] = mapped_column(ExactDecimal)
    chain: Mapped[str] = mapped_column(String(SHORT))
    full_exit: Mapped[bool]
    market: Mapped[str | None] = mapped_column(String(NAME), nullable=True)


class ExecutedTransactionRow(Base):
    """One on-chain step and its latest state."""

    __tablename__ = "executed_transactions"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(ID), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(SHORT))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(SHORT), index=True)
    amount_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    to_address: Mapped[str | None] = mapped_column(String(SHORT + 2))
    from_address: Mapped[str | None] = mapped_column(String(SHORT + 2))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    gas_estimated: Mapped[int | None] = mapped_column(BigInteger)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    effective_gas_price_wei: Mapped[int | None] = mapped_column(BigInteger)
    gas_cost_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class RatchetRow(Base):
    """The MVRV sell ratchet and the last exit (one row per strategy name)."""

    __tablename__ = "ratchet_state"

    name: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    sold_fraction: Mapped[Decimal] = mapped_column(ExactDecimal)
    last_mvrv_z_score: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    last_phase: Mapped[str | None] = mapped_column(String(SHORT))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_exit_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SlippageBudgetRow(Base):
    """Slippage counted against the budget."""

    __tablename__ = "slippage_budget_state"

    name: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    used_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    as_of: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BreakerRow(Base):
    """The circuit breaker's consecutive failures."""

    __tablename__ = "breaker_state"

    name: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer)


class OperatorFlagRow(Base):
    """An operator switch's latest value."""

    __tablename__ = "operator_flags"

    name: Mapped[str] = mapped_column(String(ID), primary_key=True)
    active: Mapped[bool]
    set_by: Mapped[str] = mapped_column(String(NAME))
    reason: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ManualMvrvRow(Base):
    """A manual MVRV Z value (all are kept; the newest by time wins)."""

    __tablename__ = "manual_mvrv"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    value: Mapped[Decimal] = mapped_column(ExactDecimal)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    set_by: Mapped[str] = mapped_column(String(NAME))


class DecisionOutcomeRow(Base):
    """How a decision turned out over one horizon."""

    __tablename__ = "decision_outcomes"

    decision_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    horizon_days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    portfolio_return: Mapped[Decimal] = mapped_column(ExactDecimal)
    hold_return: Mapped[Decimal] = mapped_column(ExactDecimal)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class NotificationDeliveryRow(Base):
    """One attempt to deliver one notification to one channel, and its outcome."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_channel_at", "channel", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(ID))
    event_kind: Mapped[str] = mapped_column(String(SHORT))
    severity: Mapped[str] = mapped_column(String(SHORT))
    dedup_key: Mapped[str] = mapped_column(String(NAME))
    title: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(SHORT))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class BroadcastAttemptRow(Base):
    """One signed transaction for one on-chain step, written before it is broadcast."""

    __tablename__ = "broadcast_attempts"
    __table_args__ = (Index("ix_broadcast_attempts_sender_chain", "chain_id", "sender"),)

    step_id: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(SHORT + 2))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    raw_transaction: Mapped[str] = mapped_column(Text)
    max_fee_per_gas: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_priority_fee_per_gas: Mapped[Decimal] = mapped_column(ExactDecimal)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    gas_estimated: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The genesis block hash of the chain it was signed for ("" before instances were kept).
    chain_instance: Mapped[str] = mapped_column(String(66), server_default="")
    # When a step of a chain that no longer exists was settled as "chain reset".
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StepOutcomeRow(Base):
    """The mined outcome of one on-chain step."""

    __tablename__ = "step_outcomes"

    step_id: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    nonce: Mapped[int] = mapped_column(BigInteger)
    success: Mapped[bool] = mapped_column(Boolean)
    gas_estimated: Mapped[int] = mapped_column(BigInteger)
    gas_used: Mapped[int] = mapped_column(BigInteger)
    effective_gas_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    block_number: Mapped[int] = mapped_column(BigInteger)
    replaced_hashes: Mapped[str] = mapped_column(Text)
