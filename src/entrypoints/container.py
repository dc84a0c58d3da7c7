"""The dependency-injector container: every adapter and use case, built from settings.

Each port's adapter is chosen on its own (`TREASURY_MARKET_DATA`, `TREASURY_ADVISOR`,
`TREASURY_CHAIN`, `TREASURY_DATABASE_URL`); `TREASURY_MODE` only presets them. Adapters that
hold connections are `Resource` providers: they are opened on first use (so an unselected
adapter is never built) and closed by `Runtime.aclose()` in reverse order.

`bootstrap()` is the one entry: it checks live-mode requirements, opens everything, and returns
a `Runtime` holding the `Services` the API, CLI and scheduler call. What a crash left is
recovered by `Runtime.take_over()` (`Recover`: resolves signed-but-unconfirmed steps, settles
interrupted decisions) once this process has won the leader election and before it plans
anything (a standby must not touch the steps the leader is executing).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from dependency_injector import containers, providers
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.locks import leader_lock_for, lock_for
from adapters.market.aggregate import build_live_market, create_market_client
from adapters.market.manual import UnitOfWorkManualMvrv
from adapters.notify.dispatcher import NotificationDispatcher
from adapters.persistence import migrate
from adapters.persistence.deliveries import SqlDeliveryLog
from adapters.persistence.engine import create_engine, private_directory
from adapters.persistence.state_file import AtomicStateFile
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import SystemClock, UuidIds
from application.advice import FallbackAdvisor
from application.approvals import (
    ApprovedExecution,
    DecideOnApproval,
    ExecuteApprovedDecision,
    ExecuteWaitingApprovals,
    ExpirePendingDecisions,
)
from application.cancellation import CancelOwnerProposals
from application.cycle import CycleConfig, RunDecisionCycle
from application.daily_summary import PublishDailySummary
from application.engine import ExecutionEngine
from application.learning import RecordDecisionOutcomes
from application.limits import RecordLimitsInForce
from application.operator import EmergencyStop, LiftReentryCooldown, Resume, SetManualMvrv
from application.owners import (
    ProposeToOwners,
    ProposingCycle,
    ReadOwnerApprovals,
    SubmitOwnerSignature,
    ThroughBatch,
)
from application.owners_service import CollectServiceConfirmations, PublishWithOwnerSignature
from application.performance import GetPerformanceMetrics
from application.ports.advisor import AllocationAdvisor
from application.ports.chain import PlanBatchSender
from application.ports.clock import Clock
from application.ports.market import MarketDataSource
from application.ports.owners import TransactionService
from application.ports.persistence import UnitOfWorkFactory
from application.ports.treasury import CycleLock
from application.queries import (
    CheckHealth,
    GetLimitsInForce,
    GetMarketData,
    GetPortfolioStatus,
    Health,
    HealthProbe,
    ListDecisions,
    ListTransactions,
    PreviewSignal,
    ProbeResult,
    ReadAudit,
)
from application.read_model import CycleFeedingViews, ExecutionFeedingViews, Views, build_views
from application.recovery import Recover
from application.revocation import RevokeAgentRole
from domain.strategy import StrategyConfig
from entrypoints.api.auth import Role, TokenRegistry
from entrypoints.api.services import Services
from entrypoints.election import LeaderElection
from entrypoints.logging_setup import register_secrets
from entrypoints.settings.advisor import AdvisorSettings
from entrypoints.settings.chain import ChainSettings
from entrypoints.settings.custody import Custody, CustodySettings
from entrypoints.settings.database import DatabaseSettings
from entrypoints.settings.devchain import DevChainSettings
from entrypoints.settings.market import MarketSettings
from entrypoints.settings.notify import NotifySettings, build_dispatcher
from entrypoints.settings.paper import PaperSettings
from entrypoints.settings.service import (
    AdvisorChoice,
    ChainChoice,
    MarketDataChoice,
    Mode,
    ServiceSettings,
)
from entrypoints.settings.strategy import StrategySettings
from entrypoints.settings.views import ViewSettings
from entrypoints.wiring.advisor import build_advisor
from entrypoints.wiring.chain import ChainWiring, open_chain
from entrypoints.wiring.market import simulated_market
from entrypoints.wiring.paper import PaperClock
from entrypoints.wiring.preflight import preflight_for
from entrypoints.wiring.safe import transaction_service

log = logging.getLogger(__name__)


class StartupRefused(RuntimeError):
    """The service cannot start with these settings; the message names what is missing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSettings:
    """Every settings group the service reads, loaded once from the environment."""

    service: ServiceSettings
    database: DatabaseSettings
    market: MarketSettings
    advisor: AdvisorSettings
    chain: ChainSettings
    devchain: DevChainSettings
    notify: NotifySettings
    paper_settings: PaperSettings
    strategy: StrategySettings
    views: ViewSettings = field(default_factory=ViewSettings)
    custody: CustodySettings = field(default_factory=CustodySettings)

    @classmethod
    def load(cls, **service_overrides: Any) -> AppSettings:
        """Read every group from the environment (`TREASURY_*`); overrides apply to the
        service group (the CLI's `--host`, `--port`, mode)."""
        return cls(
            service=ServiceSettings(**service_overrides),
            database=DatabaseSettings(),
            market=MarketSettings(),
            advisor=AdvisorSettings(),
            chain=ChainSettings(),
            devchain=DevChainSettings(),
            notify=NotifySettings(),
            paper_settings=PaperSettings(),
            strategy=StrategySettings(),
            views=ViewSettings(),
            custody=CustodySettings(),
        )

    @property
    def paper(self) -> bool:
        """Whether this is paper trading."""
        return self.service.mode is Mode.PAPER

    def live_problems(self) -> list[str]:
        """What live mode needs and does not have, in words an operator can act on."""
        problems: list[str] = []
        if self.service.mode is not Mode.LIVE:
            return problems
        if not self.service.api_tokens.get_secret_value():
            problems.append("TREASURY_API_TOKENS (token:role pairs for the API)")
        if self.service.chain is ChainChoice.RPC:
            if not self.chain.rpc_urls():
                problems.append("TREASURY_RPC_URL_ETHEREUM (or _ARBITRUM / _BASE)")
            if not self.chain.keystore_path.exists():
                problems.append(
                    f"a keystore at {self.chain.keystore_path} (create one with "
                    "`treasury keystore new`, or set TREASURY_KEYSTORE_PATH)"
                )
            if (
                self.chain.keystore_passphrase is None
                and self.chain.keystore_passphrase_file is None
            ):
                problems.append("TREASURY_KEYSTORE_PASSPHRASE or TREASURY_KEYSTORE_PASSPHRASE_FILE")
            if not self.chain.pendle_market:
                problems.append("TREASURY_PENDLE_MARKET (the address of an active Pendle market)")
            if self.custody.custody is Custody.SAFE:
                problems.append(
                    "TREASURY_CUSTODY=eoa (Safe custody runs in paper mode only for now)"
                )
        if self.service.advisor is AdvisorChoice.CLAUDE and self.advisor.api_key() is None:
            problems.append("ANTHROPIC_API_KEY (or choose TREASURY_ADVISOR=rules)")
        return problems

    def secrets(self) -> list[str]:
        """Every secret value the settings hold, for log redaction."""
        values: list[str | None] = [
            self.service.api_tokens.get_secret_value() or None,
            self.advisor.api_key(),
            self.chain.passphrase() if self.chain.keystore_passphrase else None,
            self.chain.oneinch_api_key.get_secret_value() if self.chain.oneinch_api_key else None,
            *self.chain.rpc_urls().values(),
            self.devchain.deployer_key(),
            *(
                _plain(key)
                for key in (
                    self.market.coingecko_api_key,
                    self.market.glassnode_api_key,
                    self.market.coinglass_api_key,
                )
            ),
            *self.notify.secrets(),
            _plain(self.custody.safe_tx_service_api_key),
        ]
        tokens = self.service.api_tokens.get_secret_value()
        values.extend(pair.split(":", 1)[0] for pair in tokens.split(",") if pair.strip())
        return [v for v in values if v]


