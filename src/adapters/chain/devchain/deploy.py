"""Deploy the dev chain to any node (in-process eth-tester or JSON-RPC) and fund accounts.

Multicall3 is put at its canonical address first (see `devchain/multicall3.py`), as on the
public chains, so the treasury batches its reads on the dev chain as it does live.

The deployer is the node's first unlocked account (eth-tester and anvil both have ten), or, for
a node without unlocked accounts, a key given to `sign_as_deployer` (then every later funding
or oracle call on that web3 signs with it too). Every
transaction is checked: a failed deployment step raises `DevChainDeploymentFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import Web3Exception
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import TxParams, Wei

from adapters.chain.deployment import (
    CheckedSender,
    DeploymentNodeUnreachable,
    DeploymentStepFailed,
)
from adapters.chain.devchain.address_book import AddressBook, PendleListing
from adapters.chain.devchain.compile import CompiledContract, compile_contract
from adapters.chain.devchain.multicall3 import install_multicall3
from domain.money import to_base_units

logger = logging.getLogger(__name__)

RAY = 10**27
WAD = 10**18
MAX_UINT256 = 2**256 - 1


class DevChainDeploymentFailed(DeploymentStepFailed):
    """A dev-chain deployment or funding step failed."""

    scope = "dev chain"


class DevChainUnreachable(DeploymentNodeUnreachable):
    """The dev chain node did not answer."""

    heading = "dev chain node unreachable"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSpec:
    """One dev-chain ERC-20."""

    symbol: str
    name: str
    decimals: int


DEV_TOKENS: tuple[TokenSpec, ...] = (
    TokenSpec(symbol="USDC", name="USD Coin (dev)", decimals=6),
    TokenSpec(symbol="USDT", name="Tether USD (dev)", decimals=6),
    TokenSpec(symbol="DAI", name="Dai Stablecoin (dev)", decimals=18),
    TokenSpec(symbol="WETH", name="Wrapped Ether (dev)", decimals=18),
    TokenSpec(symbol="WBTC", name="Wrapped BTC (dev)", decimals=8),
)
DECIMALS: Mapping[str, int] = {spec.symbol: spec.decimals for spec in DEV_TOKENS}
STABLECOINS = ("USDC", "USDT", "DAI")
DAY = 86_400
CURVE_COINS = ("DAI", "USDC", "USDT")  # 3pool order


@dataclass(frozen=True, slots=True, kw_only=True)
class DevChainConfig:
    """Economic parameters of a fresh dev chain. Amounts are whole tokens, rates fractions."""

    eth_usd: Decimal = Decimal("3500")
    btc_usd: Decimal = Decimal("65000")
    aave_supply_apr: Mapping[str, Decimal] = field(
        default_factory=lambda: {
            "USDC": Decimal("0.045"),
            "USDT": Decimal("0.040"),
            "DAI": Decimal("0.042"),
        }
    )
    # Underlying the Aave pool holds besides deposits (other suppliers), so interest is payable.
    aave_liquidity: Decimal = Decimal("50000000")
    curve_seed_per_coin: Decimal = Decimal("10000000")
    curve_fee: Decimal = Decimal("0.0001")
    # Simulated trading through the 3pool per day, as a share of its balances: its fees are the
    # pool's base APY (0.3 a day at 1 bp is about 1.1 % a year, near the real 3pool's).
    curve_daily_volume_share: Decimal = Decimal("0.3")
    pendle_implied_apy: Decimal = Decimal("0.075")
    pendle_days_to_expiry: int = 180
    pendle_fee: Decimal = Decimal("0.0005")
    pendle_liquidity: Decimal = Decimal("20000000")
    # PT decimals follow the SY (18 for USDe-type markets live), not USDC's 6.
    pendle_pt_decimals: int = 18
    router_fee_bps: int = 5
    # Price impact = trade USD / (trade USD + depth): $1M against $500M depth is about 0.2 %.
    router_depth_usd: Decimal = Decimal("500000000")
    router_inventory_usd: Decimal = Decimal("50000000")


DEFAULT_FUNDING: Mapping[str, Decimal] = {"ETH": Decimal("10"), "USDC": Decimal("1000000")}


def stable_prices(config: DevChainConfig) -> dict[str, Decimal]:
    """USD per whole token for every dev token under `config`."""
    return {
        "USDC": Decimal("1"),
        "USDT": Decimal("1"),
        "DAI": Decimal("1"),
        "WETH": config.eth_usd,
        "WBTC": config.btc_usd,
    }


def _wad(value: Decimal) -> int:
    return to_base_units(value, 18)


def _ray(value: Decimal) -> int:
    return to_base_units(value, 27)


_CONTRACTS: weakref.WeakKeyDictionary[AsyncWeb3[Any], dict[tuple[str, str], AsyncContract]] = (
    weakref.WeakKeyDictionary()
)


def contract_at(w3: AsyncWeb3[Any], name: str, address: str) -> AsyncContract:
    """A web3 contract object for a dev-chain contract (ABI from the compiled source), built
    once per connection, contract and address."""
    built = _CONTRACTS.setdefault(w3, {})
    key = (name, address.lower())
    found = built.get(key)
    if found is None:
        compiled = compile_contract(name)
        found = w3.eth.contract(address=w3.to_checksum_address(address), abi=compiled.abi)
        built[key] = found
    return found


class _Sender(CheckedSender):
    """Sends checked transactions from one account, compiling the dev-chain contracts it
    deploys (not simulated first: the deploy steps are our own contracts on our own chain).

    Each transaction carries a fixed gas limit: without one, web3 asks the node to estimate it,
    and the in-process EVM used to estimate by a binary search that executed the transaction a
    dozen times, most of a paper start's deployment time. A limit too low shows as a reverted
    receipt, which fails the deployment.
    """

    failed = DevChainDeploymentFailed
    unreachable = DevChainUnreachable
    simulates_first = False
    deploy_gas = 6_000_000  # the largest dev-chain deployment uses about 1.7M
    call_gas = 1_000_000  # mint, list, init: each well under 300k

    def __init__(self, w3: AsyncWeb3[Any], sender: str, cache_dir: Path | None) -> None:
        super().__init__(w3, sender)
        self.cache_dir = cache_dir

    async def deploy(self, name: str, *args: Any) -> AsyncContract:
        compiled: CompiledContract = compile_contract(name, self.cache_dir)
        address = await self.deploy_code(name, compiled.abi, compiled.bytecode, *args)
        return self.w3.eth.contract(address=self.w3.to_checksum_address(address), abi=compiled.abi)

    async def send_eth(self, to: str, wei: int) -> None:
        params: TxParams = {
            "from": self.sender,
            "to": self.w3.to_checksum_address(to),
            "value": Wei(wei),
            "gas": self.call_gas,
        }
        await self.mined(f"send {wei} wei to {to}", lambda: self.w3.eth.send_transaction(params))


DEPLOYER_MIDDLEWARE = "devchain_deployer"


def sign_as_deployer(w3: AsyncWeb3[Any], private_key: str) -> str:
    """Sign this web3's transactions from the key's address locally; return that address.

    The key stays inside the signing middleware: it is never logged or returned.

    Raises:
        DevChainDeploymentFailed: the key is not a valid private key.
    """
    try:
        account = Account.from_key(private_key)
    except (ValueError, TypeError):
        # Translated without chaining: the library's message could quote the key.
        raise DevChainDeploymentFailed("load deployer key", "not a valid private key") from None
    if DEPLOYER_MIDDLEWARE not in w3.middleware_onion:
        w3.middleware_onion.inject(
            SignAndSendRawMiddlewareBuilder.build(account), name=DEPLOYER_MIDDLEWARE, layer=0
        )
    return str(account.address)


async def chain_time(w3: AsyncWeb3[Any]) -> int:
    """The latest block's timestamp (unix seconds)."""
    block = await w3.eth.get_block("latest")
    return int(block["timestamp"])


