"""Response and request models at the API edge, with the spec's field names (snake_case).

Money and fractions leave the service as JSON numbers (the spec's models use floats); exact
values stay in the database and the audit log. Request models are strict: booleans are JSON
booleans, numbers are JSON numbers (parsed as Decimal, never float) within range and the
database's precision, and free text is printable and bounded.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

from adapters.persistence.types import PRECISION, SCALE
from application.owners import OwnerApproval
from application.performance import (
    GetPerformanceMetrics,
    PerformanceHistoryTooShort,
    PerformanceMetrics,
)
from application.revocation import RevocationOutcome, RevocationToSign
from domain.decisions import Decision
from domain.execution import ExecutedTransaction, explorer_url
from domain.market import MarketData
from domain.plans import RebalancingPlan, Transaction
from domain.portfolio import PortfolioState, Position
from domain.records import DataclassValue, field_values
from domain.signals import AllocationSignal
from entrypoints.api.request_body import refuse_unprintable

Num = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
OptNum = Annotated[
    Decimal | None,
    PlainSerializer(
        lambda v: None if v is None else float(v), return_type=float | None, when_used="json"
    ),
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)

    @classmethod
    def _of(cls, value: DataclassValue, /, **given: Any) -> Self:
        """The model with each field taken from the domain value's field of the same name (an
        enum as its value, as `domain.records.field_values` gives it), except those in `given`.

        Raises:
            KeyError: the domain value lacks a field of the model that is not given.
        """
        values = field_values(value, **given)
        return cls(**{name: values[name] for name in cls.model_fields})


class FreshnessOut(_Out):
    """Where a market field came from and how fresh it is."""

    source: str
    observed_at: datetime
    stale: bool
    manual: bool
    age_seconds: Num


class MarketDataOut(_Out):
    """The spec's MarketData plus 24 h changes, Deribit's options fields (null when unknown)
    and per-field freshness."""

    btc_price: OptNum
    eth_price: OptNum
    mvrv_z_score: OptNum
    funding_rate: OptNum
    fear_greed_index: int | None
    market_phase: str
    timestamp: datetime
    btc_change_24h: OptNum = None
    eth_change_24h: OptNum = None
    btc_implied_volatility: OptNum = None
    eth_implied_volatility: OptNum = None
    btc_iv_change_24h: OptNum = None
    eth_iv_change_24h: OptNum = None
    put_call_ratio: OptNum = None
    freshness: dict[str, FreshnessOut] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, m: MarketData) -> MarketDataOut:
        """Build from domain MarketData."""
        return cls._of(m, freshness={f.value: FreshnessOut._of(i) for f, i in m.freshness.items()})


class AllocationSignalOut(_Out):
    """The spec's AllocationSignal."""

    mode: str
    target_allocations: dict[str, Num]
    confidence: Num
    reasoning: str
    trigger: str
    recommended_actions: list[str]
    risk_level: str
    market_phase: str
    tactical_exposure: Num
    created_at: datetime

    @classmethod
    def from_domain(cls, s: AllocationSignal) -> AllocationSignalOut:
        """Build from a domain AllocationSignal."""
        return cls._of(s, target_allocations=s.target_allocations.as_dict())


class PositionOut(_Out):
    """The spec's Position."""

    protocol: str
    asset: str
    amount: Num
    value_usd: Num
    apy: Num
    entered_at: datetime
    current_return: Num
    chain: str
    stale: bool = False
    """Its protocol could not be read now: the value shown is the last good reading."""
    stale_reason: str | None = None
    """Why it could not be read, and when the value shown was read."""

    @classmethod
    def from_domain(cls, p: Position, stale_reason: str | None = None) -> PositionOut:
        """Build from a domain Position (`stale_reason`: it is shown at an earlier reading)."""
        return cls._of(p, stale=stale_reason is not None, stale_reason=stale_reason)


class AllocationLineOut(_Out):
    """Current versus target share of a bucket."""

    current: Num
    target: OptNum


class PortfolioStateOut(_Out):
    """The spec's PortfolioState."""

    total_value_usd: Num
    positions: list[PositionOut]
    cash_balance: Num
    allocations: dict[str, AllocationLineOut]
    last_rebalance: datetime | None
    performance_24h: OptNum
    performance_7d: OptNum
    performance_30d: OptNum
    as_of: datetime | None

    @classmethod
    def from_domain(cls, p: PortfolioState) -> PortfolioStateOut:
        """Build from a domain PortfolioState."""
        stale = p.stale_positions()
        return cls._of(
            p,
            positions=[PositionOut.from_domain(x, stale.get(x.key)) for x in p.positions],
            allocations={b.value: AllocationLineOut._of(line) for b, line in p.allocations.items()},
        )


