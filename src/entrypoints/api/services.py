"""The use cases the API, CLI and scheduler call: one object, built by the container."""

from __future__ import annotations

from dataclasses import dataclass

from application.approvals import ApprovedExecution, DecideOnApproval, ExpirePendingDecisions
from application.cancellation import CancelOwnerProposals
from application.operator import EmergencyStop, LiftReentryCooldown, Resume, SetManualMvrv
from application.owners import ReadOwnerApprovals, SubmitOwnerSignature
from application.performance import GetPerformanceMetrics
from application.preflight import Preflight
from application.queries import (
    CheckHealth,
    GetLimitsInForce,
    GetMarketData,
    GetPortfolioStatus,
    ListDecisions,
    ListTransactions,
    PreviewSignal,
    ReadAudit,
)
from application.read_model import DecisionCycle, Views
from application.revocation import RevokeAgentRole


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Every use case, ready to call. Front ends hold no logic of their own."""

    market: GetMarketData
    signal: PreviewSignal
    status: GetPortfolioStatus
    cycle: DecisionCycle
    decisions: ListDecisions
    approve: DecideOnApproval
    execute_approved: ApprovedExecution
    expire: ExpirePendingDecisions
    emergency_stop: EmergencyStop
    resume: Resume
    lift_cooldown: LiftReentryCooldown
    manual_mvrv: SetManualMvrv
    audit: ReadAudit
    transactions: ListTransactions
    health: CheckHealth
    # What people look at, served from memory (portfolio status, market data, signal).
    views: Views
    # Under Safe custody: the owners sign plans that need approval (else None: 404).
    signatures: SubmitOwnerSignature | None = None
    owner_approvals: ReadOwnerApprovals | None = None
    # Under Safe custody: the no-ops that clear closed decisions' proposals (else None).
    cancellations: CancelOwnerProposals | None = None
    # Under Safe custody: the owners' revocation of the agent's role (else None: 404).
    revocation: RevokeAgentRole | None = None
    # None in a service built without it: GET /performance/metrics then answers 404.
    performance: GetPerformanceMetrics | None = None
    # None in a service built without it: GET /health?deep=true then answers 404.
    preflight: Preflight | None = None
    # None in a service built without it: GET /config then answers 404.
    limits: GetLimitsInForce | None = None