async def deploy_devchain(
    w3: AsyncWeb3[Any],
    *,
    config: DevChainConfig | None = None,
    fund: Sequence[str] = (),
    funding: Mapping[str, Decimal] = DEFAULT_FUNDING,
    deployer: str | None = None,
    cache_dir: Path | None = None,
) -> AddressBook:
    """Deploy every dev-chain contract, seed liquidity, and fund the `fund` addresses.

    Raises:
        DevChainUnreachable: the node did not answer.
        DevChainDeploymentFailed: a deployment or seeding transaction failed.
    """
    config = config or DevChainConfig()
    started = time.monotonic()
    try:
        chain_id = await w3.eth.chain_id
        await install_multicall3(w3)
    except (OSError, Web3Exception) as exc:
        raise DevChainUnreachable(str(exc)) from exc
    sender = _Sender(w3, await _Sender.account(w3, deployer, "find deployer"), cache_dir)
    prices = stable_prices(config)

    tokens: dict[str, AsyncContract] = {}
    for spec in DEV_TOKENS:
        tokens[spec.symbol] = await sender.deploy("ERC20", spec.name, spec.symbol, spec.decimals)
    decimals = {spec.symbol: spec.decimals for spec in DEV_TOKENS}

    async def mint(symbol: str, to: str, amount: Decimal) -> None:
        units = to_base_units(amount, decimals[symbol])
        await sender.send(f"mint {symbol}", tokens[symbol].functions.mint(to, units))

    oracle = await sender.deploy("PriceOracle")
    for symbol, price in prices.items():
        await sender.send(
            f"set {symbol} price", oracle.functions.set_price(tokens[symbol].address, _wad(price))
        )

    pool = await sender.deploy("AavePool")
    a_tokens: dict[str, str] = {}
    for symbol in STABLECOINS:
        a_token = await sender.deploy(
            "AToken",
            f"Aave Ethereum {symbol} (dev)",
            f"aEth{symbol}",
            decimals[symbol],
            pool.address,
            tokens[symbol].address,
        )
        await sender.send(
            f"init {symbol} reserve",
            pool.functions.init_reserve(
                tokens[symbol].address, a_token.address, _ray(config.aave_supply_apr[symbol])
            ),
        )
        await mint(symbol, pool.address, config.aave_liquidity)
        a_tokens[symbol] = a_token.address

    curve, lp = await _deploy_curve(sender, tokens, config, mint)
    market, pt, expiry = await _deploy_pendle(sender, tokens["USDC"], config, mint)

    router = await sender.deploy(
        "SwapRouter", oracle.address, config.router_fee_bps, _wad(config.router_depth_usd)
    )
    for symbol, price in prices.items():
        await sender.send(
            f"list {symbol} on router", router.functions.list_token(tokens[symbol].address)
        )
        await mint(symbol, router.address, config.router_inventory_usd / price)

    book = AddressBook(
        chain_id=chain_id,
        block=await w3.eth.block_number,
        deployer=sender.sender,
        tokens={s: c.address for s, c in tokens.items()},
        decimals=decimals,
        oracle=oracle.address,
        aave_pool=pool.address,
        a_tokens=a_tokens,
        curve_pool=curve.address,
        curve_lp=lp.address,
        pendle_market=market.address,
        pendle_pt=pt.address,
        pendle_expiry=expiry,
        router=router.address,
    )
    for address in fund:
        book = await fund_account(w3, book, address, funding, cache_dir=cache_dir)
    logger.info(
        "dev chain deployed",
        extra={"chain_id": chain_id, "seconds": round(time.monotonic() - started, 2)},
    )
    return book


