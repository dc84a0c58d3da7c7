"""Paper mode on the dev chain: the treasury's venues, pool TVL, first funding and restore.

A new paper treasury is minted its capital in USDC (plus gas ETH) and, for the spec's 60/40
start, deployed by a funding plan run like any other plan (journaled, audited, listed under
"Recent transactions"): base yield split 40/30/30 over Aave, Pendle and Curve, tactical split
evenly between WBTC and WETH. A new dev chain (the in-process EVM forgets everything when the
process exits) has none of it, so on restart the recorded positions are rebuilt: the wallet is
minted what it held (USDC cash, WBTC, WETH, plus the USDC behind each yield position) and the
yield positions are deposited again by a restore plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
from web3 import AsyncWeb3

from adapters.chain.aave import AaveV3
from adapters.chain.addresses import Token
from adapters.chain.curve import Curve3Pool
from adapters.chain.curve_api import CurveApi
from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.fake_apis import LiveBook
from adapters.chain.multicall3 import balance_call, batch_reader
from adapters.chain.oneinch import OneInch
from adapters.chain.pendle import Pendle
from adapters.chain.treasury import CASH, Venues
from domain.allocation import TargetAllocations
from domain.plans import Transaction, TransactionType
from domain.portfolio import WALLET, Position

BASE_SPLIT: Mapping[str, Decimal] = {
    "aave": Decimal("0.4"),
    "pendle": Decimal("0.3"),
    "curve": Decimal("0.3"),
}
VENUE_ASSET: Mapping[str, str] = {"aave": "USDC", "pendle": "PT-USDC", "curve": "3CRV"}
SEED_SLIPPAGE = Decimal("0.01")
GAS_ETH = Decimal(10)
CENT = Decimal("0.01")
SEED_BASE_SHARE = Decimal("0.6")
SEED_TARGET = TargetAllocations(
    base_yield=SEED_BASE_SHARE, tactical=1 - SEED_BASE_SHARE, cash=Decimal(0)
)
"""The first split's target: the spec's 60/40 start."""
RESTORE_TARGET = TargetAllocations(base_yield=Decimal(1), tactical=Decimal(0), cash=Decimal(0))
"""The restore plan's target: its moves only deposit USDC into the recorded yield venues (the
wallet's WBTC, WETH and cash are minted back directly)."""


def book_tokens(book: AddressBook) -> dict[str, Token]:
    """Every dev-chain token as a `Token`."""
    return {
        symbol: Token(symbol=symbol, address=address, decimals=book.decimals[symbol])
        for symbol, address in book.tokens.items()
    }


def devchain_venues(
    w3: AsyncWeb3[Any],
    book: AddressBook,
    *,
    owner: str,
    client: httpx.AsyncClient,
    oneinch_base_url: str,
    oneinch_api_key: str,
    pendle_base_url: str,
    curve_base_url: str,
) -> Venues:
    """The treasury's adapters over the dev chain's contracts and fake APIs."""
    tokens = book_tokens(book)
    return Venues(
        owner=owner,
        tokens=tokens,
        aave=AaveV3(w3, chain_id=book.chain_id, pool=book.aave_pool, tokens=tokens),
        curve=Curve3Pool.with_tokens(
            w3,
            tokens,
            chain_id=book.chain_id,
            pool=book.curve_pool,
            lp_token=book.curve_lp,
            apy_source=CurveApi(client, base_url=curve_base_url),
        ),
        pendle=Pendle(
            client,
            w3,
            chain_id=book.chain_id,
            cash_token=tokens["USDC"].address,
            cash_decimals=tokens["USDC"].decimals,
            base_url=pendle_base_url,
        ),
        pendle_market=book.pendle_market,
        swap=OneInch(
            client,
            w3,
            chain_id=book.chain_id,
            api_key=oneinch_api_key,
            base_url=oneinch_base_url,
        ),
    )


