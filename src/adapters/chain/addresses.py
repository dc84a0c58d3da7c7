"""Chain ids and real default contract and token addresses for Ethereum, Arbitrum and Base.

Sources (see /work/shared/reference/defi.md): Aave V3 Pool addresses per chain and USDC per
chain from public repositories and the Aave address book copies; Curve 3pool and its 3Crv LP
token on Ethereum from curvefi/curve-contract; the 1inch v6 router (also returned by the
API's /approve/spender); the Pendle RouterV4 from Pendle's contract docs. WETH: Ethereum's
canonical WETH9, Arbitrum's bridged WETH and Base's predeploy at 0x4200…0006 (public
repositories). Every address can be overridden: the dev chain passes its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class ChainId(IntEnum):
    """The chains the treasury supports."""

    ETHEREUM = 1
    ARBITRUM = 42161
    BASE = 8453


CHAIN_NAMES: dict[int, str] = {
    ChainId.ETHEREUM: "ethereum",
    ChainId.ARBITRUM: "arbitrum",
    ChainId.BASE: "base",
}
# DeFiLlama's display names for the `chain` field of its pools.
DEFILLAMA_CHAIN_NAMES: dict[int, str] = {
    ChainId.ETHEREUM: "Ethereum",
    ChainId.ARBITRUM: "Arbitrum",
    ChainId.BASE: "Base",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An ERC-20 on one chain."""

    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainAddresses:
    """Where the protocols and tokens live on one chain."""

    chain_id: int
    tokens: dict[str, Token] = field(default_factory=dict)
    aave_pool: str | None = None
    curve_3pool: str | None = None
    curve_3pool_lp: str | None = None
    oneinch_router: str | None = None
    pendle_router: str | None = None

    def token(self, symbol: str) -> Token:
        """A token by symbol.

        Raises:
            KeyError: the chain has no such token configured.
        """
        try:
            return self.tokens[symbol.upper()]
        except KeyError:
            raise KeyError(f"no {symbol} token configured on chain {self.chain_id}") from None


ONEINCH_ROUTER_V6 = "0x111111125421cA6dc452d289314280a0f8842A65"
PENDLE_ROUTER_V4 = "0x888888888889758F76e7103c6CbF23ABbF58F946"

ETHEREUM = ChainAddresses(
    chain_id=ChainId.ETHEREUM,
    tokens={
        "USDC": Token(
            symbol="USDC", address="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals=6
        ),
        "USDT": Token(
            symbol="USDT", address="0xdAC17F958D2ee523a2206206994597C13D831ec7", decimals=6
        ),
        "DAI": Token(
            symbol="DAI", address="0x6B175474E89094C44Da98b954EedeAC495271d0F", decimals=18
        ),
        "WETH": Token(
            symbol="WETH", address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", decimals=18
        ),
        "WBTC": Token(
            symbol="WBTC", address="0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599", decimals=8
        ),
    },
    aave_pool="0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
    curve_3pool="0xbEbc44782C7dB0a1A60Cb6fe97d0b483032FF1C7",
    curve_3pool_lp="0x6c3F90f043a72FA612cbac8115EE7e52BDe6E490",
    oneinch_router=ONEINCH_ROUTER_V6,
    pendle_router=PENDLE_ROUTER_V4,
)
ARBITRUM = ChainAddresses(
    chain_id=ChainId.ARBITRUM,
    tokens={
        "USDC": Token(
            symbol="USDC", address="0xaf88d065e77c8cC2239327C5EDb3A432268e5831", decimals=6
        ),
        "WETH": Token(
            symbol="WETH", address="0x82aF49447D8a07e3bd95BD0d56f35241523fBab1", decimals=18
        ),
    },
    aave_pool="0x794a61358D6845594F94dc1DB02A252b5b4814aD",
    oneinch_router=ONEINCH_ROUTER_V6,
    pendle_router=PENDLE_ROUTER_V4,
)
BASE = ChainAddresses(
    chain_id=ChainId.BASE,
    tokens={
        "USDC": Token(
            symbol="USDC", address="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals=6
        ),
        "WETH": Token(
            symbol="WETH", address="0x4200000000000000000000000000000000000006", decimals=18
        ),
    },
    aave_pool="0xA238Dd80C259a72e81d7e4664a9801593F98d1c5",
    oneinch_router=ONEINCH_ROUTER_V6,
    pendle_router=PENDLE_ROUTER_V4,
)
DEFAULT_ADDRESSES: dict[int, ChainAddresses] = {c.chain_id: c for c in (ETHEREUM, ARBITRUM, BASE)}


def addresses_for(chain_id: int) -> ChainAddresses:
    """The default addresses of a supported chain.

    Raises:
        KeyError: the chain is not supported.
    """
    try:
        return DEFAULT_ADDRESSES[chain_id]
    except KeyError:
        raise KeyError(f"chain {chain_id} is not supported (1, 42161, 8453)") from None