async def _deploy_curve(
    sender: _Sender,
    tokens: Mapping[str, AsyncContract],
    config: DevChainConfig,
    mint: Callable[[str, str, Decimal], Awaitable[None]],
) -> tuple[AsyncContract, AsyncContract]:
    lp = await sender.deploy("ERC20", "Curve.fi DAI/USDC/USDT (dev)", "3Crv", 18)
    curve = await sender.deploy(
        "CurvePool",
        [tokens[s].address for s in CURVE_COINS],
        lp.address,
        to_base_units(config.curve_fee, 10),
    )
    await sender.send("let the 3pool mint 3Crv", lp.functions.set_minter(curve.address, True))
    amounts = []
    for symbol in CURVE_COINS:
        await mint(symbol, sender.sender, config.curve_seed_per_coin)
        units = to_base_units(config.curve_seed_per_coin, DECIMALS[symbol])
        await sender.send(
            f"approve {symbol} to the 3pool", tokens[symbol].functions.approve(curve.address, units)
        )
        amounts.append(units)
    await sender.send("seed the 3pool", curve.functions.add_liquidity(amounts, 0))
    return curve, lp


async def _deploy_pendle(
    sender: _Sender,
    usdc: AsyncContract,
    config: DevChainConfig,
    mint: Callable[[str, str, Decimal], Awaitable[None]],
) -> tuple[AsyncContract, AsyncContract, int]:
    now = await chain_time(sender.w3)
    # Pendle maturities fall at 00:00 UTC.
    expiry = (now + config.pendle_days_to_expiry * DAY) // DAY * DAY
    return await _deploy_pendle_at(sender, usdc, config, mint, expiry)


async def _deploy_pendle_at(
    sender: _Sender,
    usdc: AsyncContract,
    config: DevChainConfig,
    mint: Callable[[str, str, Decimal], Awaitable[None]],
    expiry: int,
) -> tuple[AsyncContract, AsyncContract, int]:
    label = time.strftime("%d%b%Y", time.gmtime(expiry)).upper()
    pt = await sender.deploy(
        "ERC20", f"PT USDC {label} (dev)", f"PT-USDC-{label}", config.pendle_pt_decimals
    )
    market = await sender.deploy(
        "PendleMarket",
        pt.address,
        usdc.address,
        expiry,
        _wad(config.pendle_implied_apy),
        _wad(config.pendle_fee),
    )
    await sender.send(
        "let the Pendle market mint PT", pt.functions.set_minter(market.address, True)
    )
    await mint("USDC", market.address, config.pendle_liquidity)
    return market, pt, expiry