def devchain_tvl(
    w3: AsyncWeb3[Any], book: AddressBook | LiveBook
) -> Callable[[], Awaitable[Mapping[str, Decimal]]]:
    """TVL of each dev-chain protocol: the stablecoins its contracts hold, at $1 (every Pendle
    market deployed so far, with a `LiveBook`)."""
    live = book if isinstance(book, LiveBook) else LiveBook(book)

    async def read() -> Mapping[str, Decimal]:
        book = live.book
        holders = {
            "aave": [book.aave_pool, *book.a_tokens.values()],
            "curve": [book.curve_pool],
            "pendle": [m.market for m in book.pendle_markets()],
        }
        reads = [
            (protocol, symbol, balance_call(w3, book.tokens[symbol], address))
            for protocol, addresses in holders.items()
            for symbol in ("USDC", "USDT", "DAI")
            if symbol in book.tokens
            for address in addresses
        ]
        answers = await batch_reader(w3).read([call for _, _, call in reads])
        tvl: dict[str, Decimal] = dict.fromkeys(holders, Decimal(0))
        for (protocol, symbol, _), answer in zip(reads, answers, strict=True):
            units = int(answer.get())
            tvl[protocol] += Decimal(units) / Decimal(10) ** book.decimals[symbol]
        return tvl

    return read


def _move(
    tx_type: TransactionType, protocol: str, src: str, dst: str, amount: Decimal
) -> Transaction:
    return Transaction(
        tx_type=tx_type,
        protocol=protocol,
        from_asset=src,
        to_asset=dst,
        amount=amount,
        amount_usd=amount if src == CASH else Decimal(0),
        estimated_gas=0,
        estimated_gas_usd=Decimal(0),
        estimated_slippage_usd=Decimal(0),
        slippage_tolerance=SEED_SLIPPAGE,
    )


def seed_moves(capital: Decimal, *, base_share: Decimal = SEED_BASE_SHARE) -> list[Transaction]:
    """The funding plan for a new 60/40 treasury: USDC into each venue, USDC into WBTC/WETH."""
    base = capital * base_share
    tactical = capital - base
    moves = [
        _move(TransactionType.SWAP, "oneinch", CASH, "WBTC", (tactical / 2).quantize(Decimal(1))),
        _move(TransactionType.SWAP, "oneinch", CASH, "WETH", (tactical / 2).quantize(Decimal(1))),
    ]
    for protocol, share in BASE_SPLIT.items():
        moves.append(
            _move(
                TransactionType.DEPOSIT,
                protocol,
                CASH,
                VENUE_ASSET[protocol],
                (base * share).quantize(Decimal(1)),
            )
        )
    return moves


def restore_funding(positions: Sequence[Position], cash: Decimal) -> dict[str, Decimal]:
    """What to mint so a fresh chain can hold the recorded positions again."""
    funding: dict[str, Decimal] = {"ETH": GAS_ETH, CASH: cash}
    for p in positions:
        if p.protocol == WALLET:
            funding[p.asset] = funding.get(p.asset, Decimal(0)) + p.amount
        else:
            funding[CASH] += p.value_usd
    funding[CASH] = funding[CASH].quantize(Decimal("0.000001"))
    return funding


def restore_moves(positions: Sequence[Position]) -> list[Transaction]:
    """Deposits that rebuild the recorded yield positions from minted USDC (by value).

    Each amount is rounded down to the cent: `restore_funding` mints the exact sum of the
    values, so a value rounded up would leave the last deposit short by a fraction of a cent
    (and the whole rebuild would fail its simulation). What rounding leaves stays as cash.
    """
    return [
        _move(
            TransactionType.DEPOSIT,
            p.protocol,
            CASH,
            p.asset,
            p.value_usd.quantize(Decimal("0.01"), rounding=ROUND_DOWN),
        )
        for p in positions
        if p.protocol in VENUE_ASSET and p.value_usd > 0
    ]


def funding_plan_id(label: str, at: datetime) -> str:
    """A plan id for a funding plan (`seed` or `restore`), unique per start."""
    return f"paper-{label}-{int(at.timestamp())}-{uuid.uuid4().hex[:6]}"
