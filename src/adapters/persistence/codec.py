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
from domain.records import field_values, from_attributes
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
    return t.AuditRow(**field_values(entry, payload=dumps(dict(entry.payload))))


def audit_from_row(row: t.AuditRow) -> AuditEntry:
    """An audit entry as stored (hashes are not recomputed here; `verify` does that)."""
    return from_attributes(AuditEntry, row, payload=json.loads(row.payload))


# --- positions and snapshots ---------------------------------------------------------------


def position_fields(p: Position) -> dict[str, Any]:
    """The columns a position fills (shared by current and snapshot positions)."""
    return field_values(p)


def position_from_row(row: t.PositionRow | t.SnapshotPositionRow) -> Position:
    """A Position from either position row."""
    return from_attributes(Position, row)


def snapshot_to_row(state: PortfolioState, as_of: datetime) -> t.PortfolioSnapshotRow:
    """A snapshot row (positions are added separately, in order)."""
    allocations = {b.value: field_values(line) for b, line in state.allocations.items()}
    return t.PortfolioSnapshotRow(
        **field_values(
            state,
            omit=("positions",),
            as_of=as_of,
            allocations=dumps(allocations),
            extra=dumps(dict(state.extra)),
        )
    )


def snapshot_from_row(
    row: t.PortfolioSnapshotRow, positions: list[t.SnapshotPositionRow]
) -> PortfolioState:
    """A PortfolioState from its row and its position rows."""
    allocations = {
        Bucket(name): AllocationLine(current=_dec(line["current"]), target=_opt_dec(line["target"]))
        for name, line in loads(row.allocations).items()
    }
    return from_attributes(
        PortfolioState,
        row,
        positions=tuple(
            position_from_row(p) for p in sorted(positions, key=lambda p: p.position_index)
        ),
        allocations=allocations,
        extra={str(k): str(v) for k, v in loads(row.extra).items()},
    )


# --- market data and signals ---------------------------------------------------------------