class TransactionOut(_Out):
    """The spec's Transaction."""

    tx_type: str
    protocol: str
    from_asset: str
    to_asset: str
    amount: Num
    amount_usd: Num
    estimated_gas: int
    estimated_gas_usd: Num
    estimated_slippage_usd: Num
    slippage_tolerance: Num

    @classmethod
    def from_domain(cls, t: Transaction) -> TransactionOut:
        """Build from a domain Transaction."""
        return cls._of(t)


class RebalancingPlanOut(_Out):
    """The spec's RebalancingPlan, plus what was skipped and why."""

    plan_id: str
    kind: str
    current_allocations: dict[str, Num]
    target_allocations: dict[str, Num]
    required_transactions: list[TransactionOut]
    estimated_gas_cost: Num
    estimated_slippage: Num
    requires_approval: bool
    risk_level: str
    skipped: list[dict[str, str]]
    notes: list[str]

    @classmethod
    def from_domain(cls, p: RebalancingPlan) -> RebalancingPlanOut:
        """Build from a domain RebalancingPlan."""
        return cls._of(
            p,
            current_allocations={b.value: v for b, v in p.current_allocations.items()},
            target_allocations=p.target_allocations.as_dict(),
            required_transactions=[TransactionOut.from_domain(t) for t in p.required_transactions],
            skipped=[field_values(s) for s in p.skipped],
        )


class DecisionOut(_Out):
    """A decision record."""

    id: str
    created_at: datetime
    status: str
    kind: str
    advisor: str
    model: str | None
    target_allocations: dict[str, Num]
    reasoning: str
    risk_assessment: str
    plan_id: str | None
    verdict_reasons: list[str]
    approver: str | None
    notes: str | None
    decided_at: datetime | None
    expires_at: datetime | None
    fallback_reason: str | None
    trigger: str

    @classmethod
    def from_domain(cls, d: Decision) -> DecisionOut:
        """Build from a domain Decision."""
        return cls._of(
            d, target_allocations=d.target_allocations.as_dict(), trigger=d.signal.trigger
        )


class PendingDecisionOut(DecisionOut):
    """A decision awaiting approval; under Safe custody with the owners' proposal it waits
    for (all None when there is none)."""

    safe_tx_hash: str | None = None
    safe_nonce: int | None = None
    signatures: list[str] | None = None
    """The owners who have signed, in the order they signed."""
    threshold: int | None = None
    cancels: str | None = None
    """Set on an expired or rejected decision listed for its cancellation: the safeTxHash of
    its old proposal, which the no-op (`safe_tx_hash`, same nonce) clears once the owners sign
    it through the same signatures route."""

    @classmethod
    def of(
        cls, d: Decision, approval: OwnerApproval | None, *, cancels: str | None = None
    ) -> PendingDecisionOut:
        """Build from a domain Decision and its owners' proposal (or cancellation), if any."""
        proposal = approval.proposal if approval else None
        return cls._of(
            d,
            target_allocations=d.target_allocations.as_dict(),
            trigger=d.signal.trigger,
            safe_tx_hash=proposal.safe_tx_hash if proposal else None,
            safe_nonce=proposal.nonce if proposal else None,
            signatures=list(approval.signers) if approval else None,
            threshold=proposal.threshold if proposal else None,
            cancels=cancels,
        )


class SignatureOut(_Out):
    """What an owner's signature did: who signed so far, and whether the plan ran."""

    decision_id: str
    signer: str
    signatures: list[str]
    threshold: int
    safe_tx_hash: str
    executed: bool
    """The threshold was met and the plan was run (see `succeeded`)."""
    succeeded: bool | None
    error: str | None


class RevocationOut(_Out):
    """The owners' revocation of the agent's role waiting for signatures (Safe custody), with
    what their wallets sign."""

    safe: str
    safe_tx_hash: str
    nonce: int
    threshold: int
    owners: list[str]
    signatures: list[str]
    """The owners who have signed, in the order they signed."""
    to: str
    """The contract the Safe calls (its Roles Modifier)."""
    data: str
    operation: int
    summary: str
    """What the transaction does, in words."""
    typed_data: dict[str, Any]
    """The EIP-712 typed data an owner signs (`eth_signTypedData_v4`, `cast wallet sign
    --data`); its hash is `safe_tx_hash`."""

    @classmethod
    def of(cls, shown: RevocationToSign) -> RevocationOut:
        """Build from the pending revocation and its transaction."""
        proposal = shown.pending.proposal
        tx = shown.transaction
        return cls(
            safe=proposal.safe,
            safe_tx_hash=proposal.safe_tx_hash,
            nonce=proposal.nonce,
            threshold=proposal.threshold,
            owners=list(proposal.owners),
            signatures=list(shown.pending.signers),
            to=tx.to,
            data=tx.data,
            operation=tx.operation,
            summary=tx.summary,
            typed_data=dict(tx.typed_data),
        )


