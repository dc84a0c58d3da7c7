"""The treasury as seen on chain: planned moves turned into requests, positions read back.

* `ProtocolTransactionBuilder` (TransactionBuilder port): a planned domain `Transaction` to the
  approve and action requests of Aave, Curve, Pendle or the swap venue, amounts converted to
  base units with each token's decimals (rounding down, never overspending).
* `ChainPortfolioReader` (PortfolioReader port): aTokens at their accrued balance, Curve LP at
  virtual price times LP balance, Pendle PT at its market price with the discount to maturity,
  wallet WBTC/WETH at market prices, idle stablecoins (USDC, USDT, DAI) as cash; positions keyed
  `(protocol, asset)` the way the planner names them (`aave`/`USDC`, `curve`/`3CRV`,
  `pendle`/`PT-USDC`, `wallet`/`WBTC`...). Gas ETH is not treasury capital and is not a position.
  When one protocol cannot be read (its API or contract failing: `ProtocolUnavailable`), its
  position keeps the value of the last good read and is flagged stale in the state's `extra`
  (`stale_positions`, and `stale:<protocol>/<asset>` with the reason and the time of that
  read), so one protocol's outage does not fail every portfolio read. With no earlier read
  the failure is raised: there is no honest value to show. A node failure still fails the read.
* `ChainConditionsReader` (ChainConditions port): base fee and gas price from the executor's
  fee-history quote, protocol TVL from a callable (DeFiLlama live, pool balances on the dev
  chain).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from web3 import AsyncWeb3

from adapters.chain.aave import AaveV3
from adapters.chain.addresses import Token
from adapters.chain.curve import Curve3Pool
from adapters.chain.multicall3 import BatchReader, ViewCall, balance_call, batch_reader
from adapters.chain.pendle import Pendle, PendleMarket
from adapters.chain.rpc import TRANSPORT_ERRORS
from adapters.chain.tokens import PlanBalances, counting
from application.errors import PermanentError
from application.ports.chain import (
    GasPriceAboveCap,
    ProtocolPosition,
    ProtocolUnavailable,
    RpcUnavailable,
    SwapVenue,
    TransactionExecutor,
    TransactionRequest,
)
from application.ports.clock import Clock
from domain.market import STABLECOINS
from domain.maturity import TermHolding, TermMarket
from domain.money import ZERO, from_base_units, to_base_units
from domain.plans import Transaction, TransactionType
from domain.portfolio import WALLET, PortfolioState, Position

logger = logging.getLogger(__name__)

GWEI = Decimal(10) ** 9
WAD = Decimal(10) ** 18
ONE = Decimal(1)
CASH = "USDC"
VOLATILE = {"WBTC": "BTC", "WETH": "ETH"}
AAVE, CURVE, PENDLE = "aave", "curve", "pendle"
LP_ASSET, PT_ASSET = "3CRV", "PT-USDC"

PriceSource = Callable[[], Awaitable[Mapping[str, Decimal]]]
"""USD per BTC and ETH now (keys `BTC`, `ETH`)."""


class UnknownMove(PermanentError):
    """A planned move names a protocol or asset this treasury cannot trade."""


class PendleHeld:
    """The Pendle markets the treasury may hold PT in, by address (any case), with each
    market's details once read (expiry and PT never change)."""

    def __init__(self) -> None:
        self.markets: dict[str, PendleMarket | None] = {}
        self.discovered = False

    def note(self, address: str, market: PendleMarket | None = None) -> None:
        """Remember a market (its details too, when known)."""
        key = address.lower()
        if market is not None or key not in self.markets:
            self.markets[key] = market if market is not None else self.markets.get(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Venues:
    """The treasury's protocol adapters on one chain; `pendle_market` is the configured
    market, `pendle_held` the markets the treasury may hold PT in (see `PendleTerms`)."""

    owner: str
    tokens: Mapping[str, Token]
    aave: AaveV3
    curve: Curve3Pool
    pendle: Pendle
    pendle_market: str
    swap: SwapVenue
    pendle_held: PendleHeld = field(default_factory=lambda: PendleHeld())

    def token(self, symbol: str) -> Token:
        """The token named `symbol`.

        Raises:
            UnknownMove: no such token on this chain.
        """
        token = self.tokens.get(symbol.upper())
        if token is None:
            raise UnknownMove(f"no {symbol} token is configured on this chain")
        return token


class ProtocolTransactionBuilder:
    """Planned moves to on-chain requests (see module doc)."""

    def __init__(self, venues: Venues, *, one_transaction: bool = False) -> None:
        """`one_transaction`: plans are sent as one batch (Safe custody), so a move may spend
        what earlier moves of the same plan bring in (see `tokens.PlanBalances`)."""
        self._v = venues
        self._balances = PlanBalances() if one_transaction else None

    def start_plan(self) -> None:
        """Each venue's allowance ledger (and the plan's balances) start afresh from what is
        on chain."""
        v = self._v
        if self._balances is not None:
            self._balances.clear()
        for ledger in (v.aave.allowances, v.curve.allowances, v.pendle.allowances):
            ledger.clear()
        swap_ledger = getattr(v.swap, "allowances", None)
        if swap_ledger is not None:
            swap_ledger.clear()

    async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
        """The requests that carry out `tx`, approvals first.

        Raises:
            UnknownMove: the protocol or asset is not one this treasury trades.
            InsufficientBalance: the treasury does not hold what the move spends (with what
                earlier moves of the plan bring in, when plans are one transaction).
            ProtocolUnavailable: a protocol API failed.
        """
        if self._balances is None:
            return await self._build(tx)
        with counting(self._balances):
            requests = await self._build(tx)
        self._balances.credit(requests, self._v.owner)
        return requests

    async def _build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
        v = self._v
        slippage = tx.slippage_tolerance
        owner = v.owner
        if tx.tx_type is TransactionType.SWAP:
            src, dst = v.token(tx.from_asset), v.token(tx.to_asset)
            amount = to_base_units(tx.amount, src.decimals)
            return await v.swap.build_swap(owner, src.address, dst.address, amount, slippage)
        usdc = v.token(CASH)
        if tx.tx_type is TransactionType.DEPOSIT:
            if tx.from_asset != CASH:
                raise UnknownMove(f"deposits are made in {CASH}, not {tx.from_asset}")
            amount = to_base_units(tx.amount, usdc.decimals)
            if tx.protocol == AAVE:
                return await v.aave.build_deposit(owner, CASH, amount, slippage)
            if tx.protocol == CURVE:
                return await v.curve.build_deposit(owner, CASH, amount, slippage)
            if tx.protocol == PENDLE:
                market = tx.market or await PendleTerms(v).current()
                v.pendle_held.note(market)
                return await v.pendle.build_deposit(owner, market, amount, slippage)
            raise UnknownMove(f"cannot deposit into {tx.protocol}")
        if tx.protocol == AAVE:
            position = await v.aave.position(owner, CASH)
            amount = position.balance if tx.full_exit else to_base_units(tx.amount, usdc.decimals)
            return await v.aave.build_withdraw(owner, CASH, min(amount, position.balance), slippage)
        if tx.protocol == CURVE:
            position = await v.curve.position(owner, LP_ASSET)
            lp = position.balance if tx.full_exit else to_base_units(tx.amount, position.decimals)
            return await v.curve.build_remove_lp(owner, CASH, min(lp, position.balance), slippage)
        if tx.protocol == PENDLE:
            market = tx.market or await PendleTerms(v).largest_holding()
            position = await v.pendle.position(owner, market)
            pt = position.balance if tx.full_exit else to_base_units(tx.amount, position.decimals)
            return await v.pendle.build_withdraw(owner, market, min(pt, position.balance), slippage)
        raise UnknownMove(f"cannot withdraw from {tx.protocol}")


class ChainPortfolioReader:
    """The treasury's positions and cash, read from chain (see module doc).

    Every contract read a portfolio read needs (the Aave reserve and aToken balance, the Curve
    LP balance and virtual price, the PT balance, the wallet's tokens) goes in one batch: one
    `eth_call` through Multicall3, all from the same block (`BatchReader`; one call per read
    where the chain has no Multicall3). Only the Pendle market (its PT and implied APY) comes
    from Pendle's API, before the batch. An aToken seen for the first time, or changed since
    the last read, is read in a second batch. The unit prices (LP virtual price, PT price) the
    read saw are kept with its block number: `unit_prices` right after, in the same block,
    answers with them instead of reading the pool and the market again.
    """

    def __init__(
        self,
        venues: Venues,
        *,
        w3: AsyncWeb3[Any],
        prices: PriceSource,
        clock: Clock,
        batch: BatchReader | None = None,
    ) -> None:
        self._v = venues
        self._w3 = w3
        self._prices = prices
        self._clock = clock
        self._batch = batch or batch_reader(w3)
        # The last good reading per protocol position (None: it held nothing), and when.
        self._last: dict[tuple[str, str], tuple[Position | None, datetime]] = {}
        # The unit prices the last read saw, and its block number.
        self._priced: tuple[int, dict[str, Decimal]] | None = None

    async def read(self) -> PortfolioState:
        """Every non-zero position plus idle stablecoins (USDC, USDT, DAI), valued now (see the
        module doc for a protocol that cannot be read).

        Raises:
            RpcUnavailable: the chain could not be read.
            ProtocolUnavailable: a protocol could not be read and had no earlier reading.
        """
        v = self._v
        now = self._clock.now()
        block = await self._latest_block()
        chain_now = datetime.fromtimestamp(int(block["timestamp"]), UTC)
        # Pendle PT may be spread over several markets (a roll buys into a new one): the
        # markets come from Pendle's API, their PT balances ride in the batch.
        terms = PendleTerms(v)
        pendle_markets: list[PendleMarket] | ProtocolUnavailable
        try:
            pendle_markets = await terms.markets()
        except ProtocolUnavailable as exc:
            pendle_markets = exc
        calls: dict[str, ViewCall] = {
            "aave.reserve": v.aave.reserve_call(CASH),
            "curve.lp": v.curve.lp_balance_call(v.owner),
            "curve.price": v.curve.virtual_price_call(),
        }
        a_token = v.aave.known_a_token(CASH)
        if a_token is not None:
            calls["aave.balance"] = v.aave.a_token_balance_call(a_token, v.owner)
        if isinstance(pendle_markets, list):
            for i, m in enumerate(pendle_markets):
                calls[f"pendle.balance.{i}"] = v.pendle.pt_balance_call(m, v.owner)
                if v.pendle.known_pt_decimals(m.pt) is None:
                    calls[f"pendle.decimals.{i}"] = v.pendle.pt_decimals_call(m.pt)
        wallet = [s for s in (*VOLATILE, *sorted(STABLECOINS)) if s in v.tokens]
        for symbol in wallet:
            calls[symbol] = balance_call(self._w3, v.tokens[symbol].address, v.owner)
        answers = dict(zip(calls, await self._batch.read(list(calls.values())), strict=True))

        async def aave() -> ProtocolPosition:
            a_token, rate = v.aave.reserve_from(CASH, answers["aave.reserve"].get())
            balance = answers.get("aave.balance")
            if balance is None or calls["aave.balance"].function.address != a_token:
                [balance] = await self._batch.read([v.aave.a_token_balance_call(a_token, v.owner)])
            return v.aave.position_from(CASH, a_token, rate, int(balance.get()))

        async def curve() -> ProtocolPosition:
            lp, price = answers["curve.lp"].get(), answers["curve.price"].get()
            return await v.curve.position_from(int(lp), int(price), LP_ASSET)

        pt_price: Decimal | None = None  # per PT, kept for `unit_prices`

        async def pendle() -> ProtocolPosition:
            nonlocal pt_price
            if isinstance(pendle_markets, ProtocolUnavailable):
                raise pendle_markets
            read: list[tuple[PendleMarket, int, int]] = []
            for i, m in enumerate(pendle_markets):
                balance = int(answers[f"pendle.balance.{i}"].get())
                decimals = v.pendle.known_pt_decimals(m.pt)
                if decimals is None:
                    decimals = v.pendle.remember_pt_decimals(
                        m.pt, answers[f"pendle.decimals.{i}"].get()
                    )
                read.append((m, balance, decimals))
            held = PendleTerms.combine(terms.settle(read, chain_now))
            pt_price = _pt_unit_price(held)
            return held

        positions: list[Position] = []
        stale: dict[tuple[str, str], str] = {}
        readers: tuple[tuple[str, str, Callable[[], Awaitable[ProtocolPosition]]], ...] = (
            (AAVE, CASH, aave),
            (CURVE, LP_ASSET, curve),
            (PENDLE, PT_ASSET, pendle),
        )
        for protocol, asset, reading in readers:
            key = (protocol, asset)
            try:
                held = await reading()
            except ProtocolUnavailable as exc:
                if key not in self._last:
                    raise
                last, read_at = self._last[key]
                label = f"{protocol}/{asset}"
                stale[key] = f"{exc}; value as read at {read_at.isoformat()}"
                logger.warning(
                    "protocol unreadable; showing its last value, flagged stale",
                    extra={"position": label, "reason": str(exc), "read_at": read_at.isoformat()},
                )
                if last is not None:
                    positions.append(last)
                continue
            position = None
            if held.balance > 0:
                position = Position(
                    protocol=protocol,
                    asset=asset,
                    amount=from_base_units(held.balance, held.decimals),
                    value_usd=held.value_usd,
                    apy=held.apy if held.apy is not None else ZERO,
                    entered_at=now,
                )
                positions.append(position)
            self._last[key] = (position, now)
        prices = await self._prices()
        for symbol, market_symbol in VOLATILE.items():
            token = v.tokens.get(symbol)
            if token is None:
                continue
            units = int(answers[symbol].get())
            if units <= 0:
                continue
            price = prices.get(market_symbol)
            if price is None:
                raise ProtocolUnavailable("prices", f"no {market_symbol} price to value {symbol}")
            amount = from_base_units(units, token.decimals)
            positions.append(
                Position(
                    protocol=WALLET,
                    asset=symbol,
                    amount=amount,
                    value_usd=amount * price,
                    apy=ZERO,
                    entered_at=now,
                )
            )
        # Every stablecoin in the wallet is cash, as the domain counts it: an exit sells into the
        # healthiest stablecoin, which is not always USDC. Each counts at face value, like USDC.
        cash = ZERO
        for symbol in sorted(STABLECOINS):
            coin = v.tokens.get(symbol)
            if coin is not None:
                cash += from_base_units(int(answers[symbol].get()), coin.decimals)
        self._priced = None
        if pt_price is not None and answers["curve.price"].error is None:
            # The unit prices of this block, for `unit_prices` while no new block is mined.
            virtual = Decimal(int(answers["curve.price"].get())) / WAD
            self._priced = (
                int(block["number"]),
                {LP_ASSET: virtual, PT_ASSET: pt_price, CASH: ONE},
            )
        state = PortfolioState.build(positions=tuple(positions), cash_balance=cash, as_of=now)
        return state.with_stale_positions(stale)

    async def unit_prices(self) -> Mapping[str, Decimal]:
        """USD per LP token (virtual price) and per PT (market price with the discount), as of
        the latest block: the prices the last `read` saw while no block has been mined since
        (a decision cycle asks right after its read), else read afresh.

        Raises:
            RpcUnavailable: the chain could not be read.
            ProtocolUnavailable: the Curve pool or the Pendle market could not be read.
        """
        if self._priced is not None:
            number, prices = self._priced
            if await self._block_number() == number:
                return dict(prices)
        v = self._v
        # One batch: the virtual price and the PT balances that weight the PT price.
        terms = PendleTerms(v)
        markets = await terms.markets()
        answers = await self._batch.read(
            [v.curve.virtual_price_call(), *(v.pendle.pt_balance_call(m, v.owner) for m in markets)]
        )
        virtual = Decimal(int(answers[0].get())) / WAD
        now = await v.pendle.chain_now()
        read = [
            (m, int(answer.get()), await v.pendle.pt_decimals(m.pt))
            for m, answer in zip(markets, answers[1:], strict=True)
        ]
        pt_price = _pt_unit_price(PendleTerms.combine(terms.settle(read, now)))
        return {LP_ASSET: virtual, PT_ASSET: pt_price, CASH: ONE}

    async def _latest_block(self) -> Any:
        try:
            return await self._w3.eth.get_block("latest")
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable("node", f"reading the latest block: {type(exc).__name__}") from exc

    async def _block_number(self) -> int:
        try:
            return int(await self._w3.eth.block_number)
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable("node", f"reading the block number: {type(exc).__name__}") from exc


def _pt_unit_price(held: ProtocolPosition) -> Decimal:
    """USD per PT: what the held PT is worth per token across its markets, else the current
    market's price."""
    if held.balance > 0:
        return held.value_usd / from_base_units(held.balance, held.decimals)
    return Decimal(held.details.get("pt_price", "1"))


class PendleTerms:
    """The treasury's Pendle PT across markets (TermMarkets port), for the reader, the builder
    and the roll.

    PT may be held in the configured market and in every market a deposit was built for since
    (a roll buys into a new market). On the first read, the active USDC markets are checked
    for PT the treasury holds, so a restarted service finds PT bought into a market after the
    configured one. Deposits that name no market go to the current market: the latest-maturing
    known market that has not matured, else the configured one.
    """

    def __init__(self, venues: Venues) -> None:
        self._v = venues
        self._held = venues.pendle_held
        self._held.note(venues.pendle_market)

    async def _discover(self) -> None:
        if self._held.discovered:
            return
        v = self._v
        for market in await v.pendle.cash_markets():
            if market.address.lower() in self._held.markets:
                continue
            if await v.pendle.pt_balance(market, v.owner) > 0:
                self._held.note(market.address, market)
        self._held.discovered = True

    async def _details(self, address: str) -> PendleMarket:
        known = self._held.markets.get(address.lower())
        if known is None:
            known = await self._v.pendle.market(address)
            self._held.note(address, known)
        return known

    async def markets(self) -> list[PendleMarket]:
        """Every known market (configured first), from Pendle's API; on the first call, the
        active USDC markets are checked for PT the treasury holds (see class doc).

        Raises:
            ProtocolUnavailable: Pendle could not be read.
        """
        await self._discover()
        return [await self._v.pendle.usd_market(address) for address in list(self._held.markets)]

    def settle(
        self, read: Sequence[tuple[PendleMarket, int, int]], now: datetime
    ) -> list[tuple[PendleMarket, ProtocolPosition]]:
        """Each market's PT position from its (market, balance, decimals) at chain time `now`.
        A matured market the treasury no longer holds PT in (rolled out of) is forgotten."""
        found: list[tuple[PendleMarket, ProtocolPosition]] = []
        configured = self._v.pendle_market.lower()
        for market, balance, decimals in read:
            address = market.address.lower()
            if balance == 0 and market.expiry <= now and address != configured:
                self._held.markets.pop(address, None)
                continue
            self._held.note(market.address, market)
            found.append((market, self._v.pendle.position_from(market, balance, decimals, now)))
        return found

    async def _positions(self) -> list[tuple[PendleMarket, ProtocolPosition]]:
        """Every known market's PT position, held or not (configured market first), read with
        single calls (the portfolio reader batches the same reads)."""
        markets = await self.markets()
        now = await self._v.pendle.chain_now()
        read = [
            (
                m,
                await self._v.pendle.pt_balance(m, self._v.owner),
                await self._v.pendle.pt_decimals(m.pt),
            )
            for m in markets
        ]
        return self.settle(read, now)

    async def current(self) -> str:
        """The market a deposit naming none goes to (see class doc)."""
        now = await self._v.pendle.chain_now()
        live = [await self._details(address) for address in list(self._held.markets)]
        open_markets = [m for m in live if m.expiry > now]
        if not open_markets:
            return self._v.pendle_market
        return max(open_markets, key=lambda m: m.expiry).address

    async def largest_holding(self) -> str:
        """The market a withdrawal naming none sells from: the one holding the most PT value
        (the current market when none holds any)."""
        held = [(m, p) for m, p in await self._positions() if p.balance > 0]
        if not held:
            return await self.current()
        return max(held, key=lambda mp: mp[1].value_usd)[0].address

    async def position(self) -> ProtocolPosition:
        """All PT held, as one `pendle`/`PT-USDC` position: values summed, APY weighted by
        value, `pt_price` and `expiry` of the largest holding.

        Raises:
            ProtocolUnavailable: Pendle could not be read.
        """
        return self.combine(await self._positions())

    @staticmethod
    def combine(positions: Sequence[tuple[PendleMarket, ProtocolPosition]]) -> ProtocolPosition:
        """The markets' positions as one: values summed, APY weighted by value, `pt_price` and
        `expiry` of the largest holding (the first market's position when none holds PT)."""
        held = [p for _, p in positions if p.balance > 0]
        if not held:
            return positions[0][1]
        largest = max(held, key=lambda p: p.value_usd)
        decimals = max(p.decimals for p in held)
        balance = sum(p.balance * 10 ** (decimals - p.decimals) for p in held)
        value = sum((p.value_usd for p in held), ZERO)
        apy = (
            sum(((p.apy or ZERO) * p.value_usd for p in held), ZERO) / value
            if value > 0
            else largest.apy
        )
        return replace(largest, balance=balance, decimals=decimals, value_usd=value, apy=apy)

    def _term(self, market: PendleMarket) -> TermMarket:
        return TermMarket(
            protocol=PENDLE,
            asset=PT_ASSET,
            market=market.address,
            name=market.name,
            matures_at=market.expiry,
            apy=market.implied_apy,
            liquidity_usd=market.liquidity_usd,
            accounting_asset=market.accounting or "",
        )

    async def holdings(self) -> tuple[TermHolding, ...]:
        """PT held, per market, with each market's maturity."""
        return tuple(
            TermHolding(
                market=self._term(market),
                amount=from_base_units(position.balance, position.decimals),
                value_usd=position.value_usd,
            )
            for market, position in await self._positions()
            if position.balance > 0
        )

    async def candidates(self) -> tuple[TermMarket, ...]:
        """Active markets whose PT redeems for USDC (the roll's domain rules choose among
        them)."""
        return tuple(self._term(m) for m in await self._v.pendle.cash_markets())


class ChainConditionsReader:
    """Fees from the executor's quote; TVL from the given source."""

    def __init__(
        self,
        executor: TransactionExecutor,
        tvl: Callable[[], Awaitable[Mapping[str, Decimal]]],
    ) -> None:
        self._executor = executor
        self._tvl = tvl

    async def base_fee_gwei(self) -> Decimal | None:
        """The next block's base fee in gwei (reported even when above the cap), or None."""
        try:
            quote = await self._executor.fees()
        except GasPriceAboveCap as exc:
            return Decimal(exc.base_fee) / GWEI
        except RpcUnavailable:
            return None
        return Decimal(quote.base_fee) / GWEI

    async def gas_price_gwei(self) -> Decimal:
        """Base fee plus the priority fee, in gwei.

        Raises:
            RpcUnavailable: fees could not be read.
        """
        try:
            quote = await self._executor.fees()
        except GasPriceAboveCap as exc:
            return Decimal(exc.base_fee) / GWEI
        return Decimal(quote.base_fee + quote.max_priority_fee) / GWEI

    async def protocol_tvl_usd(self) -> Mapping[str, Decimal]:
        """TVL per protocol; a protocol whose TVL cannot be read is left out (unknown)."""
        try:
            return dict(await self._tvl())
        except (ProtocolUnavailable, RpcUnavailable):
            return {}


class CachedTvl:
    """A TVL source whose last good answer is reused for `ttl_s` seconds, one read at a time.

    Protocol TVL moves slowly (DeFiLlama itself refreshes hourly) and the safety policy only
    compares it with a floor, so a reading a few minutes old is as good as a fresh one and
    spares a dozen calls per cycle. A failed read is not cached: the next cycle tries again.
    """

    def __init__(
        self,
        source: Callable[[], Awaitable[Mapping[str, Decimal]]],
        ttl_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_s
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._value: Mapping[str, Decimal] | None = None
        self._read_at = 0.0

    async def __call__(self) -> Mapping[str, Decimal]:
        """TVL per protocol, from the cache while it is fresh."""
        async with self._lock:
            now = self._monotonic()
            if self._value is None or now - self._read_at > self._ttl:
                self._value = dict(await self._source())
                self._read_at = now
            return self._value


class CachedPortfolioReader:
    """A PortfolioReader that reuses a read for `ttl_s` seconds, one chain read at a time.

    For read-only views (`GET /portfolio/status`, the dashboard) that may be polled many times a
    second: chain state only changes with new blocks, so a reading a second or two old is
    current enough. Decision cycles and executions use the uncached reader.
    """

    def __init__(self, inner: ChainPortfolioReader, ttl_s: float = 2.0) -> None:
        self._inner = inner
        self._ttl = ttl_s
        self._lock = asyncio.Lock()
        self._state: PortfolioState | None = None
        self._read_at = 0.0

    async def read(self) -> PortfolioState:
        """The latest reading, refreshed when older than the TTL."""
        async with self._lock:
            if self._state is None or time.monotonic() - self._read_at > self._ttl:
                self._state = await self._inner.read()
                self._read_at = time.monotonic()
            return self._state

    async def unit_prices(self) -> Mapping[str, Decimal]:
        """Unit prices, read through (they are only used when planning)."""
        return await self._inner.unit_prices()