def _plain(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


# --- resources ------------------------------------------------------------------------------


async def open_database(settings: AppSettings) -> AsyncIterator[AsyncEngine]:
    """The database engine, with its schema checked (paper mode upgrades it). The data
    directory is made private to the owner first."""
    private_directory(settings.database.data_dir)
    engine = create_engine(settings.database.resolved_database_url())
    try:
        await migrate.ensure_schema_current(
            engine, auto_upgrade=settings.paper or settings.database.db_auto_upgrade
        )
        yield engine
    finally:
        await engine.dispose()


def clock_for(settings: AppSettings) -> Clock:
    """Wall time; with a simulated market, the paper clock that runs ahead of it."""
    if settings.service.market_data is MarketDataChoice.SIMULATED:
        return PaperClock(settings.database.data_dir / "paper_clock.json", SystemClock())
    return SystemClock()


async def open_market(
    settings: AppSettings, clock: Clock, uow: UnitOfWorkFactory
) -> AsyncIterator[MarketDataSource]:
    """The market data the settings select: simulated (paper) or the live sources."""
    if settings.service.market_data is MarketDataChoice.SIMULATED:
        epoch = clock.epoch if isinstance(clock, PaperClock) else None
        yield simulated_market(settings.market, clock, started_at=epoch)
        return
    client = create_market_client()
    try:
        yield build_live_market(
            client,
            settings.market.live_config(),
            clock=clock,
            manual_mvrv=UnitOfWorkManualMvrv(uow),
        )
    finally:
        await client.aclose()


class StaticAdvisorProbe:
    """Health of an advisor that cannot fail (the rules)."""

    name = "ai"

    def __init__(self, detail: str) -> None:
        self._detail = detail

    async def check(self) -> ProbeResult:
        """Always healthy; says which advisor decides."""
        return ProbeResult(name=self.name, status=Health.HEALTHY, detail=self._detail)


@dataclass(frozen=True, slots=True)
class AdvisorWiring:
    """The advisor the cycle asks, and the probe `/health` reports as `ai_status`."""

    advisor: AllocationAdvisor
    probe: HealthProbe


async def open_advisor(
    settings: AppSettings, strategy: StrategyConfig
) -> AsyncIterator[AdvisorWiring]:
    """The rules advisor, or Claude with the rules as its fallback."""
    choice = settings.service.advisor or AdvisorChoice.RULES
    advisor, claude = build_advisor(choice, settings.advisor, strategy)
    if claude is not None:
        from adapters.advisors.claude import ClaudeModelUnknown

        try:
            await claude.check_model()
        except ClaudeModelUnknown as exc:
            await claude.aclose()
            raise StartupRefused(str(exc)) from None
    probe: HealthProbe = (
        advisor if isinstance(advisor, FallbackAdvisor) else StaticAdvisorProbe("rules advisor")
    )
    try:
        yield AdvisorWiring(advisor=advisor, probe=probe)
    finally:
        if claude is not None:
            await claude.aclose()


async def open_notifier(
    settings: AppSettings, engine: AsyncEngine, clock: Clock
) -> AsyncIterator[NotificationDispatcher]:
    """The notification dispatcher (sends nothing when no channel is configured)."""
    import httpx

    client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    dispatcher = build_dispatcher(
        settings.notify, client=client, delivery_log=SqlDeliveryLog(engine), clock=clock
    )
    try:
        yield dispatcher
    finally:
        await dispatcher.aclose()
        await client.aclose()


async def open_election(
    settings: AppSettings, engine: AsyncEngine
) -> AsyncIterator[LeaderElection]:
    """This process's side of the leader election; the lock is let go at shutdown."""
    interval = settings.service.leadership_check_s
    election = LeaderElection(
        leader_lock_for(engine, settings.database.data_dir, timeout_s=interval),
        check_interval_s=interval,
    )
    try:
        yield election
    finally:
        await election.release()


def strategy_for(settings: AppSettings) -> StrategyConfig:
    """The one strategy configuration, built from the strategy settings (`TREASURY_` names);
    the planner, the policy, the executor and the advisor's prompt all get this one.

    Raises:
        InvalidValue: the numbers contradict each other.
    """
    return settings.strategy.strategy_config()


async def open_transaction_service(
    settings: AppSettings,
) -> AsyncIterator[TransactionService | None]:
    """Under Safe custody with `TREASURY_SAFE_TX_SERVICE_URL` set: the Safe Transaction
    Service where owners confirm proposals; else None."""
    url = settings.custody.tx_service_url()
    if settings.custody.custody is not Custody.SAFE:
        url = None
    async with transaction_service(
        url,
        timeout_s=settings.custody.safe_tx_service_timeout_s,
        api_key=_plain(settings.custody.safe_tx_service_api_key),
    ) as service:
        yield service


def _owners_signing(
    chain: ChainWiring,
    *,
    tx_service: TransactionService | None,
    clock: Clock,
    uow: UnitOfWorkFactory,
    lock: CycleLock,
    strategy: StrategyConfig,
    notifier: NotificationDispatcher,
    dashboard_url: str,
    views: Views,
) -> tuple[SubmitOwnerSignature, ProposeToOwners] | None:
    """Under Safe custody: the owners' signature use case and the proposer (else None)."""
    owners, engine = chain.owners, chain.runner
    if owners is None or not isinstance(engine, ExecutionEngine):
        return None

    def execute_with(batch: PlanBatchSender) -> ApprovedExecution:
        return ExecutionFeedingViews(
            execution=ExecuteApprovedDecision(
                clock=clock,
                uow=uow,
                portfolio=chain.portfolio,
                conditions=chain.conditions,
                runner=ThroughBatch(engine, batch),
                lock=lock,
                strategy=strategy,
                notifier=notifier,
                dashboard_url=dashboard_url,
            ),
            views=views,
        )

    return (
        SubmitOwnerSignature(
            clock=clock,
            uow=uow,
            owners=owners,
            execute_with=execute_with,
            publisher=PublishWithOwnerSignature(service=tx_service) if tx_service else None,
        ),
        ProposeToOwners(clock=clock, uow=uow, builder=engine, owners=owners, upkeep=owners),
    )


def build_services(
    *,
    settings: AppSettings,
    clock: Clock,
    ids: UuidIds,
    uow: UnitOfWorkFactory,
    market: MarketDataSource,
    advisor: AdvisorWiring,
    chain: ChainWiring,
    notifier: NotificationDispatcher,
    engine: AsyncEngine,
    strategy: StrategyConfig,
    election: LeaderElection,
    tx_service: TransactionService | None = None,
) -> Services:
    """Every use case, wired to the chosen adapters; cycles and executions only on the leader."""
    lock = lock_for(engine, settings.database.data_dir, leadership=election)
    url = settings.service.public_url
    config = CycleConfig(
        strategy=strategy,
        approval_expiry=timedelta(hours=settings.service.approval_expiry_hours),
    )
    status = GetPortfolioStatus(
        clock=clock, portfolio=chain.views or chain.portfolio, uow=uow, planner=strategy.planner
    )
    market_data = GetMarketData(market=market)
    signal = PreviewSignal(clock=clock, market=market, uow=uow, config=strategy.signal)
    views = build_views(
        clock=clock,
        status=status,
        market=market_data,
        signal=signal,
        status_refresh_s=settings.views.status_refresh(
            paper=settings.paper, cycle_interval_s=settings.service.cycle_interval_s
        ),
        market_refresh_s=settings.views.market_refresh_s,
    )
    cycle = RunDecisionCycle(
        clock=clock,
        ids=ids,
        market=market,
        portfolio=chain.portfolio,
        conditions=chain.conditions,
        advisor=advisor.advisor,
        uow=uow,
        runner=chain.runner,
        lock=lock,
        state_file=AtomicStateFile(settings.database.resolved_state_file()),
        config=config,
        notifier=notifier,
        dashboard_url=url,
        terms=chain.terms,
    )
    execute_approved = ExecuteApprovedDecision(
        clock=clock,
        uow=uow,
        portfolio=chain.portfolio,
        conditions=chain.conditions,
        runner=chain.runner,
        lock=lock,
        strategy=strategy,
        notifier=notifier,
        dashboard_url=url,
    )
    signing = _owners_signing(
        chain,
        tx_service=tx_service,
        clock=clock,
        uow=uow,
        lock=lock,
        strategy=strategy,
        notifier=notifier,
        dashboard_url=url,
        views=views,
    )
    cancellations = (
        CancelOwnerProposals(clock=clock, uow=uow, owners=chain.owners, upkeep=chain.owners)
        if signing and chain.owners is not None
        else None
    )
    revocation = (
        RevokeAgentRole(clock=clock, uow=uow, owners=chain.owners, revocation=chain.owners)
        if chain.owners is not None
        else None
    )
    return Services(
        revocation=revocation,
        signatures=signing[0] if signing else None,
        owner_approvals=ReadOwnerApprovals(uow=uow) if signing else None,
        cancellations=cancellations,
        market=market_data,
        signal=signal,
        status=status,
        cycle=ProposingCycle(
            cycle=CycleFeedingViews(cycle=cycle, views=views, status=status, clock=clock),
            propose=signing[1],
            sweep=partial(cancellations.sweep, "engine") if cancellations else None,
        )
        if signing
        else CycleFeedingViews(cycle=cycle, views=views, status=status, clock=clock),
        views=views,
        decisions=ListDecisions(uow=uow),
        approve=DecideOnApproval(
            clock=clock,
            uow=uow,
            notifier=notifier,
            dashboard_url=url,
            owners_sign=bool(signing),
            clear=cancellations,
        ),
        execute_approved=ExecutionFeedingViews(execution=execute_approved, views=views),
        expire=ExpirePendingDecisions(
            clock=clock, uow=uow, notifier=notifier, dashboard_url=url, clear=cancellations
        ),
        emergency_stop=EmergencyStop(
            clock=clock, uow=uow, notifier=notifier, revocation=revocation
        ),
        resume=Resume(clock=clock, uow=uow, notifier=notifier),
        lift_cooldown=LiftReentryCooldown(clock=clock, uow=uow, strategy=strategy),
        manual_mvrv=SetManualMvrv(clock=clock, uow=uow),
        performance=GetPerformanceMetrics(
            uow_factory=uow, clock=clock, risk_free_rate=settings.service.risk_free_rate
        ),
        preflight=preflight_for(settings, market, chain),
        audit=ReadAudit(uow=uow),
        transactions=ListTransactions(uow=uow),
        health=CheckHealth(
            clock=clock,
            uow=uow,
            market=market,
            advisor=advisor.probe,
            protocols=chain.probes,
            others=notifier.probes(),
            role=election,
        ),
        limits=GetLimitsInForce(limits=strategy.limits_in_force()),
    )


class Container(containers.DeclarativeContainer):
    """Providers for every part of the service; `settings` is given at construction."""

    settings = providers.Dependency(instance_of=AppSettings)
    clock = providers.Singleton(clock_for, settings)
    ids = providers.Singleton(UuidIds)
    strategy = providers.Singleton(strategy_for, settings)

    database = providers.Resource(open_database, settings)
    uow = providers.Singleton(SqlUnitOfWorkFactory, database, clock=clock.provided.now)

    market = providers.Resource(open_market, settings, clock, uow)
    advisor = providers.Resource(open_advisor, settings, strategy)
    notifier = providers.Resource(open_notifier, settings, database, clock)
    chain = providers.Resource(open_chain, settings, clock, uow, market, database, strategy)
    election = providers.Resource(open_election, settings, database)
    tx_service = providers.Resource(open_transaction_service, settings)

    services = providers.Singleton(
        build_services,
        settings=settings,
        clock=clock,
        ids=ids,
        uow=uow,
        market=market,
        advisor=advisor,
        chain=chain,
        notifier=notifier,
        engine=database,
        strategy=strategy,
        election=election,
        tx_service=tx_service,
    )


@dataclass(slots=True, kw_only=True)
class Runtime:
    """A running service's parts: use cases, tokens, the per-tick hook, and how to close."""

    settings: AppSettings
    services: Services
    tokens: TokenRegistry
    chain: ChainWiring
    container: Container
    market: MarketDataSource
    uow: UnitOfWorkFactory
    outcomes: RecordDecisionOutcomes
    daily_summary: PublishDailySummary
    clock: Clock
    election: LeaderElection
    waiting_approvals: ExecuteWaitingApprovals
    service_confirmations: CollectServiceConfirmations | None = None
    _last_summary: date | None = field(default=None)

    @property
    def simulated(self) -> bool:
        """Whether time is simulated (paper clock and simulated market)."""
        return isinstance(self.clock, PaperClock)

    async def advance(self, delta: timedelta) -> datetime:
        """Paper mode: let `delta` of simulated time pass. The clock moves (so the market
        walks), the dev chain's block time and price oracle follow. Returns the new time.

        Raises:
            ValueError: time is not simulated, or `delta` is not positive.
        """
        if not isinstance(self.clock, PaperClock):
            raise ValueError("only paper mode's simulated time can be advanced")
        if delta <= timedelta(0):
            raise ValueError("the time to advance must be positive")
        now = self.clock.advance(delta)
        await self.chain.on_tick(await self.market.fetch(), delta)
        return now

    async def before_cycle(self) -> None:
        """The scheduler's hook before each cycle: in paper mode a cycle's worth of simulated
        time passes; decision outcomes are measured; once a day the summary goes out."""
        if self.simulated:
            hours = self.settings.paper_settings.paper_hours_per_cycle
            await self.advance(timedelta(hours=hours))
        await self.outcomes.execute()
        today = self.clock.now().date()
        if self._last_summary != today:
            self._last_summary = today
            await self.daily_summary.execute()

    async def take_over(self) -> None:
        """Once this process has won the leader election, before it leads: recover what a crash
        (of this process or of the previous leader) left unfinished, and in paper mode
        resume on the calendar the previous leader left in the data directory."""
        if isinstance(self.clock, PaperClock):
            self.clock.reload()
        # Before this process plans anything: settle what a crash left.
        recovered = await Recover(
            uow=self.uow,
            runner=self.chain.runner,
            clock=self.clock,
            strategy=self.container.strategy(),
            notifier=await _resolved(self.container.notifier()),
            dashboard_url=self.settings.service.public_url,
        ).execute()
        if recovered.unsettled:
            log.warning(
                "decisions wait for steps still pending on chain; new plans are refused "
                "until they settle",
                extra={"decisions": list(recovered.unsettled)},
            )

    async def while_leading(self) -> None:
        """The leader's duty every election interval: run approvals recorded on a standby."""
        ran = await self.waiting_approvals.execute()
        if ran:
            log.info("executed decisions approved elsewhere", extra={"decisions": ran})
        if self.service_confirmations is not None:
            signed = await self.service_confirmations.execute()
            if signed:
                log.info(
                    "owners' signatures collected from the Safe Transaction Service",
                    extra={"decisions": signed},
                )

    async def aclose(self) -> None:
        """Stop the read models' refreshers, then close every opened resource (newest
        first)."""
        await self.services.views.aclose()
        result = self.container.shutdown_resources()
        if isinstance(result, Awaitable):
            await result


def tokens_for(settings: AppSettings) -> TokenRegistry:
    """The API tokens from `TREASURY_API_TOKENS`."""
    return TokenRegistry.parse(settings.service.api_tokens.get_secret_value())


async def bootstrap(settings: AppSettings) -> Runtime:
    """Build and open everything the settings describe.

    Raises:
        StartupRefused: live mode lacks something it needs (the message names it).
        SchemaBehind: the database needs `treasury db upgrade`.
    """
    problems = settings.live_problems()
    if problems:
        raise StartupRefused("live mode cannot start; missing: " + "; ".join(problems))
    register_secrets(settings.secrets())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    container = Container(settings=settings)
    try:
        services: Services = await _resolved(container.services())
        chain: ChainWiring = await _resolved(container.chain())
        market: MarketDataSource = await _resolved(container.market())
        uow: UnitOfWorkFactory = await _resolved(container.uow())
        notifier: NotificationDispatcher = await _resolved(container.notifier())
        election: LeaderElection = await _resolved(container.election())
        tx_service: TransactionService | None = await _resolved(container.tx_service())
        clock = container.clock()
        strategy: StrategyConfig = container.strategy()
        await RecordLimitsInForce(clock=clock, uow=uow, limits=strategy.limits_in_force()).execute()
        return Runtime(
            settings=settings,
            services=services,
            tokens=tokens_for(settings),
            chain=chain,
            container=container,
            market=market,
            uow=uow,
            outcomes=RecordDecisionOutcomes(clock=clock, uow=uow),
            daily_summary=PublishDailySummary(
                clock=clock,
                status=services.status,
                notifier=notifier,
                dashboard_url=settings.service.public_url,
            ),
            clock=clock,
            election=election,
            waiting_approvals=ExecuteWaitingApprovals(
                clock=clock, uow=uow, execute=services.execute_approved
            ),
            service_confirmations=CollectServiceConfirmations(
                clock=clock, uow=uow, service=tx_service, signatures=services.signatures
            )
            if tx_service is not None and services.signatures is not None
            else None,
        )
    except BaseException:
        result = container.shutdown_resources()
        if isinstance(result, Awaitable):
            await result
        raise


async def _resolved(value: Any) -> Any:
    """A provider's value, awaiting it when it depends on an async resource."""
    if isinstance(value, Awaitable):
        return await value
    return value


def paper_tokens(settings: AppSettings) -> tuple[AppSettings, str | None]:
    """In paper mode without `TREASURY_API_TOKENS`: a generated approver token, kept in the
    data directory (mode 0600) so it survives restarts. Returns new settings and the token
    when one was generated or reused, else None."""
    if not settings.paper or settings.service.api_tokens.get_secret_value():
        return settings, None
    import secrets

    path = private_directory(settings.database.data_dir) / "api_token"
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
    else:
        token = secrets.token_urlsafe(24)
        path.touch(mode=0o600)
        path.write_text(token + "\n", encoding="utf-8")
    service = settings.service.model_copy(
        update={"api_tokens": SecretStr(f"{token}:{Role.APPROVER.name.lower()}")}
    )
    return AppSettings(
        service=service,
        database=settings.database,
        market=settings.market,
        advisor=settings.advisor,
        chain=settings.chain,
        devchain=settings.devchain,
        notify=settings.notify,
        paper_settings=settings.paper_settings,
        strategy=settings.strategy,
        views=settings.views,
        custody=settings.custody,
    ), token