class RevocationSignatureOut(_Out):
    """What an owner's signature over the revocation did."""

    signer: str
    signatures: list[str]
    threshold: int
    safe_tx_hash: str
    executed: bool
    """The threshold was met and the agent's role is revoked on chain (else see `error`)."""
    tx_hash: str | None
    error: str | None

    @classmethod
    def of(cls, outcome: RevocationOutcome) -> RevocationSignatureOut:
        """Build from the use case's outcome."""
        return cls(
            signer=outcome.signer,
            signatures=list(outcome.signers),
            threshold=outcome.threshold,
            safe_tx_hash=outcome.safe_tx_hash,
            executed=outcome.executed,
            tx_hash=outcome.tx_hash,
            error=outcome.error,
        )


class ExecutedTransactionOut(_Out):
    """One on-chain step with a link to a block explorer where the chain has one."""

    id: str
    plan_id: str
    step_index: int
    chain_id: int
    kind: str
    description: str
    status: str
    amount_usd: Num
    created_at: datetime
    updated_at: datetime
    nonce: int | None
    tx_hash: str | None
    gas_estimated: int | None
    gas_used: int | None
    gas_cost_usd: OptNum
    block_number: int | None
    error: str | None
    explorer_url: str | None

    @classmethod
    def from_domain(cls, t: ExecutedTransaction) -> ExecutedTransactionOut:
        """Build from a domain ExecutedTransaction."""
        return cls._of(t, explorer_url=explorer_url(t.chain_id, t.tx_hash))


class CurvePointOut(_Out):
    """One point of an equity or baseline curve."""

    at: datetime
    value_usd: Num


class DrawdownPointOut(_Out):
    """How far below its running peak the time-weighted index stands (0.1 is 10 % below)."""

    at: datetime
    drawdown: Num


class PerformanceMetricsOut(_Out):
    """The answer of GET /performance/metrics: returns, APY, Sharpe, drawdown, trade history.

    `sharpe_ratio` and `sortino` use `risk_free_rate` (TREASURY_RISK_FREE_RATE); the
    `*_at_zero_rate` and `*_at_static_yield` figures give the same ratios at a zero rate and at
    `static_yield_apy`, side by side.

    `from`/`to`/`points` describe the snapshots actually measured; `covers_range` is false (and
    `note` says why) when the history begins after the start of the range. With fewer than two
    snapshots (a new treasury) nothing can be measured: the figures are null and `note` says why.
    """

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True)

    time_range: str
    requested_from: datetime | None
    from_: datetime | None = Field(alias="from")
    to: datetime | None
    points: int
    covers_range: bool
    note: str | None
    equity_curve: list[CurvePointOut]
    drawdown: list[DrawdownPointOut]
    baselines: dict[str, list[CurvePointOut]]
    start_value_usd: OptNum
    end_value_usd: OptNum
    net_flows_usd: OptNum
    pnl_usd: OptNum
    time_weighted_return: OptNum
    apy: OptNum
    sharpe_ratio: OptNum
    sortino: OptNum
    sharpe_at_zero_rate: OptNum
    sortino_at_zero_rate: OptNum
    sharpe_at_static_yield: OptNum
    sortino_at_static_yield: OptNum
    volatility: OptNum
    max_drawdown: OptNum
    max_drawdown_peak_at: datetime | None
    max_drawdown_trough_at: datetime | None
    max_drawdown_recovered_at: datetime | None
    risk_free_rate: Num
    static_yield_apy: Num
    gas_spent_usd: OptNum
    trade_count: int | None
    trade_volume_usd: OptNum
    trade_history: list[ExecutedTransactionOut]
    trades_complete: bool | None

    @classmethod
    def unmeasured(
        cls, short: PerformanceHistoryTooShort, use_case: GetPerformanceMetrics
    ) -> PerformanceMetricsOut:
        """The answer when the range holds too few snapshots: what is known, nulls for the
        figures, and the reason in `note`."""
        return cls(
            time_range=short.time_range.value,
            requested_from=None,
            from_=short.first_at,
            to=short.first_at,
            points=short.points,
            covers_range=False,
            note=str(short),
            equity_curve=[],
            drawdown=[],
            baselines={},
            start_value_usd=None,
            end_value_usd=None,
            net_flows_usd=None,
            pnl_usd=None,
            time_weighted_return=None,
            apy=None,
            sharpe_ratio=None,
            sortino=None,
            sharpe_at_zero_rate=None,
            sortino_at_zero_rate=None,
            sharpe_at_static_yield=None,
            sortino_at_static_yield=None,
            volatility=None,
            max_drawdown=None,
            max_drawdown_peak_at=None,
            max_drawdown_trough_at=None,
            max_drawdown_recovered_at=None,
            risk_free_rate=use_case.risk_free_rate,
            static_yield_apy=use_case.static_yield_apy,
            gas_spent_usd=None,
            trade_count=None,
            trade_volume_usd=None,
            trade_history=[],
            trades_complete=None,
        )

    @classmethod
    def from_domain(cls, m: PerformanceMetrics) -> PerformanceMetricsOut:
        """Build from the use case's PerformanceMetrics."""
        note = None
        if not m.covers_range and m.requested_from is not None:
            note = (
                f"the history begins at {m.measured_from.isoformat()}, after the start of the "
                f"range ({m.requested_from.isoformat()}); measured from the first snapshot"
            )
        return cls(
            time_range=m.time_range.value,
            requested_from=m.requested_from,
            from_=m.measured_from,
            to=m.measured_to,
            points=m.points,
            covers_range=m.covers_range,
            note=note,
            equity_curve=[CurvePointOut(at=p.at, value_usd=p.value_usd) for p in m.equity_curve],
            drawdown=[DrawdownPointOut(at=p.at, drawdown=p.depth) for p in m.drawdown],
            baselines={
                name: [CurvePointOut(at=p.at, value_usd=p.value_usd) for p in curve]
                for name, curve in m.baselines.items()
            },
            start_value_usd=m.start_value_usd,
            end_value_usd=m.end_value_usd,
            net_flows_usd=m.net_flows_usd,
            pnl_usd=m.pnl_usd,
            time_weighted_return=m.time_weighted_return,
            apy=m.apy,
            sharpe_ratio=m.sharpe_ratio,
            sortino=m.sortino,
            sharpe_at_zero_rate=m.sharpe_at_zero_rate,
            sortino_at_zero_rate=m.sortino_at_zero_rate,
            sharpe_at_static_yield=m.sharpe_at_static_yield,
            sortino_at_static_yield=m.sortino_at_static_yield,
            volatility=m.volatility,
            max_drawdown=m.max_drawdown.depth,
            max_drawdown_peak_at=m.max_drawdown.peak_at,
            max_drawdown_trough_at=m.max_drawdown.trough_at,
            max_drawdown_recovered_at=m.max_drawdown.recovered_at,
            risk_free_rate=m.risk_free_rate,
            static_yield_apy=m.static_yield_apy,
            gas_spent_usd=m.gas_spent_usd,
            trade_count=m.trade_count,
            trade_volume_usd=m.trade_volume_usd,
            trade_history=[ExecutedTransactionOut.from_domain(t) for t in m.trade_history],
            trades_complete=m.trades_complete,
        )


