"""The chain side of the service: signer, node, protocol adapters, execution engine.

`open_chain` is an async generator (a container `Resource`) yielding a `ChainWiring`:

* `TREASURY_CHAIN=devchain` (paper): the dev chain in-process (or on `TREASURY_DEVCHAIN_RPC_URL`)
  with its contracts and the loopback fake 1inch and Pendle APIs; a paper keystore created in
  the data directory on first use; the $400K treasury funded on a new data directory and, on
  the in-process chain (which forgets everything when the process exits), rebuilt from the
  recorded positions on restart. Each paper tick moves the chain's clock with the paper clock
  and copies the simulated prices into the oracle.
* `TREASURY_CHAIN=rpc` (live): the keystore and RPC node from the settings, real addresses.

Either way the same engine, executor and adapters run; only the node and addresses differ.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.chain.aave import AaveV3
from adapters.chain.addresses import ChainId, addresses_for
from adapters.chain.curve import Curve3Pool
from adapters.chain.curve_api import BLOCKCHAIN_IDS, CurveApi
from adapters.chain.defillama import DefiLlama
from adapters.chain.devchain.deploy import DevChainConfig, deploy_next_pendle_market
from adapters.chain.devchain.fake_apis import LiveBook
from adapters.chain.devchain.history import StateHistory
from adapters.chain.devchain.node import holds_deployment, running_devchain
from adapters.chain.devchain.oracle import advance_time, push_market_data
from adapters.chain.devchain.paper import (
    GAS_ETH,
    RESTORE_TARGET,
    SEED_TARGET,
    devchain_tvl,
    devchain_venues,
    funding_plan_id,
    restore_funding,
    restore_moves,
    seed_moves,
)
from adapters.chain.devchain.world import DevChainWorld
from adapters.chain.executor import Web3Executor
from adapters.chain.fees import GWEI
from adapters.chain.keystore import PAPER_SCRYPT_WORK, KeystoreSigner, create_keystore
from adapters.chain.oneinch import OneInch
from adapters.chain.pendle import Pendle
from adapters.chain.preflight import (
    ChainIdCheck,
    ContractReadCheck,
    GasBalanceCheck,
    NodeChainIdCheck,
    PendleMarketCheck,
    SwapApiKeyCheck,
)
from adapters.chain.rpc import TRANSPORT_ERRORS, connect
from adapters.chain.safe.devsetup import ScopedSafe
from adapters.chain.treasury import (
    CachedPortfolioReader,
    CachedTvl,
    ChainConditionsReader,
    ChainPortfolioReader,
    PendleTerms,
    ProtocolTransactionBuilder,
    Venues,
)
from adapters.faults import KillAt
from adapters.persistence.journal import SqlStepJournal
from application.chain_reset import SettleChainReset
from application.engine import ExecutionEngine
from application.execution import PlanRunner
from application.funding import FundingPlan, RunFundingPlan
from application.ports.chain import PlanBatchSender, RpcUnavailable, TransactionExecutor
from application.ports.clock import Clock
from application.ports.faults import NO_FAULTS, FaultPoints
from application.ports.market import MarketDataSource
from application.ports.owners import SafeOwners
from application.ports.persistence import UnitOfWorkFactory
from application.ports.preflight import PreflightCheck
from application.ports.treasury import ChainConditions, PortfolioReader, TermMarkets
from application.queries import Health, HealthProbe, ProbeResult
from domain.market import MarketData
from domain.strategy import StrategyConfig
from entrypoints.settings.custody import Custody
from entrypoints.wiring.safe import batch_sender, open_paper_safe, owner_proposals

if TYPE_CHECKING:  # the container imports this module; it only passes its settings in
    from entrypoints.container import AppSettings

log = logging.getLogger(__name__)

Tick = Callable[[MarketData, timedelta], Awaitable[None]]


async def _no_tick(market: MarketData, delta: timedelta) -> None:
    del market, delta


@dataclass(slots=True, kw_only=True)
class ChainWiring:
    """What the rest of the service needs from the chain."""

    portfolio: PortfolioReader
    conditions: ChainConditions
    views: PortfolioReader | None = None
    runner: PlanRunner
    probes: tuple[HealthProbe, ...] = ()
    tick: Tick = field(default=_no_tick)
    fund: Callable[[Decimal], Awaitable[None]] | None = None
    chain_id: int = 0
    address: str = ""
    checks: tuple[PreflightCheck, ...] = ()
    terms: TermMarkets | None = None
    web3: Any = None
    """The treasury's own chain connection (the bench and tests count the requests it sends)."""
    owners: SafeOwners | None = None
    """Under Safe custody: the owners' proposals (a plan that needs approval is theirs to sign)."""

    async def on_tick(self, market: MarketData, delta: timedelta) -> None:
        """Paper mode: the chain follows simulated time and prices (live: nothing)."""
        await self.tick(market, delta)


