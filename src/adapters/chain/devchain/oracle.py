"""Move the dev chain's world: oracle prices (from the simulated market) and block time."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import Web3Exception
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import (
    DevChainDeploymentFailed,
    DevChainUnreachable,
    contract_at,
)
from adapters.chain.multicall3 import ViewCall, batch_reader
from application.ports.chain import RpcUnavailable
from domain.market import MarketData
from domain.money import to_base_units

# The simulated market speaks of BTC and ETH; the dev chain holds their wrapped tokens.
MARKET_SYMBOLS = {"BTC": "WBTC", "ETH": "WETH"}
SET_PRICE_GAS = 120_000


async def set_prices(
    w3: AsyncWeb3[Any], book: AddressBook, prices_usd: Mapping[str, Decimal]
) -> None:
    """Set oracle USD prices by symbol (BTC/ETH map to WBTC/WETH), as the deployer.

    A price the oracle already holds is left alone (no transaction).

    Raises:
        DevChainDeploymentFailed: a symbol is unknown or the transaction failed.
        DevChainUnreachable: the node did not answer.
    """
    oracle = contract_at(w3, "PriceOracle", book.oracle)
    wanted: dict[str, tuple[str, int]] = {}
    for symbol, price in prices_usd.items():
        token_symbol = MARKET_SYMBOLS.get(symbol.upper(), symbol.upper())
        if token_symbol not in book.tokens:
            raise DevChainDeploymentFailed(f"set {symbol} price", "not a dev chain token")
        wanted[symbol] = (book.token(token_symbol), to_base_units(price, 18))
    # What the oracle holds, every price in one read: a call is far cheaper than a
    # transaction, and one batch far cheaper than a call per price.
    current = await _current_prices(w3, oracle, [token for token, _ in wanted.values()])
    for (symbol, (token, wad)), held in zip(wanted.items(), current, strict=True):
        if held == wad:
            continue  # unchanged: no transaction
        try:
            # A fixed limit (a storage write costs about 50k) spares the node a gas search.
            tx_hash = await oracle.functions.set_price(token, wad).transact(
                {"from": book.deployer, "gas": SET_PRICE_GAS}
            )
            receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except OSError as exc:
            raise DevChainUnreachable(str(exc)) from exc
        except (Web3Exception, ValueError) as exc:
            raise DevChainDeploymentFailed(f"set {symbol} price", str(exc)) from exc
        if receipt["status"] != 1:
            raise DevChainDeploymentFailed(f"set {symbol} price", "transaction reverted")


async def _current_prices(w3: AsyncWeb3[Any], oracle: Any, tokens: list[str]) -> list[int | None]:
    """The oracle's price of each token in wad, None where it has none yet (the getter
    reverts).

    Raises:
        DevChainUnreachable: the node did not answer.
    """
    calls = [ViewCall("dev oracle", oracle.functions.price(token)) for token in tokens]
    try:
        answers = await batch_reader(w3).read(calls)
    except RpcUnavailable as exc:
        raise DevChainUnreachable(str(exc)) from exc
    return [None if answer.error is not None else int(answer.value) for answer in answers]


async def push_market_data(w3: AsyncWeb3[Any], book: AddressBook, market: MarketData) -> None:
    """Copy the simulated market's BTC, ETH and stablecoin prices into the oracle.

    Prices the market does not know (None, or a stablecoin it does not quote) are left as they
    are, so the router keeps quoting at the last known price.

    Raises:
        DevChainDeploymentFailed: the transaction failed.
        DevChainUnreachable: the node did not answer.
    """
    prices: dict[str, Decimal] = {}
    if market.btc_price is not None:
        prices["BTC"] = market.btc_price
    if market.eth_price is not None:
        prices["ETH"] = market.eth_price
    for symbol, price in market.stablecoin_prices.items():
        if symbol.upper() in book.tokens:
            prices[symbol.upper()] = price
    await set_prices(w3, book, prices)


async def oracle_price(w3: AsyncWeb3[Any], book: AddressBook, symbol: str) -> Decimal:
    """The oracle's USD price of one whole token."""
    token_symbol = MARKET_SYMBOLS.get(symbol.upper(), symbol.upper())
    oracle = contract_at(w3, "PriceOracle", book.oracle)
    raw = await oracle.functions.price(book.token(token_symbol)).call()
    return Decimal(int(raw)).scaleb(-18)


async def advance_time(w3: AsyncWeb3[Any], seconds: int) -> int:
    """Move the chain clock forward by `seconds` and mine a block; return the new timestamp.

    Works on eth-tester (time travel) and on anvil/hardhat (evm_increaseTime + evm_mine).

    Raises:
        DevChainUnreachable: the node did not answer or refused the request.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    try:
        if isinstance(w3.provider, AsyncEthereumTesterProvider):
            latest = await w3.eth.get_block("latest")
            w3.provider.ethereum_tester.time_travel(int(latest["timestamp"]) + seconds)
        else:
            await _rpc(w3, "evm_increaseTime", [seconds])
            await _rpc(w3, "evm_mine", [])
        block = await w3.eth.get_block("latest")
    except (OSError, Web3Exception) as exc:
        raise DevChainUnreachable(str(exc)) from exc
    return int(block["timestamp"])


async def _rpc(w3: AsyncWeb3[Any], method: str, params: list[Any]) -> Any:
    response = await w3.provider.make_request(method, params)
    if "error" in response:
        raise DevChainUnreachable(f"{method}: {response['error']}")
    return response.get("result")