def market_to_row(m: MarketData) -> t.MarketDataRow:
    """A MarketData row."""
    freshness = {f.value: field_values(info) for f, info in m.freshness.items()}
    return t.MarketDataRow(
        **field_values(
            m,
            stablecoin_prices=dumps(dict(m.stablecoin_prices)),
            freshness=dumps(freshness),
        )
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
    return from_attributes(
        MarketData,
        row,
        market_phase=MarketPhase(row.market_phase),
        stablecoin_prices={k: _dec(v) for k, v in loads(row.stablecoin_prices).items()},
        freshness=freshness,
    )


def signal_json(s: AllocationSignal) -> dict[str, Any]:
    """An AllocationSignal as a JSON-ready dict (`exposure_known` is not stored)."""
    return field_values(
        s,
        omit=("exposure_known",),
        target_allocations=targets_json(s.target_allocations),
        recommended_actions=list(s.recommended_actions),
    )


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


def _target_columns(targets: TargetAllocations) -> dict[str, Decimal]:
    """The three target columns of a decision or plan row."""
    return {
        "target_base_yield": targets.base_yield,
        "target_tactical": targets.tactical,
        "target_cash": targets.cash,
    }


def _targets_from_columns(row: t.DecisionRow | t.PlanRow) -> TargetAllocations:
    return TargetAllocations(
        base_yield=row.target_base_yield, tactical=row.target_tactical, cash=row.target_cash
    )


def decision_values(d: Decision) -> dict[str, Any]:
    """Every column of a decision row."""
    return field_values(
        d,
        omit=("target_allocations",),
        verdict_reasons=dumps(list(d.verdict_reasons)),
        signal=dumps(signal_json(d.signal)),
        **_target_columns(d.target_allocations),
    )


def decision_from_row(row: t.DecisionRow) -> Decision:
    """A Decision from its row."""
    return from_attributes(
        Decision,
        row,
        signal=signal_from_json(loads(row.signal)),
        target_allocations=_targets_from_columns(row),
        risk_assessment=RiskLevel(row.risk_assessment),
        status=DecisionStatus(row.status),
        kind=DecisionKind(row.kind),
        verdict_reasons=tuple(loads(row.verdict_reasons)),
    )


# --- plans ---------------------------------------------------------------------------------


def plan_to_rows(
    plan: RebalancingPlan, decision_id: str | None
) -> tuple[t.PlanRow, list[t.PlannedTransactionRow]]:
    """A plan row and its transaction rows, in order."""
    row = t.PlanRow(
        **field_values(
            plan,
            omit=("target_allocations", "required_transactions"),
            decision_id=decision_id,
            current_allocations=dumps({b.value: v for b, v in plan.current_allocations.items()}),
            skipped=dumps([field_values(s) for s in plan.skipped]),
            notes=dumps(list(plan.notes)),
            approval_reasons=dumps(list(plan.approval_reasons)),
            **_target_columns(plan.target_allocations),
        )
    )
    txs = [
        t.PlannedTransactionRow(**field_values(tx, plan_id=plan.plan_id, step_index=i))
        for i, tx in enumerate(plan.required_transactions)
    ]
    return row, txs


def plan_from_rows(row: t.PlanRow, txs: list[t.PlannedTransactionRow]) -> RebalancingPlan:
    """A RebalancingPlan from its rows."""
    return from_attributes(
        RebalancingPlan,
        row,
        current_allocations={Bucket(k): _dec(v) for k, v in loads(row.current_allocations).items()},
        target_allocations=_targets_from_columns(row),
        required_transactions=tuple(
            from_attributes(Transaction, tx, tx_type=TransactionType(tx.tx_type))
            for tx in sorted(txs, key=lambda x: x.step_index)
        ),
        risk_level=RiskLevel(row.risk_level),
        kind=PlanKind(row.kind),
        skipped=tuple(SkippedMove(**s) for s in loads(row.skipped)),
        notes=tuple(loads(row.notes)),
        approval_reasons=tuple(loads(row.approval_reasons)),
    )


# --- executed transactions -----------------------------------------------------------------


def execution_values(tx: ExecutedTransaction) -> dict[str, Any]:
    """Every column of an executed-transaction row."""
    return field_values(tx)


def execution_from_row(row: t.ExecutedTransactionRow) -> ExecutedTransaction:
    """An ExecutedTransaction from its row."""
    return from_attributes(
        ExecutedTransaction, row, kind=StepKind(row.kind), status=StepStatus(row.status)
    )


# --- strategy state, flags, manual MVRV, outcomes ------------------------------------------


def ratchet_from_row(row: t.RatchetRow) -> RatchetState:
    """The ratchet from its row."""
    phase = MarketPhase(row.last_phase) if row.last_phase is not None else None
    return from_attributes(RatchetState, row, last_phase=phase)


def ratchet_values(state: RatchetState) -> dict[str, Any]:
    """The ratchet's columns."""
    return field_values(state)


def slippage_from_row(row: t.SlippageBudgetRow) -> SlippageBudgetState:
    """The slippage budget state from its row."""
    return from_attributes(SlippageBudgetState, row)


def breaker_from_row(row: t.BreakerRow) -> BreakerState:
    """The breaker state from its row."""
    return from_attributes(BreakerState, row)


def flag_from_row(row: t.OperatorFlagRow) -> OperatorFlag:
    """An operator flag from its row."""
    return from_attributes(OperatorFlag, row)


def manual_mvrv_from_row(row: t.ManualMvrvRow) -> ManualMvrv:
    """A manual MVRV value from its row."""
    return from_attributes(ManualMvrv, row)


def outcome_from_row(row: t.DecisionOutcomeRow) -> DecisionOutcome:
    """A decision outcome from its row."""
    return from_attributes(DecisionOutcome, row)
