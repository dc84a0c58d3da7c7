"""The Litestar application: the spec's endpoints plus operator endpoints, on port 8600.

Reads are open; every mutating endpoint needs `Authorization: Bearer <token>` with a role
that may do it (operator: rebalance, emergency stop, manual MVRV; approver: approve, reject,
resume, lift the re-entry cooldown). Errors are JSON with a clear message, mapped in `errors.py`.
Bodies are decoded and validated strictly (`request_body.py`, `dto.py`), mutating requests are
rate-limited per token (`rate_limits.py`), and every answer carries the headers of
`response_headers.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar, Request, Response, get, post, put
from litestar.background_tasks import BackgroundTask
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.plugins.pydantic import PydanticPlugin

from application.approvals import ApprovalCommand
from application.cycle import CycleCommand, CycleOutcome, CycleResult
from application.errors import NotFound
from application.operator import FlagChange
from application.performance import PerformanceHistoryTooShort, TimeRange
from application.preflight import PreflightReport
from application.queries import Health, HealthReport
from application.revocation import RevokeAgentRole
from domain.audit import AuditEntry, to_json_value
from entrypoints.api.auth import Principal, Role, TokenRegistry
from entrypoints.api.dto import (
    ApproveIn,
    DecisionOut,
    EmergencyIn,
    ExecutedTransactionOut,
    ManualMvrvIn,
    PendingDecisionOut,
    PerformanceMetricsOut,
    RebalanceIn,
    RebalancingPlanOut,
    RevocationOut,
    RevocationSignatureIn,
    RevocationSignatureOut,
    SignatureIn,
    SignatureOut,
    dump,
)
from entrypoints.api.errors import EXCEPTION_HANDLERS
from entrypoints.api.prepared import (
    MarketDataAnswer,
    PortfolioStatusAnswer,
    SignalAnswer,
    documented,
    market_body,
    portfolio_body,
    prepared_response,
    signal_body,
)
from entrypoints.api.rate_limits import (
    RUNS_CYCLE,
    ApiLimits,
    bearer_token,
    rate_limit_middleware,
)
from entrypoints.api.request_body import StrictJsonRequest
from entrypoints.api.response_headers import add_default_headers
from entrypoints.api.services import Services
from entrypoints.settings.service import ServiceSettings

Json = dict[str, Any]


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Enforce `opt["role"]`: 401 without a valid token, 403 with a role that may not."""
    needed: Role | None = handler.opt.get("role")
    if needed is None:
        return
    require_role(connection, needed)