async def deploy_next_pendle_market(
    w3: AsyncWeb3[Any],
    book: AddressBook,
    *,
    config: DevChainConfig | None = None,
    cache_dir: Path | None = None,
) -> AddressBook:
    """Deploy another Pendle USDC market, maturing `pendle_days_to_expiry` days from the chain's
    now (at 00:00 UTC), with its own liquidity; return the book listing it.

    Raises:
        DevChainDeploymentFailed: a deployment transaction failed.
    """
    config = config or DevChainConfig()
    sender = _Sender(w3, w3.to_checksum_address(book.deployer), cache_dir)
    usdc = contract_at(w3, "ERC20", book.token("USDC"))

    async def mint(symbol: str, to: str, amount: Decimal) -> None:
        token = contract_at(w3, "ERC20", book.token(symbol))
        units = to_base_units(amount, book.decimals[symbol])
        await sender.send(f"mint {symbol}", token.functions.mint(to, units))

    market, pt, expiry = await _deploy_pendle(sender, usdc, config, mint)
    listing = PendleListing(market=market.address, pt=pt.address, expiry=expiry)
    logger.info(
        "dev chain: next Pendle market deployed",
        extra={"market": market.address, "expiry": expiry},
    )
    return replace(book, pendle_later=(*book.pendle_later, listing))


async def fund_account(
    w3: AsyncWeb3[Any],
    book: AddressBook,
    address: str,
    funding: Mapping[str, Decimal] = DEFAULT_FUNDING,
    *,
    cache_dir: Path | None = None,
) -> AddressBook:
    """Send ETH (key "ETH") and mint dev tokens to `address`; return the book noting it.

    Raises:
        DevChainDeploymentFailed: a funding transaction failed or a symbol is unknown.
    """
    sender = _Sender(w3, w3.to_checksum_address(book.deployer), cache_dir)
    target = w3.to_checksum_address(address)
    for symbol, amount in funding.items():
        if symbol.upper() == "ETH":
            await sender.send_eth(target, to_base_units(amount, 18))
            continue
        if symbol.upper() not in book.tokens:
            raise DevChainDeploymentFailed(f"fund {symbol}", "not a dev chain token")
        token = contract_at(w3, "ERC20", book.token(symbol))
        units = to_base_units(amount, book.decimals[symbol.upper()])
        await sender.send(f"mint {symbol} to {target}", token.functions.mint(target, units))
    funded = book.funded if target in book.funded else (*book.funded, target)
    return replace(book, funded=funded)


async def is_deployed(w3: AsyncWeb3[Any], book: AddressBook) -> bool:
    """Whether the node is the chain the book describes, with code at every address."""
    try:
        if await w3.eth.chain_id != book.chain_id:
            return False
        for address in book.contracts().values():
            if not await w3.eth.get_code(w3.to_checksum_address(address)):
                return False
    except (OSError, Web3Exception) as exc:
        raise DevChainUnreachable(str(exc)) from exc
    return True


async def ensure_devchain(
    w3: AsyncWeb3[Any],
    address_book: Path,
    *,
    fund: Sequence[str] = (),
    funding: Mapping[str, Decimal] = DEFAULT_FUNDING,
    config: DevChainConfig | None = None,
    cache_dir: Path | None = None,
    deployer_key: str | None = None,
) -> AddressBook:
    """Reuse the deployment in `address_book` if the node still has it, else deploy afresh.

    Addresses in `fund` that the book has not funded yet are funded; the book is (re)written.
    With `deployer_key`, transactions are signed locally from that key (a node without
    unlocked accounts); funding a reused deployment needs the key that deployed it.

    Raises:
        DevChainUnreachable: the node did not answer.
        DevChainDeploymentFailed: deploying or funding failed.
        AddressBookUnreadable: the file exists but is not an address book.
    """
    deployer = sign_as_deployer(w3, deployer_key) if deployer_key is not None else None
    book: AddressBook | None = None
    if await asyncio.to_thread(address_book.is_file):
        existing = await asyncio.to_thread(AddressBook.load, address_book)
        if await is_deployed(w3, existing):
            book = existing
            logger.info("dev chain reused", extra={"address_book": str(address_book)})
            try:
                await install_multicall3(w3)  # a deployment made before Multicall3 was put on
            except (OSError, Web3Exception) as exc:
                raise DevChainUnreachable(str(exc)) from exc
    if book is None:
        book = await deploy_devchain(
            w3, config=config, fund=fund, funding=funding, deployer=deployer, cache_dir=cache_dir
        )
    else:
        for address in fund:
            if w3.to_checksum_address(address) not in book.funded:
                book = await fund_account(w3, book, address, funding, cache_dir=cache_dir)
    await asyncio.to_thread(book.save, address_book)
    return book
