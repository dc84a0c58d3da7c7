"""Explicit mappings between ORM rows and domain values, both ways.

Nested values (allocations, reasons, freshness) are stored as JSON text with Decimals and times
as strings (`domain.audit.canonical_json`), and read back with Decimal parsing, so nothing is
ever a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.persistence import tables as t
from application.ports.persistence import DecisionOutcome, ManualMvrv, OperatorFlag
from domain.allocation import Bucket, TargetAllocations
from domain.audit import AuditEntry, canonical_json
from domain.budget import BreakerState, SlippageBudgetState
from domain.decisions import Decision, DecisionKind, DecisionStatus
from domain.execution import ExecutedTransaction, StepKind, StepStatus
from domain.market import Freshness, MarketData, MarketField, MarketPhase
from domain.plans import PlanKind, RebalancingPlan, SkippedMove, Transaction, TransactionType
from domain.portfolio import AllocationLine, PortfolioState, Position
from domain.signals import AllocationMode, AllocationSignal, RiskLevel
from domain.tactical import RatchetState


def dumps(value: object) -> str:
    """JSON text with sorted keys and Decimals/datetimes as strings."""
    return canonical_json(value)


def loads(text: str) -> Any:
    """Parse JSON text written by `dumps`, numbers as Decimal or int."""
    return json.loads(text, parse_float=Decimal)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _opt_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def targets_json(targets: TargetAllocations) -> dict[str, str]:
    """Target allocations as a JSON object of strings."""
    return {k: str(v) for k, v in targets.as_dict().items()}


def targets_from_json(data: Mapping[str, Any]) -> TargetAllocations:
    """Target allocations from `targets_json` output."""
    return TargetAllocations.from_mapping({k: _dec(v) for k, v in data.items()})


# --- audit ---------------------------------------------------------------------------------


def audit_to_row(entry: AuditEntry) -> t.AuditRow:
    """An audit entry as a row; the payload keeps its canonical JSON."""
    return t.AuditRow(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject_type=entry.subject_type,
        subject_id=entry.subject_id,
        payload=dumps(dict(entry.payload)),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def audit_from_row(row: t.AuditRow) -> AuditEntry:
    """An audit entry as stored (hashes are not recomputed here; `verify` does that)."""
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# --- positions and snapshots ---------------------------------------------------------------


def position_fields(p: Position) -> dict[str, Any]:
    """The columns a position fills (shared by current and snapshot positions)."""
    return {
        "chain": p.chain,
        "protocol": p.protocol,
        "asset": p.asset,
        "amount": p.amount,
        "value_usd": p.value_usd,
        "apy": p.apy,
        "entered_at": p.entered_at,
        "current_return": p.current_return,
        "cost_basis_usd": p.cost_basis_usd,
    }


def position_from_row(row: t.PositionRow | t.SnapshotPositionRow) -> Position:
    """A Position from either position row."""
    return Position(
        protocol=row.protocol,
        asset=row.asset,
        amount=row.amount,
        value_usd=row.value_usd,
        apy=row.apy,
        entered_at=row.entered_at,
        current_return=row.current_return,
        chain=row.chain,
        cost_basis_usd=row.cost_basis_usd,
    )


def snapshot_to_row(state: PortfolioState, as_of: datetime) -> t.PortfolioSnapshotRow:
    """A snapshot row (positions are added separately, in order)."""
    return t.PortfolioSnapshotRow(
        as_of=as_of,
        total_value_usd=state.total_value_usd,
        cash_balance=state.cash_balance,
        cash_asset=state.cash_asset,
        last_rebalance=state.last_rebalance,
        performance_24h=state.performance_24h,
        performance_7d=state.performance_7d,
        performance_30d=state.performance_30d,
        allocations=dumps(
            {
                b.value: {"current": line.current, "target": line.target}
                for b, line in state.allocations.items()
            }
        ),
        extra=dumps(dict(state.extra)),
        net_flow_usd=state.net_flow_usd,
    )


def snapshot_from_row(
    row: t.PortfolioSnapshotRow, positions: list[t.SnapshotPositionRow]
) -> PortfolioState:
    """A PortfolioState from its row and its position rows."""
    allocations = {
        Bucket(name): AllocationLine(current=_dec(line["current"]), target=_opt_dec(line["target"]))
        for name, line in loads(row.allocations).items()
    }
    return PortfolioState(
        total_value_usd=row.total_value_usd,
        positions=tuple(
            position_from_row(p) for p in sorted(positions, key=lambda p: p.position_index)
        ),
        cash_balance=row.cash_balance,
        allocations=allocations,
        last_rebalance=row.last_rebalance,
        performance_24h=row.performance_24h,
        performance_7d=row.performance_7d,
        performance_30d=row.performance_30d,
        as_of=row.as_of,
        cash_asset=row.cash_asset,
        extra={str(k): str(v) for k, v in loads(row.extra).items()},
        net_flow_usd=row.net_flow_usd,
    )


# --- market data and signals ---------------------------------------------------------------


def market_to_row(m: MarketData) -> t.MarketDataRow:
    """A MarketData row."""
    return t.MarketDataRow(
        timestamp=m.timestamp,
        btc_price=m.btc_price,
        eth_price=m.eth_price,
        mvrv_z_score=m.mvrv_z_score,
        funding_rate=m.funding_rate,
        fear_greed_index=m.fear_greed_index,
        market_phase=m.market_phase.value,
        btc_change_24h=m.btc_change_24h,
        eth_change_24h=m.eth_change_24h,
        stablecoin_prices=dumps(dict(m.stablecoin_prices)),
        btc_implied_volatility=m.btc_implied_volatility,
        eth_implied_volatility=m.eth_implied_volatility,
        btc_iv_change_24h=m.btc_iv_change_24h,
        eth_iv_change_24h=m.eth_iv_change_24h,
        put_call_ratio=m.put_call_ratio,
        freshness=dumps(
            {
                f.value: {
                    "source": info.source,
                    "observed_at": info.observed_at,
                    "stale": info.stale,
                    "manual": info.manual,
                    "age_seconds": info.age_seconds,
                }
                for f, info in m.freshness.items()
            }
        ),
    )


def market_from_row(row: t.MarketDataRow) -> MarketData:
    """MarketData from its row."""
    freshness = {
        MarketField(name): Freshness(
            source=info["source"],
            observed_at=_time(info["observed_at"]),
            stale=bool(info["stale"]),
            manual=bool(info["manual"]),
            age_seconds=_dec(info["age_seconds"]),
        )
        for name, info in loads(row.freshness).items()
    }
    return MarketData(
        btc_price=row.btc_price,
        eth_price=row.eth_price,
        mvrv_z_score=row.mvrv_z_score,
        funding_rate=row.funding_rate,
        fear_greed_index=row.fear_greed_index,
        market_phase=MarketPhase(row.market_phase),
        timestamp=row.timestamp,
        btc_change_24h=row.btc_change_24h,
        eth_change_24h=row.eth_change_24h,
        stablecoin_prices={k: _dec(v) for k, v in loads(row.stablecoin_prices).items()},
        btc_implied_volatility=row.btc_implied_volatility,
        eth_implied_volatility=row.eth_implied_volatility,
        btc_iv_change_24h=row.btc_iv_change_24h,
        eth_iv_change_24h=row.eth_iv_change_24h,
        put_call_ratio=row.put_call_ratio,
        freshness=freshness,
    )


def signal_json(s: AllocationSignal) -> dict[str, Any]:
    """An AllocationSignal as a JSON-ready dict."""
    return {
        "mode": s.mode.value,
        "target_allocations": targets_json(s.target_allocations),
        "confidence": s.confidence,
        "reasoning": s.reasoning,
        "trigger": s.trigger,
        "recommended_actions": list(s.recommended_actions),
        "risk_level": s.risk_level.value,
        "market_phase": s.market_phase.value,
        "tactical_exposure": s.tactical_exposure,
        "created_at": s.created_at,
        "threshold_crossed": s.threshold_crossed,
    }


def signal_from_json(d: Mapping[str, Any]) -> AllocationSignal:
    """An AllocationSignal from `signal_json` output."""
    return AllocationSignal(
        mode=AllocationMode(d["mode"]),
        target_allocations=targets_from_json(d["target_allocations"]),
        confidence=_dec(d["confidence"]),
        reasoning=d["reasoning"],
        trigger=d["trigger"],
        recommended_actions=tuple(d["recommended_actions"]),
        risk_level=RiskLevel(d["risk_level"]),
        market_phase=MarketPhase(d["market_phase"]),
        tactical_exposure=_dec(d["tactical_exposure"]),
        created_at=_time(d["created_at"]),
        threshold_crossed=bool(d["threshold_crossed"]),
    )


def signal_to_row(s: AllocationSignal) -> t.SignalRow:
    """A signal row: the whole signal as JSON plus columns to filter on."""
    return t.SignalRow(
        created_at=s.created_at,
        body=dumps(signal_json(s)),
        mode=s.mode.value,
        market_phase=s.market_phase.value,
        confidence=s.confidence,
    )


def signal_from_row(row: t.SignalRow) -> AllocationSignal:
    """An AllocationSignal from its row."""
    return signal_from_json(loads(row.body))


# --- decisions -----------------------------------------------------------------------------


def decision_values(d: Decision) -> dict[str, Any]:
    """Every column of a decision row."""
    return {
        "id": d.id,
        "created_at": d.created_at,
        "status": d.status.value,
        "kind": d.kind.value,
        "advisor": d.advisor,
        "model": d.model,
        "fallback_reason": d.fallback_reason,
        "target_base_yield": d.target_allocations.base_yield,
        "target_tactical": d.target_allocations.tactical,
        "target_cash": d.target_allocations.cash,
        "reasoning": d.reasoning,
        "risk_assessment": d.risk_assessment.value,
        "plan_id": d.plan_id,
        "verdict_reasons": dumps(list(d.verdict_reasons)),
        "approver": d.approver,
        "notes": d.notes,
        "decided_at": d.decided_at,
        "expires_at": d.expires_at,
        "signal": dumps(signal_json(d.signal)),
        "version": d.version,
    }


def decision_from_row(row: t.DecisionRow) -> Decision:
    """A Decision from its row."""
    return Decision(
        id=row.id,
        created_at=row.created_at,
        signal=signal_from_json(loads(row.signal)),
        advisor=row.advisor,
        target_allocations=TargetAllocations(
            base_yield=row.target_base_yield, tactical=row.target_tactical, cash=row.target_cash
        ),
        reasoning=row.reasoning,
        risk_assessment=RiskLevel(row.risk_assessment),
        status=DecisionStatus(row.status),
        kind=DecisionKind(row.kind),
        plan_id=row.plan_id,
        verdict_reasons=tuple(loads(row.verdict_reasons)),
        approver=row.approver,
        notes=row.notes,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
        model=row.model,
        fallback_reason=row.fallback_reason,
        version=row.version,
    )


# --- plans ---------------------------------------------------------------------------------


def plan_to_rows(
    plan: RebalancingPlan, decision_id: str | None
) -> tuple[t.PlanRow, list[t.PlannedTransactionRow]]:
    """A plan row and its transaction rows, in order."""
    row = t.PlanRow(
        plan_id=plan.plan_id,
        decision_id=decision_id,
        created_at=plan.created_at,
        kind=plan.kind.value,
        current_allocations=dumps({b.value: v for b, v in plan.current_allocations.items()}),
        target_base_yield=plan.target_allocations.base_yield,
        target_tactical=plan.target_allocations.tactical,
        target_cash=plan.target_allocations.cash,
        estimated_gas_cost=plan.estimated_gas_cost,
        estimated_slippage=plan.estimated_slippage,
        requires_approval=plan.requires_approval,
        risk_level=plan.risk_level.value,
        max_slippage=plan.max_slippage,
        skipped=dumps([{"description": s.description, "reason": s.reason} for s in plan.skipped]),
        notes=dumps(list(plan.notes)),
        approval_reasons=dumps(list(plan.approval_reasons)),
    )
    txs = [
        t.PlannedTransactionRow(
            plan_id=plan.plan_id,
            step_index=i,
            tx_type=tx.tx_type.value,
            protocol=tx.protocol,
            from_asset=tx.from_asset,
            to_asset=tx.to_asset,
            amount=tx.amount,
            amount_usd=tx.amount_usd,
            estimated_gas=tx.estimated_gas,
            estimated_gas_usd=tx.estimated_gas_usd,
            estimated_slippage_usd=tx.estimated_slippage_usd,
            slippage_tolerance=tx.slippage_tolerance,
            chain=tx.chain,
            full_exit=tx.full_exit,
            market=tx.market,
        )
        for i, tx in enumerate(plan.required_transactions)
    ]
    return row, txs


def plan_from_rows(row: t.PlanRow, txs: list[t.PlannedTransactionRow]) -> RebalancingPlan:
    """A RebalancingPlan from its rows."""
    return RebalancingPlan(
        plan_id=row.plan_id,
        created_at=row.created_at,
        current_allocations={Bucket(k): _dec(v) for k, v in loads(row.current_allocations).items()},
        target_allocations=TargetAllocations(
            base_yield=row.target_base_yield, tactical=row.target_tactical, cash=row.target_cash
        ),
        required_transactions=tuple(
            Transaction(
                tx_type=TransactionType(tx.tx_type),
                protocol=tx.protocol,
                from_asset=tx.from_asset,
                to_asset=tx.to_asset,
                amount=tx.amount,
                amount_usd=tx.amount_usd,
                estimated_gas=tx.estimated_gas,
                estimated_gas_usd=tx.estimated_gas_usd,
                estimated_slippage_usd=tx.estimated_slippage_usd,
                slippage_tolerance=tx.slippage_tolerance,
                chain=tx.chain,
                full_exit=tx.full_exit,
                market=tx.market,
            )
            for tx in sorted(txs, key=lambda x: x.step_index)
        ),
        estimated_gas_cost=row.estimated_gas_cost,
        estimated_slippage=row.estimated_slippage,
        requires_approval=row.requires_approval,
        risk_level=RiskLevel(row.risk_level),
        kind=PlanKind(row.kind),
        max_slippage=row.max_slippage,
        skipped=tuple(
            SkippedMove(description=s["description"], reason=s["reason"])
            for s in loads(row.skipped)
        ),
        notes=tuple(loads(row.notes)),
        approval_reasons=tuple(loads(row.approval_reasons)),
    )


# --- executed transactions -----------------------------------------------------------------


def execution_values(tx: ExecutedTransaction) -> dict[str, Any]:
    """Every column of an executed-transaction row."""
    return {
        "id": tx.id,
        "plan_id": tx.plan_id,
        "step_index": tx.step_index,
        "chain_id": tx.chain_id,
        "kind": tx.kind.value,
        "description": tx.description,
        "status": tx.status.value,
        "amount_usd": tx.amount_usd,
        "created_at": tx.created_at,
        "updated_at": tx.updated_at,
        "to_address": tx.to_address,
        "from_address": tx.from_address,
        "nonce": tx.nonce,
        "tx_hash": tx.tx_hash,
        "gas_estimated": tx.gas_estimated,
        "gas_used": tx.gas_used,
        "effective_gas_price_wei": tx.effective_gas_price_wei,
        "gas_cost_usd": tx.gas_cost_usd,
        "block_number": tx.block_number,
        "error": tx.error,
    }


def execution_from_row(row: t.ExecutedTransactionRow) -> ExecutedTransaction:
    """An ExecutedTransaction from its row."""
    return ExecutedTransaction(
        id=row.id,
        plan_id=row.plan_id,
        step_index=row.step_index,
        chain_id=row.chain_id,
        kind=StepKind(row.kind),
        description=row.description,
        status=StepStatus(row.status),
        amount_usd=row.amount_usd,
        created_at=row.created_at,
        updated_at=row.updated_at,
        to_address=row.to_address,
        from_address=row.from_address,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        gas_estimated=row.gas_estimated,
        gas_used=row.gas_used,
        effective_gas_price_wei=row.effective_gas_price_wei,
        gas_cost_usd=row.gas_cost_usd,
        block_number=row.block_number,
        error=row.error,
    )


# --- strategy state, flags, manual MVRV, outcomes ------------------------------------------


def ratchet_from_row(row: t.RatchetRow) -> RatchetState:
    """The ratchet from its row."""
    return RatchetState(
        sold_fraction=row.sold_fraction,
        last_mvrv_z_score=row.last_mvrv_z_score,
        last_phase=MarketPhase(row.last_phase) if row.last_phase is not None else None,
        updated_at=row.updated_at,
        last_exit_at=row.last_exit_at,
    )


def ratchet_values(state: RatchetState) -> dict[str, Any]:
    """The ratchet's columns."""
    return {
        "sold_fraction": state.sold_fraction,
        "last_mvrv_z_score": state.last_mvrv_z_score,
        "last_phase": state.last_phase.value if state.last_phase is not None else None,
        "updated_at": state.updated_at,
        "last_exit_at": state.last_exit_at,
    }


def slippage_from_row(row: t.SlippageBudgetRow) -> SlippageBudgetState:
    """The slippage budget state from its row."""
    return SlippageBudgetState(used_usd=row.used_usd, as_of=row.as_of)


def breaker_from_row(row: t.BreakerRow) -> BreakerState:
    """The breaker state from its row."""
    return BreakerState(consecutive_failures=row.consecutive_failures)


def flag_from_row(row: t.OperatorFlagRow) -> OperatorFlag:
    """An operator flag from its row."""
    return OperatorFlag(
        name=row.name, active=row.active, set_by=row.set_by, reason=row.reason, set_at=row.set_at
    )


def manual_mvrv_from_row(row: t.ManualMvrvRow) -> ManualMvrv:
    """A manual MVRV value from its row."""
    return ManualMvrv(value=row.value, set_at=row.set_at, set_by=row.set_by)


def outcome_from_row(row: t.DecisionOutcomeRow) -> DecisionOutcome:
    """A decision outcome from its row."""
    return DecisionOutcome(
        decision_id=row.decision_id,
        horizon_days=row.horizon_days,
        portfolio_return=row.portfolio_return,
        hold_return=row.hold_return,
        measured_at=row.measured_at,
    )
