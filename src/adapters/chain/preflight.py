"""Preflight of the chain: every configured node serves its chain, the treasury's address holds
ETH for gas, every protocol contract answers a read call, and the swap API accepts its key.
Read-only: nothing is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.chain.addresses import CHAIN_NAMES
from adapters.chain.pendle import Pendle
from adapters.chain.rpc import connect
from application.ports.chain import ProtocolUnavailable
from application.ports.preflight import CheckResult

WEI_PER_ETH = Decimal(10) ** 18


def _rpc_setting(chain_id: int) -> str:
    name = CHAIN_NAMES.get(chain_id)
    return f"TREASURY_RPC_URL_{name.upper()}" if name else "the RPC URL setting"


def _why(exc: Exception) -> str:
    # The exception text may carry the node URL (often with a provider key): name the kind only.
    return type(exc).__name__


class ChainIdCheck:
    """The node's `eth_chainId` equals the chain the settings name."""

    name = "rpc chain id"

    def __init__(self, w3: Any, expected: int) -> None:
        self._w3 = w3
        self._expected = expected

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        setting = _rpc_setting(self._expected)
        try:
            actual = int(await self._w3.eth.chain_id)
        except Exception as exc:  # any failure of the node is this check's answer
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"the node did not answer eth_chainId ({_why(exc)})",
                    fix=f"check {setting} and that the node is up",
                ),
            )
        if actual != self._expected:
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"the node serves chain {actual}, the settings name {self._expected}",
                    fix=f"point {setting} at a node for chain {self._expected}",
                ),
            )
        return (CheckResult(name=self.name, ok=True, detail=f"chain {actual}"),)


class NodeChainIdCheck:
    """Another configured node (one the service does not trade on yet) serves its chain: its
    own connection, opened for the check and closed after."""

    def __init__(self, url: str, expected: int, *, timeout_s: float = 10.0) -> None:
        self.name = f"rpc chain id {CHAIN_NAMES.get(expected, expected)}"
        self._url = url
        self._expected = expected
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        # The URL often carries a provider key: never shown.
        return f"NodeChainIdCheck(expected={self._expected})"

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        w3 = connect(self._url, timeout_seconds=self._timeout_s)
        try:
            (result,) = await ChainIdCheck(w3, self._expected).run()
        finally:
            await w3.provider.disconnect()
        return (replace(result, name=self.name),)


class GasBalanceCheck:
    """The unlocked keystore's address holds ETH to pay gas."""

    name = "keystore and gas"

    def __init__(self, w3: Any, address: str) -> None:
        self._w3 = w3
        self._address = address

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        try:
            wei = int(await self._w3.eth.get_balance(self._address))
        except Exception as exc:  # any failure of the node is this check's answer
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"could not read the balance of {self._address} ({_why(exc)})",
                    fix="check the RPC URL and that the node is up",
                ),
            )
        eth = Decimal(wei) / WEI_PER_ETH
        if wei <= 0:
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"keystore unlocked; {self._address} holds no ETH",
                    fix=f"send ETH for gas to {self._address}",
                ),
            )
        return (
            CheckResult(
                name=self.name,
                ok=True,
                detail=f"keystore unlocked; {self._address} holds {eth.normalize():f} ETH",
            ),
        )


class ContractReadCheck:
    """One protocol answers its read call (an APY, a virtual price)."""

    def __init__(self, name: str, read: Callable[[], Awaitable[object]], fix: str) -> None:
        self.name = f"protocol {name}"
        self._read = read
        self._fix = fix

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        try:
            value = await self._read()
        except Exception as exc:  # any failure of the contract or its API is this answer
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"read call failed ({_why(exc)})",
                    fix=self._fix,
                ),
            )
        shown = f"{value:.6g}" if isinstance(value, Decimal) else str(value)
        return (CheckResult(name=self.name, ok=True, detail=f"read {shown}"),)


class PendleMarketCheck:
    """The configured Pendle market is listed on this chain and has not matured (by the chain's
    own clock, which is what a deposit is checked against). Once it has matured, the check
    passes if the treasury's PT was rolled into a later market that is still active (`current`:
    the market deposits go to now)."""

    name = "pendle market"
    SETTING = "TREASURY_PENDLE_MARKET"

    def __init__(
        self,
        pendle: Pendle,
        address: str,
        w3: Any,
        current: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._pendle = pendle
        self._address = address
        self._w3 = w3
        self._current = current

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        if not self._address:
            return self._failed("no market configured", f"set {self.SETTING}")
        try:
            market = await self._pendle.market(self._address)
            block = await self._w3.eth.get_block("latest")
        except ProtocolUnavailable as exc:
            return self._failed(
                str(exc), f"set {self.SETTING} to an active market listed on this chain"
            )
        except Exception as exc:  # the node failing is this check's answer too
            return self._failed(
                f"could not read the chain's time ({_why(exc)})",
                "check the RPC URL and that the node is up",
            )
        now = datetime.fromtimestamp(int(block["timestamp"]), UTC)
        expiry = f"{market.expiry:%Y-%m-%d}"
        if market.expiry <= now and self._current is not None:
            try:
                current = await self._pendle.market(await self._current())
            except ProtocolUnavailable as exc:
                return self._failed(str(exc), f"check {self.SETTING} and the Pendle API")
            if current.address.lower() != market.address.lower() and current.expiry > now:
                return (
                    CheckResult(
                        name=self.name,
                        ok=True,
                        detail=f"{market.name} matured on {expiry}; PT rolled into "
                        f"{current.name}, matures {current.expiry:%Y-%m-%d}",
                    ),
                )
        if market.expiry <= now:
            return self._failed(
                f"{market.name} ({self._address}) matured on {expiry}",
                f"set {self.SETTING} to an active market (and redeem the matured PT)",
            )
        return (CheckResult(name=self.name, ok=True, detail=f"{market.name}, matures {expiry}"),)

    def _failed(self, detail: str, fix: str) -> Sequence[CheckResult]:
        return (CheckResult(name=self.name, ok=False, detail=detail, fix=fix),)


class SwapApiKeyCheck:
    """1inch accepts the key: one `GET /approve/spender` (a free read that needs the key)."""

    name = "1inch api"
    KEY_SETTING = "TREASURY_ONEINCH_API_KEY"
    URL_SETTING = "TREASURY_ONEINCH_BASE_URL"

    def __init__(self, spender: Callable[[], Awaitable[str]], *, has_key: bool) -> None:
        self._spender = spender
        self._has_key = has_key

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        if not self._has_key:
            return (
                CheckResult(
                    name=self.name, ok=False, detail="no API key", fix=f"set {self.KEY_SETTING}"
                ),
            )
        try:
            router = await self._spender()
        except ProtocolUnavailable as exc:
            # The message quotes the API's own description, never the request headers.
            refused = exc.reason.startswith(("HTTP 401", "HTTP 403"))
            fix = (
                f"the key was refused: set a valid {self.KEY_SETTING}"
                if refused
                else f"check {self.URL_SETTING} and that the API answers"
            )
            return (CheckResult(name=self.name, ok=False, detail=str(exc), fix=fix),)
        except Exception as exc:  # any other failure of the API is this check's answer
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail=f"the spender read failed ({_why(exc)})",
                    fix=f"check {self.URL_SETTING} and that the API answers",
                ),
            )
        return (CheckResult(name=self.name, ok=True, detail=f"key accepted; router {router}"),)
