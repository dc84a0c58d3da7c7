"""The dev chain's address book: chain id, deployment block and every contract address, as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from application.errors import PermanentError

FORMAT_VERSION = 1


class AddressBookUnreadable(PermanentError):
    """The address book file exists but is not a dev-chain address book."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"dev chain address book {path}: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PendleListing:
    """One dev-chain Pendle market: its address, its PT and its maturity (unix seconds)."""

    market: str
    pt: str
    expiry: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressBook:
    """Where everything lives on one dev chain.

    `tokens` maps symbols (USDC, USDT, DAI, WETH, WBTC) to addresses, `a_tokens` maps the
    underlying symbol to its aToken, `pendle_expiry` is the PT maturity in unix seconds;
    `pendle_later` lists the Pendle markets deployed after the first (each maturing later),
    which paper mode rolls into.
    """

    chain_id: int
    block: int
    deployer: str
    tokens: Mapping[str, str]
    decimals: Mapping[str, int]
    oracle: str
    aave_pool: str
    a_tokens: Mapping[str, str]
    curve_pool: str = ""
    curve_lp: str = ""
    pendle_market: str = ""
    pendle_pt: str = ""
    pendle_expiry: int = 0
    router: str = ""
    funded: tuple[str, ...] = field(default=())
    pendle_later: tuple[PendleListing, ...] = field(default=())

    def pendle_markets(self) -> tuple[PendleListing, ...]:
        """Every Pendle market, the first one first (none before the first is deployed)."""
        if not self.pendle_market:
            return self.pendle_later
        first = PendleListing(
            market=self.pendle_market, pt=self.pendle_pt, expiry=self.pendle_expiry
        )
        return (first, *self.pendle_later)

    def pendle_listing(self, address: str) -> PendleListing | None:
        """The Pendle market whose market or PT address is `address` (any case), or None."""
        wanted = address.lower()
        for listing in self.pendle_markets():
            if wanted in {listing.market.lower(), listing.pt.lower()}:
                return listing
        return None

    def token(self, symbol: str) -> str:
        """The address of a token by symbol.

        Raises:
            KeyError: no such token on the dev chain.
        """
        return self.tokens[symbol.upper()]

    def symbol_of(self, address: str) -> str | None:
        """The symbol of a token address (any case), or None if it is not a dev-chain token."""
        wanted = address.lower()
        for symbol, token_address in self.tokens.items():
            if token_address.lower() == wanted:
                return symbol
        return None

    def contracts(self) -> dict[str, str]:
        """Every deployed contract by a descriptive name."""
        named = {f"token:{s}": a for s, a in self.tokens.items()}
        named |= {f"aToken:{s}": a for s, a in self.a_tokens.items()}
        named |= {
            "oracle": self.oracle,
            "aave_pool": self.aave_pool,
            "curve_pool": self.curve_pool,
            "curve_lp": self.curve_lp,
            "pendle_market": self.pendle_market,
            "pendle_pt": self.pendle_pt,
            "router": self.router,
        }
        for i, later in enumerate(self.pendle_later, start=2):
            named[f"pendle_market_{i}"] = later.market
            named[f"pendle_pt_{i}"] = later.pt
        return {name: address for name, address in named.items() if address}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": FORMAT_VERSION,
            "chain_id": self.chain_id,
            "block": self.block,
            "deployer": self.deployer,
            "tokens": dict(self.tokens),
            "decimals": dict(self.decimals),
            "oracle": self.oracle,
            "aave_pool": self.aave_pool,
            "a_tokens": dict(self.a_tokens),
            "curve_pool": self.curve_pool,
            "curve_lp": self.curve_lp,
            "pendle_market": self.pendle_market,
            "pendle_pt": self.pendle_pt,
            "pendle_expiry": self.pendle_expiry,
            "router": self.router,
            "funded": list(self.funded),
            "pendle_later": [
                {"market": m.market, "pt": m.pt, "expiry": m.expiry} for m in self.pendle_later
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AddressBook:
        """Build from `to_json` output.

        Raises:
            KeyError, TypeError, ValueError: a field is missing or has the wrong type.
        """
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported address book version {data.get('version')!r}")
        return cls(
            chain_id=int(data["chain_id"]),
            block=int(data["block"]),
            deployer=str(data["deployer"]),
            tokens={str(k): str(v) for k, v in data["tokens"].items()},
            decimals={str(k): int(v) for k, v in data["decimals"].items()},
            oracle=str(data["oracle"]),
            aave_pool=str(data["aave_pool"]),
            a_tokens={str(k): str(v) for k, v in data["a_tokens"].items()},
            curve_pool=str(data.get("curve_pool", "")),
            curve_lp=str(data.get("curve_lp", "")),
            pendle_market=str(data.get("pendle_market", "")),
            pendle_pt=str(data.get("pendle_pt", "")),
            pendle_expiry=int(data.get("pendle_expiry", 0)),
            router=str(data.get("router", "")),
            funded=tuple(str(a) for a in data.get("funded", [])),
            pendle_later=tuple(
                PendleListing(market=str(m["market"]), pt=str(m["pt"]), expiry=int(m["expiry"]))
                for m in data.get("pendle_later", [])
            ),
        )

    def save(self, path: Path) -> None:
        """Write the book atomically (temp file, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AddressBook:
        """Read a book written by `save`.

        Raises:
            FileNotFoundError: there is no file at `path`.
            AddressBookUnreadable: the file is not a valid address book.
        """
        text = path.read_text(encoding="utf-8")
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AddressBookUnreadable(path, str(exc)) from exc