class ProtocolProbe:
    """A protocol is healthy when a live figure (APY, virtual price) can be read from it."""

    def __init__(self, name: str, read: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self._read = read

    async def check(self) -> ProbeResult:
        """Read the protocol once; never raises."""
        try:
            value = await self._read()
        except Exception as exc:  # a probe reports every failure, whatever its kind
            return ProbeResult(name=self.name, status=Health.UNHEALTHY, detail=type(exc).__name__)
        return ProbeResult(name=self.name, status=Health.HEALTHY, detail=f"read {value}")


def _probes(venues: Venues) -> tuple[HealthProbe, ...]:
    return (
        ProtocolProbe("aave", lambda: venues.aave.apy("USDC")),
        ProtocolProbe("curve", venues.curve.virtual_price),
        ProtocolProbe("pendle", lambda: venues.pendle.apy(venues.pendle_market)),
    )


def paper_signer(directory: Path) -> KeystoreSigner:
    """The paper treasury's own key: an encrypted keystore with a generated passphrase, both
    kept in `directory` (files readable by the owner only). It holds only dev-chain money."""
    directory.mkdir(parents=True, exist_ok=True)
    keystore = directory / "paper_keystore.json"
    passphrase_file = directory / "paper_keystore.pass"
    if not keystore.exists():
        passphrase = secrets.token_urlsafe(24)
        passphrase_file.touch(mode=0o600)
        passphrase_file.write_text(passphrase, encoding="utf-8")
        create_keystore(keystore, passphrase, scrypt_work=PAPER_SCRYPT_WORK)
    passphrase = passphrase_file.read_text(encoding="utf-8").strip()
    return KeystoreSigner.from_keystore(keystore, passphrase)


def _eth_usd(market: MarketDataSource) -> Callable[[], Awaitable[Decimal]]:
    async def read() -> Decimal:
        data = await market.fetch()
        if data.eth_price is None:
            raise ValueError("no ETH price to cost gas with")
        return data.eth_price

    return read


def _prices(market: MarketDataSource) -> Callable[[], Awaitable[Mapping[str, Decimal]]]:
    async def read() -> Mapping[str, Decimal]:
        data = await market.fetch()
        prices: dict[str, Decimal] = {}
        if data.btc_price is not None:
            prices["BTC"] = data.btc_price
        if data.eth_price is not None:
            prices["ETH"] = data.eth_price
        return prices

    return read


def fault_points(settings: AppSettings) -> FaultPoints:
    """Crash injection at `TREASURY_FAULT_AT` (tests only); nothing otherwise."""
    spec = settings.service.fault_spec
    if spec is None:
        return NO_FAULTS
    log.warning("crash injection is on", extra={"fault_at": str(spec)})
    return KillAt(spec)


def _executor(
    w3: Any,
    signer: KeystoreSigner,
    journal: SqlStepJournal,
    chain_id: int,
    settings: AppSettings,
    strategy: StrategyConfig,
    *,
    dev: bool,
    faults: FaultPoints = NO_FAULTS,
    write_lock: asyncio.Lock | None = None,
) -> Web3Executor:
    """The executor, with the gas cap and gas share of the one strategy configuration."""
    chain = settings.chain
    return Web3Executor(
        w3,
        signer,
        journal,
        chain_id=chain_id,
        endpoint="devchain" if dev else "rpc",
        gas_cap_wei=int(strategy.limits.gas_price_cap_gwei * GWEI),
        priority_fee_percentile=chain.priority_fee_percentile,
        confirmations=chain.confirmations,
        receipt_timeout_seconds=chain.receipt_timeout_seconds,
        poll_interval_seconds=0.05 if dev else 1.0,
        replace_after_blocks=chain.replace_after_blocks,
        max_gas_share=strategy.planner.max_gas_share,
        faults=faults,
        write_lock=write_lock,
    )


def _wiring(
    venues: Venues,
    executor: TransactionExecutor,
    *,
    journal: SqlStepJournal,
    w3: Any,
    clock: Clock,
    uow: UnitOfWorkFactory,
    market: MarketDataSource,
    tvl: Callable[[], Awaitable[Mapping[str, Decimal]]],
    tick: Tick,
    chain_id: int,
    fund: Callable[[Decimal], Awaitable[None]] | None = None,
    faults: FaultPoints = NO_FAULTS,
    more_checks: tuple[PreflightCheck, ...] = (),
    batch: PlanBatchSender | None = None,
    gas_payer: str = "",
    owners: SafeOwners | None = None,
) -> ChainWiring:
    runner = ExecutionEngine(
        uow_factory=uow,
        executor=executor,
        builder=ProtocolTransactionBuilder(venues, one_transaction=batch is not None),
        journal=journal,
        clock=clock,
        eth_usd=_eth_usd(market),
        sender=venues.owner,
        faults=faults,
        batch=batch,
    )
    reader = ChainPortfolioReader(venues, w3=w3, prices=_prices(market), clock=clock)
    return ChainWiring(
        portfolio=reader,
        views=CachedPortfolioReader(reader),
        conditions=ChainConditionsReader(executor, CachedTvl(tvl)),
        runner=runner,
        probes=_probes(venues),
        tick=tick,
        fund=fund,
        chain_id=chain_id,
        address=venues.owner,
        checks=(*_checks(venues, w3, chain_id, gas_payer or venues.owner), *more_checks),
        terms=PendleTerms(venues),
        web3=w3,
        owners=owners,
    )


def _checks(venues: Venues, w3: Any, chain_id: int, gas_payer: str) -> tuple[PreflightCheck, ...]:
    """The read-only preflight of this chain wiring (the same in paper and live); the gas is
    paid by the signing key (under Safe custody the agent, not the Safe)."""
    return (
        ChainIdCheck(w3, chain_id),
        GasBalanceCheck(w3, gas_payer),
        ContractReadCheck(
            "aave", lambda: venues.aave.apy("USDC"), "check the Aave pool address for this chain"
        ),
        ContractReadCheck(
            "curve", venues.curve.virtual_price, "check the Curve 3pool address for this chain"
        ),
        ContractReadCheck(
            "pendle",
            lambda: venues.pendle.apy(venues.pendle_market),
            "check TREASURY_PENDLE_MARKET (an active market) and TREASURY_PENDLE_BASE_URL",
        ),
        PendleMarketCheck(
            venues.pendle, venues.pendle_market, w3, current=PendleTerms(venues).current
        ),
        *(
            (SwapApiKeyCheck(venues.swap.spender, has_key=venues.swap.has_api_key),)
            if isinstance(venues.swap, OneInch)
            else ()
        ),
    )


async def chain_journal(
    w3: Any, engine: AsyncEngine, chain_id: int, *, adopt_unlabelled: bool
) -> SqlStepJournal:
    """The step journal for the chain instance `w3` is connected to (its genesis block hash).

    `adopt_unlabelled`: the chain outlived the service (a live node, or a dev node that still
    holds our deployment), so attempts recorded before chain instances were kept are its own.

    Raises:
        RpcUnavailable: the node did not answer.
    """
    try:
        genesis = await w3.eth.get_block(0)
    except TRANSPORT_ERRORS as exc:
        raise RpcUnavailable("node", f"reading the genesis block: {type(exc).__name__}") from exc
    journal = SqlStepJournal(engine, chain_instance="0x" + bytes(genesis["hash"]).hex())
    if adopt_unlabelled:
        adopted = await journal.adopt_unlabelled(chain_id)
        if adopted:
            log.info("journal attempts adopted by the connected chain", extra={"rows": adopted})
    return journal


async def _settle_chain_reset(
    journal: SqlStepJournal, uow: UnitOfWorkFactory, clock: Clock, chain_id: int
) -> None:
    """Steps of a chain that no longer exists are settled before anything is sent."""
    await SettleChainReset(
        uow_factory=uow, journal=journal, clock=clock, chain_id=chain_id
    ).execute()


async def open_chain(
    settings: AppSettings,
    clock: Clock,
    uow: UnitOfWorkFactory,
    market: MarketDataSource,
    engine: AsyncEngine,
    strategy: StrategyConfig,
) -> AsyncIterator[ChainWiring]:
    """The chain wiring the settings select (see module doc)."""
    from entrypoints.settings.service import ChainChoice

    if settings.service.chain is ChainChoice.DEVCHAIN:
        async for wiring in _open_devchain(settings, clock, uow, market, engine, strategy):
            yield wiring
        return
    async for wiring in _open_rpc(settings, clock, uow, market, engine, strategy):
        yield wiring


async def _open_devchain(
    settings: AppSettings,
    clock: Clock,
    uow: UnitOfWorkFactory,
    market: MarketDataSource,
    engine: AsyncEngine,
    strategy: StrategyConfig,
) -> AsyncIterator[ChainWiring]:
    dev = settings.devchain
    paper = settings.paper_settings
    signer = paper_signer(dev.data_dir / "devchain")
    first = await market.fetch()
    async with uow() as unit:
        recorded = await unit.positions.list_all()
        snapshot = await unit.snapshots.latest()
    # A new chain: in-process (it forgets everything when the process exits), or a node that no
    # longer holds our deployment (restarted). An old one still holds the treasury.
    fresh = dev.devchain_rpc_url is None or not await holds_deployment(
        dev.devchain_rpc_url, dev.resolved_address_book()
    )
    funding_plan: FundingPlan | None = None
    if not fresh:
        # The node still holds the treasury as the last start left it (a first split cut short
        # by a crash included): nothing to mint again, nothing to rebuild.
        funding = {"ETH": GAS_ETH}
    elif not recorded and (snapshot is None or snapshot.cash_balance == 0):
        funding = {"ETH": GAS_ETH, "USDC": paper.paper_capital_usd}
        if paper.paper_start.value == "split":
            funding_plan = FundingPlan(
                plan_id=funding_plan_id("seed", clock.now()),
                reason="paper treasury's first split: 60 % base yield, 40 % tactical",
                moves=tuple(seed_moves(paper.paper_capital_usd)),
                target=SEED_TARGET,
            )
    else:
        funding = restore_funding(recorded, snapshot.cash_balance if snapshot else Decimal(0))
        funding_plan = FundingPlan(
            plan_id=funding_plan_id("restore", clock.now()),
            reason="rebuild the recorded yield positions on a new dev chain",
            moves=tuple(restore_moves(recorded)),
            target=RESTORE_TARGET,
        )
    safe_custody = settings.custody.custody is Custody.SAFE
    # Under Safe custody the agent's key holds only the gas; the capital goes to the Safe.
    treasury_funding = {k: v for k, v in funding.items() if k != "ETH"} if safe_custody else {}
    if safe_custody:
        funding = {"ETH": funding.get("ETH", GAS_ETH)}
    defaults = DevChainConfig()
    config = DevChainConfig(
        btc_usd=first.btc_price or defaults.btc_usd, eth_usd=first.eth_price or defaults.eth_usd
    )
    async with running_devchain(
        rpc_url=dev.devchain_rpc_url,
        address_book=dev.resolved_address_book(),
        oneinch_api_key=dev.devchain_oneinch_api_key.get_secret_value(),
        fund=[signer.address],
        funding=funding,
        config=config,
        cache_dir=dev.compile_cache_dir(),
        deployer_key=dev.deployer_key(),
    ) as running:
        w3, book = running.chain.w3, running.chain.book
        latest = await w3.eth.get_block("latest")
        behind = int(clock.now().timestamp()) - int(latest["timestamp"])
        if behind > 60:
            await advance_time(w3, behind)
        await push_market_data(w3, book, first)
        scoped: ScopedSafe | None = None
        if safe_custody:
            scoped = await open_paper_safe(
                w3,
                book,
                directory=dev.data_dir / "devchain",
                fresh=fresh,
                agent=signer.address,
                threshold=settings.custody.safe_threshold,
                funding=treasury_funding,
            )
        treasury = scoped.safe if scoped is not None else signer.address

        async def list_next_pendle_market(now: int) -> None:
            await _list_next_pendle_market(w3, running.book, now, config, dev)

        # Time, volume, prices, new Pendle markets and deposits: one chain write at a time,
        # never inside the executor's snapshot simulation (it shares the lock).
        world = DevChainWorld(
            w3=w3,
            book=book,
            config=config,
            cache_dir=dev.compile_cache_dir(),
            on_new_time=list_next_pendle_market,
            history=(
                StateHistory(running.chain.tester) if running.chain.tester is not None else None
            ),
        )

        async def fund(usd: Decimal) -> None:
            await world.fund(treasury, usd)

        async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
            venues = devchain_venues(
                w3,
                book,
                owner=treasury,
                client=client,
                oneinch_base_url=running.apis.oneinch_base_url,
                oneinch_api_key=dev.devchain_oneinch_api_key.get_secret_value(),
                pendle_base_url=running.apis.pendle_base_url,
                curve_base_url=running.apis.curve_base_url,
            )
            faults = fault_points(settings)
            journal = await chain_journal(w3, engine, book.chain_id, adopt_unlabelled=not fresh)
            executor = _executor(
                w3,
                signer,
                journal,
                book.chain_id,
                settings,
                strategy,
                dev=True,
                faults=faults,
                write_lock=world.write_lock,
            )
            await _settle_chain_reset(journal, uow, clock, book.chain_id)
            scope = (
                None
                if scoped is None
                else batch_sender(
                    w3,
                    scoped,
                    signer=signer,
                    journal=journal,
                    receipt_timeout_seconds=settings.chain.receipt_timeout_seconds,
                    faults=faults,
                )
            )
            wiring = _wiring(
                venues,
                executor,
                journal=journal,
                w3=w3,
                clock=clock,
                uow=uow,
                market=market,
                tvl=devchain_tvl(w3, running.book),
                tick=world.tick,
                chain_id=book.chain_id,
                fund=fund,
                faults=faults,
                batch=scope,
                gas_payer=signer.address,
                owners=None
                if scoped is None or scope is None
                else owner_proposals(w3, scoped, chain_id=book.chain_id, scope=scope),
            )
            if funding_plan is not None and funding_plan.moves:
                await RunFundingPlan(uow_factory=uow, runner=wiring.runner, clock=clock).execute(
                    funding_plan
                )
            yield wiring


PENDLE_LISTING_LEAD = timedelta(days=60)
"""Paper mode lists the next Pendle market this long before the newest one matures, so a PT
position has somewhere to roll (as live, where Pendle lists a new maturity months ahead)."""


async def _list_next_pendle_market(
    w3: Any, live: LiveBook, now: int, config: DevChainConfig, dev: Any
) -> None:
    """Deploy the next Pendle market on the dev chain once the newest one is within
    `PENDLE_LISTING_LEAD` of maturity; the fake Pendle API lists it from then on, and a node
    that outlives the service keeps it in its address book."""
    book = live.book
    markets = book.pendle_markets()
    if not markets or max(m.expiry for m in markets) - now > PENDLE_LISTING_LEAD.total_seconds():
        return
    live.book = await deploy_next_pendle_market(
        w3, book, config=config, cache_dir=dev.compile_cache_dir()
    )
    if dev.devchain_rpc_url is not None:
        live.book.save(dev.resolved_address_book())


async def _open_rpc(
    settings: AppSettings,
    clock: Clock,
    uow: UnitOfWorkFactory,
    market: MarketDataSource,
    engine: AsyncEngine,
    strategy: StrategyConfig,
) -> AsyncIterator[ChainWiring]:
    if settings.custody.custody is Custody.SAFE:
        raise ValueError(
            "TREASURY_CUSTODY=safe runs in paper mode only for now; live Safe custody is not "
            "wired yet (see docs/custody.md)"
        )
    chain = settings.chain
    urls: dict[int, str] = chain.rpc_urls()
    chain_id = int(ChainId.ETHEREUM) if int(ChainId.ETHEREUM) in urls else next(iter(urls))
    passphrase = chain.passphrase()
    if passphrase is None:
        raise ValueError("TREASURY_KEYSTORE_PASSPHRASE or TREASURY_KEYSTORE_PASSPHRASE_FILE")
    signer = KeystoreSigner.from_keystore(chain.keystore_path, passphrase)
    addresses = addresses_for(chain_id)
    if addresses.aave_pool is None or addresses.curve_3pool is None or not chain.pendle_market:
        raise ValueError(
            "live mode needs the Aave pool, the Curve 3pool and TREASURY_PENDLE_MARKET "
            f"for chain {chain_id}"
        )
    w3 = connect(urls[chain_id], timeout_seconds=chain.rpc_timeout_seconds)
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            llama = DefiLlama(
                client, base_url=chain.defillama_base_url, yields_url=chain.defillama_yields_url
            )

            async def tvl() -> Mapping[str, Decimal]:
                slugs = {"aave": "aave-v3", "curve": "curve-dex", "pendle": "pendle"}
                return {name: await llama.protocol_tvl(slug) for name, slug in slugs.items()}

            key = chain.oneinch_api_key.get_secret_value() if chain.oneinch_api_key else ""
            venues = Venues(
                owner=signer.address,
                tokens=addresses.tokens,
                aave=AaveV3(
                    w3, chain_id=chain_id, pool=addresses.aave_pool, tokens=addresses.tokens
                ),
                curve=Curve3Pool.with_tokens(
                    w3,
                    addresses.tokens,
                    chain_id=chain_id,
                    pool=addresses.curve_3pool,
                    lp_token=addresses.curve_3pool_lp or "",
                    apy_source=CurveApi(
                        client,
                        base_url=chain.curve_api_url,
                        blockchain_id=BLOCKCHAIN_IDS.get(chain_id, "ethereum"),
                    ),
                ),
                pendle=Pendle(
                    client,
                    w3,
                    chain_id=chain_id,
                    cash_token=addresses.tokens["USDC"].address,
                    cash_decimals=addresses.tokens["USDC"].decimals,
                    base_url=chain.pendle_base_url,
                ),
                pendle_market=chain.pendle_market,
                swap=OneInch(
                    client,
                    w3,
                    chain_id=chain_id,
                    api_key=key,
                    base_url=chain.oneinch_base_url,
                    api_version=chain.oneinch_api_version,
                ),
            )
            faults = fault_points(settings)
            journal = await chain_journal(w3, engine, chain_id, adopt_unlabelled=True)
            executor = _executor(
                w3, signer, journal, chain_id, settings, strategy, dev=False, faults=faults
            )
            await _settle_chain_reset(journal, uow, clock, chain_id)
            yield _wiring(
                venues,
                executor,
                journal=journal,
                w3=w3,
                clock=clock,
                uow=uow,
                market=market,
                tvl=tvl,
                tick=_no_tick,
                chain_id=chain_id,
                faults=faults,
                more_checks=tuple(
                    NodeChainIdCheck(url, other, timeout_s=chain.rpc_timeout_seconds)
                    for other, url in urls.items()
                    if other != chain_id
                ),
            )
    finally:
        await w3.provider.disconnect()