def _json_number(value: object) -> Decimal:
    """A JSON number as an exact Decimal; strings and booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number (not a string or a boolean)")
    return Decimal(value)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Request values: strict JSON types, exact to the database's precision (NUMERIC(38, 18)); more
# digits are refused rather than rounded.
JsonNumber = Annotated[
    Decimal, BeforeValidator(_json_number), Field(max_digits=PRECISION, decimal_places=SCALE)
]
FreeText = Annotated[str, AfterValidator(refuse_unprintable)]
Reason = Annotated[FreeText, AfterValidator(_not_blank), Field(min_length=1, max_length=500)]


class StrictIn(BaseModel):
    """Base of request bodies: unknown fields refused, no coercion (`"yes"` is not true)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RebalanceIn(StrictIn):
    """Body of POST /portfolio/rebalance."""

    force: bool = False
    max_slippage: JsonNumber | None = Field(
        default=None,
        gt=0,
        le=Decimal("0.05"),
        # The schema generator would describe an optional Decimal as a string.
        json_schema_extra={
            "one_of": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 0.05},
                {"type": "null"},
            ],
            "maximum": None,
        },
    )


class ApproveIn(StrictIn):
    """Body of POST /decisions/{id}/approve."""

    approved: bool
    notes: FreeText | None = Field(default=None, max_length=2000)


class SignatureIn(StrictIn):
    """Body of POST /decisions/{id}/signatures and /emergency-stop/revocation/signatures: an
    owner's 65-byte signature (r, s, v) over the proposal's safeTxHash, 0x-prefixed hex."""

    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class RevocationSignatureIn(SignatureIn):
    """Body of POST /emergency-stop/revocation/signatures: an owner's signature, and
    optionally the owner it must come from (refused, naming both, when it is not)."""

    signer: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class ManualMvrvIn(StrictIn):
    """Body of PUT /market/mvrv."""

    value: JsonNumber = Field(ge=Decimal(-5), le=Decimal(20))


class EmergencyIn(StrictIn):
    """Body of POST /emergency-stop, /resume and /cooldown/lift."""

    reason: Reason


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as JSON-ready data."""
    return model.model_dump(mode="json")