def require_role(connection: ASGIConnection[Any, Any, Any, Any], needed: Role) -> None:
    """401 without a valid token, 403 with a role below `needed`."""
    registry: TokenRegistry = connection.app.state.tokens
    token = bearer_token(connection)
    principal = registry.authenticate(token) if token else None
    if principal is None:
        raise NotAuthorizedException(
            "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if principal.role < needed:
        raise PermissionDeniedException(
            f"the {principal.role.name.lower()} role may not do this; {needed.name.lower()} needed"
        )
    connection.scope.setdefault("state", {})["principal"] = principal


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller authenticated by the guard."""
    principal: Principal = request.scope["state"]["principal"]
    return principal


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The use cases, from the app's state."""
    services: Services = request.app.state.services
    return services


def _steps(result: CycleResult) -> list[Json]:
    if result.execution is None:
        return []
    return [
        {
            "step": s.step_index,
            "kind": s.kind,
            "description": s.description,
            "status": s.status.value,
            "tx_hash": s.tx_hash,
            "nonce": s.nonce,
            "gas_used": s.gas_used,
            "error": s.error,
        }
        for s in result.execution.steps
    ]


def cycle_body(result: CycleResult) -> Json:
    """The answer to a rebalance request: plan, transactions, status."""
    return {
        "status": result.outcome.value,
        "decision_id": result.decision.id,
        "decision": dump(DecisionOut.from_domain(result.decision)),
        "plan": dump(RebalancingPlanOut.from_domain(result.plan)) if result.plan else None,
        "transactions": _steps(result),
        "reasons": list(result.verdict.reasons) if result.verdict else [],
        "timings_ms": {k: float(v) for k, v in result.timings_ms.items()},
    }


def preflight_body(report: PreflightReport) -> Json:
    """The preflight as JSON: ok, and each check with its fix (the CLI's `--json` shape)."""
    return {
        "ok": report.ok,
        "checks": [
            {
                "name": r.name,
                "ok": r.ok,
                "required": r.required,
                "detail": r.detail,
                "fix": r.fix or None,
            }
            for r in report.results
        ],
    }


def health_body(report: HealthReport) -> Json:
    """The spec's health answer with database, market sources and the emergency stop."""
    return {
        "status": report.status.value,
        "ai_status": report.ai_status.status.value,
        "ai_detail": report.ai_status.detail,
        "protocols_status": {p.name: p.status.value for p in report.protocols_status},
        "database": report.database.status.value,
        "market_sources": {
            s.source: {
                "status": s.status.value,
                "last_success": s.last_success.isoformat() if s.last_success else None,
                "last_error": s.last_error,
            }
            for s in report.market_sources
        },
        "emergency_stop": bool(report.emergency_stop and report.emergency_stop.active),
        "others": {p.name: {"status": p.status.value, "detail": p.detail} for p in report.others},
        "checked_at": report.checked_at.isoformat() if report.checked_at else None,
        "role": report.role.detail if report.role else None,
    }


def audit_body(entry: AuditEntry) -> Json:
    """One audit entry as JSON."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "payload": to_json_value(dict(entry.payload)),
        "hash": entry.hash,
    }


@get(
    "/market/data",
    tags=["market"],
    summary="Current market intelligence",
    responses=documented(MarketDataAnswer),
)
async def market_data(services: NamedDependency[Services]) -> Response[bytes]:
    return await prepared_response(services.views.market, market_body)


@get(
    "/market/signal",
    tags=["market"],
    summary="Current allocation signal",
    responses=documented(SignalAnswer),
)
async def market_signal(services: NamedDependency[Services]) -> Response[bytes]:
    return await prepared_response(services.views.signal, signal_body)


@put("/market/mvrv", tags=["market"], opt={"role": Role.OPERATOR}, summary="Set the manual MVRV Z")
async def set_mvrv(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[ManualMvrvIn],
) -> Json:
    value = await services.manual_mvrv.execute(data.value, principal.name)
    return {"mvrv_z_score": float(value), "manual": True, "set_by": principal.name}


@get(
    "/portfolio/status",
    tags=["portfolio"],
    summary="Current portfolio state",
    responses=documented(PortfolioStatusAnswer),
)
async def portfolio_status(services: NamedDependency[Services]) -> Response[bytes]:
    return await prepared_response(services.views.portfolio, portfolio_body)


@post(
    "/portfolio/rebalance",
    tags=["portfolio"],
    opt={"role": Role.OPERATOR, RUNS_CYCLE: True},
    status_code=202,
)
async def rebalance(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[RebalanceIn],
) -> Response[Json]:
    """Run a decision cycle now; 403 with the decision id when the plan needs approval."""
    result = await services.cycle.execute(
        CycleCommand(requested_by=principal.name, force=data.force, max_slippage=data.max_slippage)
    )
    body = cycle_body(result)
    if result.outcome is CycleOutcome.PENDING_APPROVAL:
        body["error"] = "the plan needs human approval"
        return Response(body, status_code=403)
    if result.outcome is CycleOutcome.REJECTED:
        body["error"] = "the safety policy rejected the plan"
        return Response(body, status_code=422)
    return Response(body, status_code=202)


@get("/decisions/pending", tags=["decisions"], summary="Decisions awaiting approval")
async def pending_decisions(services: NamedDependency[Services]) -> list[Json]:
    """Under Safe custody each carries the owners' proposal: safe_tx_hash, safe_nonce, the
    owners who signed (`signatures`) and the `threshold`. Expired or rejected decisions whose
    proposal's nonce must be cleared follow, with `cancels` (the old safeTxHash) set and the
    no-op's safe_tx_hash for the owners to sign."""
    pending = await services.decisions.pending()
    approvals = (
        await services.owner_approvals.of([d.id for d in pending])
        if services.owner_approvals
        else {}
    )
    listed = [dump(PendingDecisionOut.of(d, approvals.get(d.id))) for d in pending]
    if services.cancellations is None:
        return listed
    closed = await services.cancellations.waiting()
    for decision_id, cancel in (await services.cancellations.of(list(closed))).items():
        out = PendingDecisionOut.of(closed[decision_id], cancel, cancels=cancel.cancels)
        listed.append(dump(out))
    return listed


@get("/decisions", tags=["decisions"], summary="Decision history, newest first")
async def decision_history(
    services: NamedDependency[Services], limit: int = Parameter(default=50, ge=1, le=500)
) -> list[Json]:
    return [dump(DecisionOut.from_domain(d)) for d in await services.decisions.history(limit)]


@get("/decisions/{decision_id:str}", tags=["decisions"], summary="One decision")
async def decision_detail(services: NamedDependency[Services], decision_id: FromPath[str]) -> Json:
    return dump(DecisionOut.from_domain(await services.decisions.get(decision_id)))


@post("/decisions/{decision_id:str}/approve", tags=["decisions"], opt={"role": Role.APPROVER})
async def approve_decision(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    decision_id: FromPath[str],
    data: JSONBody[ApproveIn],
) -> Response[Json]:
    """Approve (202; the plan executes in the background) or reject (200) a pending decision."""
    decision = await services.approve.execute(
        ApprovalCommand(
            decision_id=decision_id,
            approved=data.approved,
            approver=principal.name,
            notes=data.notes,
        )
    )
    body = dump(DecisionOut.from_domain(decision))
    if data.approved:
        task = BackgroundTask(services.execute_approved.execute, decision.id)
        return Response(body, status_code=202, background=task)
    return Response(body, status_code=200)


@post(
    "/decisions/{decision_id:str}/signatures",
    tags=["decisions"],
    opt={"role": Role.APPROVER},
    status_code=200,
)
async def sign_decision(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    decision_id: FromPath[str],
    data: JSONBody[SignatureIn],
) -> Response[Json]:
    """Under Safe custody: an owner's signature over the decision's proposal (its
    safe_tx_hash). A signature that is not a current owner's is refused (400); the one that
    meets the threshold executes the plan once, as the signed Safe transaction. For an expired
    or rejected decision listed with `cancels`, the signature is over its cancellation (the
    no-op at the old proposal's nonce), which the threshold executes once."""
    if services.signatures is None:
        raise NotFound("owners' proposal of decision", decision_id)
    cancels = services.cancellations
    if cancels is not None and await cancels.of([decision_id]):
        cancelled = await cancels.sign(
            decision_id, bytes.fromhex(data.signature[2:]), submitted_by=principal.name
        )
        body = SignatureOut(
            decision_id=decision_id,
            signer=cancelled.signer,
            signatures=list(cancelled.signers),
            threshold=cancelled.threshold,
            safe_tx_hash=cancelled.safe_tx_hash,
            executed=cancelled.executed,
            succeeded=cancelled.succeeded,
            error=cancelled.error,
        )
        return Response(dump(body), status_code=200)
    outcome = await services.signatures.execute(
        decision_id, bytes.fromhex(data.signature[2:]), submitted_by=principal.name
    )
    report = outcome.report
    signed = SignatureOut(
        decision_id=outcome.decision_id,
        signer=outcome.signer,
        signatures=list(outcome.signers),
        threshold=outcome.threshold,
        safe_tx_hash=outcome.safe_tx_hash,
        executed=report is not None,
        succeeded=report.succeeded if report else None,
        error=report.error if report else None,
    )
    return Response(dump(signed), status_code=200)


@post("/emergency-stop", tags=["operator"], opt={"role": Role.OPERATOR}, status_code=200)
async def emergency_stop(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[EmergencyIn],
) -> Json:
    flag = await services.emergency_stop.execute(
        FlagChange(actor=principal.name, reason=data.reason)
    )
    return {
        "emergency_stop": flag.active,
        "set_by": flag.set_by,
        "reason": flag.reason,
        "set_at": flag.set_at.isoformat(),
    }


def _revocation(services: Services) -> RevokeAgentRole:
    """The revocation use case, or NotFound when the treasury is not under Safe custody."""
    if services.revocation is None:
        raise NotFound("revocation of the agent's role", "under Safe custody")
    return services.revocation


@get("/emergency-stop/revocation", tags=["operator"], summary="The pending revocation")
async def pending_revocation(services: NamedDependency[Services]) -> Json:
    """Under Safe custody, the owners' revocation of the agent's role the emergency stop
    prepared: safe_tx_hash, nonce, threshold, owners, who has signed, what it does and the
    EIP-712 typed data an owner's wallet signs; 404 when none waits."""
    return dump(RevocationOut.of(await _revocation(services).to_sign()))


@post(
    "/emergency-stop/revocation/signatures",
    tags=["operator"],
    opt={"role": Role.APPROVER},
    status_code=200,
)
async def sign_revocation(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[RevocationSignatureIn],
) -> Json:
    """An owner's signature over the pending revocation (its safe_tx_hash). A signature that is
    not a current owner's (or not `signer`'s, when given) is refused (400); the one that meets
    the threshold executes the revocation once: from then on the agent can execute nothing
    through the Roles Modifier."""
    outcome = await _revocation(services).sign(
        bytes.fromhex(data.signature[2:]), submitted_by=principal.name, signer=data.signer
    )
    return dump(RevocationSignatureOut.of(outcome))


@post("/resume", tags=["operator"], opt={"role": Role.APPROVER}, status_code=200)
async def resume(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[EmergencyIn],
) -> Json:
    flag = await services.resume.execute(FlagChange(actor=principal.name, reason=data.reason))
    return {
        "emergency_stop": flag.active,
        "set_by": flag.set_by,
        "reason": flag.reason,
        "set_at": flag.set_at.isoformat(),
    }


@post("/cooldown/lift", tags=["operator"], opt={"role": Role.APPROVER}, status_code=200)
async def lift_cooldown(
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
    data: JSONBody[EmergencyIn],
) -> Json:
    """End the re-entry cooldown after an exit early; 404 when none is in force."""
    lifted = await services.lift_cooldown.execute(
        FlagChange(actor=principal.name, reason=data.reason)
    )
    return {
        "exit_at": lifted.exit_at.isoformat(),
        "would_end_at": lifted.would_end_at.isoformat(),
        "lifted_by": lifted.lifted_by,
        "reason": lifted.reason,
        "lifted_at": lifted.lifted_at.isoformat(),
    }


@get("/audit", tags=["operator"], summary="The audit log's tail")
async def audit_tail(
    services: NamedDependency[Services], count: int = Parameter(default=50, ge=1, le=1000)
) -> list[Json]:
    return [audit_body(e) for e in await services.audit.tail(count)]


@get("/transactions", tags=["portfolio"], summary="The newest on-chain steps")
async def transactions(
    services: NamedDependency[Services], limit: int = Parameter(default=50, ge=1, le=500)
) -> list[Json]:
    return [
        dump(ExecutedTransactionOut.from_domain(t))
        for t in await services.transactions.execute(limit)
    ]


@get("/performance/metrics", tags=["portfolio"], summary="Returns, APY, Sharpe, drawdown, trades")
async def performance_metrics(
    services: NamedDependency[Services],
    time_range: FromQuery[TimeRange] = TimeRange.MONTH,
) -> Response[Json]:
    """Performance over 24h, 7d, 30d (default), 90d, 1y or all. With fewer than two snapshots
    in the range (a new treasury) the figures are null and `note` says why."""
    if services.performance is None:  # a service built without it: not available here
        body = {"error": "performance metrics are not available on this server", "type": "NotFound"}
        return Response(body, status_code=404)
    try:
        metrics = await services.performance.execute(time_range)
    except PerformanceHistoryTooShort as short:
        unmeasured = PerformanceMetricsOut.unmeasured(short, services.performance)
        return Response(dump(unmeasured), status_code=200)
    return Response(dump(PerformanceMetricsOut.from_domain(metrics)), status_code=200)


@get(
    "/config",
    tags=["operator"],
    opt={"role": Role.VIEWER},
    summary="The strategy's limits in force",
)
async def config_limits(services: NamedDependency[Services]) -> Response[Json]:
    """Every limit this service runs with, by setting name without `TREASURY_` (strings)."""
    if services.limits is None:  # a service built without it: not available here
        body = {"error": "the limits are not available on this server", "type": "NotFound"}
        return Response(body, status_code=404)
    return Response({"limits": await services.limits.execute()}, status_code=200)


@get("/health", tags=["operator"], summary="Health of every part (deep: the preflight)")
async def health(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    deep: FromQuery[bool] = False,
) -> Response[Json]:
    """`deep=true` (operator or approver): the read-only preflight, one entry per check."""
    if deep:
        require_role(request, Role.OPERATOR)
        if services.preflight is None:
            body = {"error": "the preflight is not available on this server", "type": "NotFound"}
            return Response(body, status_code=404)
        checks = await services.preflight.execute()
        return Response(preflight_body(checks), status_code=200 if checks.ok else 500)
    report = await services.health.execute()
    status = 500 if report.status is Health.UNHEALTHY else 200
    return Response(health_body(report), status_code=status)


ROUTES = [
    market_data,
    market_signal,
    set_mvrv,
    portfolio_status,
    rebalance,
    pending_decisions,
    decision_history,
    decision_detail,
    approve_decision,
    sign_decision,
    emergency_stop,
    pending_revocation,
    sign_revocation,
    resume,
    lift_cooldown,
    audit_tail,
    transactions,
    performance_metrics,
    config_limits,
    health,
]


def create_app(
    services: NamedDependency[Services],
    tokens: TokenRegistry,
    *,
    lifespan: list[Callable[[Litestar], AbstractAsyncContextManager[None]]] | None = None,
    extra_routes: list[Any] | None = None,
    limits: ApiLimits | None = None,
) -> Litestar:
    """Build the app around ready use cases; the container owns their lifecycle. `limits`
    default to those of the service settings."""
    limits = limits or ApiLimits.from_settings(ServiceSettings())
    return Litestar(
        route_handlers=[*ROUTES, *(extra_routes or [])],
        dependencies={
            "services": Provide(services_of, sync_to_thread=False),
            "principal": Provide(current_principal, sync_to_thread=False),
        },
        guards=[role_guard],
        middleware=rate_limit_middleware(limits),
        before_send=[add_default_headers],
        request_class=StrictJsonRequest,
        # Request models validate strictly: "yes" is not true, "10" is not a number.
        plugins=[PydanticPlugin(validate_strict=True)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="treasury-manager", version="0.1.0", path="/schema"),
        state=State({"services": services, "tokens": tokens}),
        lifespan=lifespan or [],
        debug=False,
        logging_config=None,  # the service configures logging (JSON, redaction) itself
    )
