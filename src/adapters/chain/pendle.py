"""Pendle V2: markets and implied APY from the hosted API; PT buys, sells and redemption
through the hosted `convert` endpoint, whose router calldata the executor then simulates.

PT positions are valued at the market's price: 1 / (1 + implied APY) ^ years-to-maturity of
the underlying (1 at or after maturity), so the discount to maturity shows in value and APY.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from web3 import AsyncWeb3

from adapters.chain.http_api import get_json
from adapters.chain.tokens import (
    AllowanceLedger,
    approvals_for,
    balance_of,
    minimum_after_slippage,
    require_balance,
)
from application.ports.chain import (
    BalanceCheck,
    InsufficientBalance,
    ProtocolPosition,
    ProtocolUnavailable,
    StepKind,
    TransactionRequest,
)
from domain.money import from_base_units

SOURCE = "pendle"
SECONDS_PER_YEAR = Decimal(31_536_000)


def pt_price(implied_apy: Decimal, expiry: datetime, now: datetime) -> Decimal:
    """PT price in the underlying: the discount to maturity implied by the fixed APY."""
    seconds = Decimal(max((expiry - now).total_seconds(), 0))
    if seconds == 0:
        return Decimal(1)
    years = seconds / SECONDS_PER_YEAR
    return Decimal(1) / (1 + implied_apy) ** years


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore")
    liquidity: Decimal
    impliedApy: Decimal  # noqa: N815


class _Market(BaseModel):
    model_config = ConfigDict(extra="ignore")
    chainId: int  # noqa: N815
    address: str
    name: str
    expiry: datetime
    pt: str
    underlyingAsset: str  # noqa: N815
    details: _Details


class _Markets(BaseModel):
    results: list[_Market]


class _Tx(BaseModel):
    model_config = ConfigDict(extra="ignore")
    to: str
    data: str
    value: int = 0


class _Amount(BaseModel):
    token: str
    amount: int


class _Route(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tx: _Tx
    outputs: list[_Amount]


class _Convert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    routes: list[_Route]
    requiredApprovals: list[_Amount] = []  # noqa: N815


def _address(asset_id: str) -> str:
    """Pendle's `"<chainId>-<address>"` asset ids to a plain address."""
    return asset_id.split("-", 1)[1] if "-" in asset_id else asset_id


@dataclass(frozen=True, slots=True, kw_only=True)
class PendleMarket:
    """One Pendle market."""

    address: str
    name: str
    expiry: datetime
    pt: str
    underlying: str
    implied_apy: Decimal
    liquidity_usd: Decimal


class Pendle:
    """Pendle V2 on one chain through the hosted API."""

    name = "pendle"

    def __init__(
        self,
        client: httpx.AsyncClient,
        w3: AsyncWeb3[Any],
        *,
        chain_id: int,
        base_url: str = "https://api-v2.pendle.finance/core",
        underlying_decimals: int = 6,
        underlying_usd: Decimal = Decimal(1),
    ) -> None:
        self._client = client
        self._w3 = w3
        self._allowances = AllowanceLedger()
        self._chain_id = chain_id
        self._base = base_url.rstrip("/")
        self._decimals = underlying_decimals
        self._underlying_usd = underlying_usd

    async def _chain_now(self) -> datetime:
        block = await self._w3.eth.get_block("latest")
        return datetime.fromtimestamp(int(block["timestamp"]), UTC)

    async def markets(self, *, active_only: bool = True) -> tuple[PendleMarket, ...]:
        """Markets on this chain with their implied APY: active ones, or also matured ones."""
        params = {"skip": "0", "limit": "100", "chainId": str(self._chain_id)}
        if active_only:
            params["isActive"] = "true"
        body = await get_json(self._client, SOURCE, f"{self._base}/v2/markets/all", params=params)
        try:
            markets = _Markets.model_validate(body)
        except ValidationError as exc:
            raise ProtocolUnavailable(SOURCE, "unexpected markets answer", permanent=True) from exc
        return tuple(
            PendleMarket(
                address=self._w3.to_checksum_address(m.address),
                name=m.name,
                expiry=m.expiry,
                pt=self._w3.to_checksum_address(_address(m.pt)),
                underlying=self._w3.to_checksum_address(_address(m.underlyingAsset)),
                implied_apy=m.details.impliedApy,
                liquidity_usd=m.details.liquidity,
            )
            for m in markets.results
            if m.chainId == self._chain_id
        )

    async def market(self, asset: str, *, active_only: bool = True) -> PendleMarket:
        """A market by address, or the most liquid market whose underlying is `asset`.

        Matured markets leave the active list; PT held in one is still valued, sold or
        redeemed, so those lookups pass `active_only=False`.

        Raises:
            ProtocolUnavailable: no such market.
        """
        candidates = await self.markets(active_only=active_only)
        wanted = asset.lower()
        for m in candidates:
            if m.address.lower() == wanted:
                return m
        matching = [m for m in candidates if m.underlying.lower() == wanted]
        if not matching:
            raise ProtocolUnavailable(SOURCE, f"no active market for {asset}", permanent=True)
        return max(matching, key=lambda m: m.liquidity_usd)

    async def apy(self, asset: str) -> Decimal:
        """The market's implied (fixed) APY."""
        return (await self.market(asset)).implied_apy

    async def position(self, owner: str, asset: str) -> ProtocolPosition:
        """The owner's PT valued at the market price with the discount to maturity."""
        market = await self.market(asset, active_only=False)
        balance = await balance_of(self._w3, market.pt, owner)
        price = pt_price(market.implied_apy, market.expiry, await self._chain_now())
        value = from_base_units(balance, self._decimals) * price * self._underlying_usd
        return ProtocolPosition(
            protocol=self.name,
            chain_id=self._chain_id,
            asset=market.name,
            token=market.pt,
            balance=balance,
            decimals=self._decimals,
            value_usd=value,
            apy=market.implied_apy,
            details={"pt_price": str(price), "expiry": market.expiry.isoformat()},
        )

    async def _convert(
        self, owner: str, token_in: str, token_out: str, amount: int, slippage: Decimal
    ) -> _Convert:
        body = await get_json(
            self._client,
            SOURCE,
            f"{self._base}/v2/sdk/{self._chain_id}/convert",
            params={
                "receiver": owner,
                "slippage": str(slippage),
                "tokensIn": token_in,
                "amountsIn": str(amount),
                "tokensOut": token_out,
                "enableAggregator": "false",
                "additionalData": "impliedApy",
            },
        )
        try:
            convert = _Convert.model_validate(body)
        except ValidationError as exc:
            raise ProtocolUnavailable(SOURCE, "unexpected convert answer", permanent=True) from exc
        if not convert.routes or not convert.routes[0].outputs:
            raise ProtocolUnavailable(SOURCE, "convert returned no route", permanent=True)
        return convert

    async def _build(
        self,
        owner: str,
        token_in: str,
        token_out: str,
        amount: int,
        slippage: Decimal,
        kind: StepKind,
        label: str,
    ) -> tuple[TransactionRequest, ...]:
        owner_cs = self._w3.to_checksum_address(owner)
        convert = await self._convert(owner_cs, token_in, token_out, amount, slippage)
        route = convert.routes[0]
        spender = self._w3.to_checksum_address(route.tx.to)
        group = f"pendle-{kind}-{uuid.uuid4().hex[:8]}"
        approvals: list[TransactionRequest] = []
        for need in convert.requiredApprovals or [_Amount(token=token_in, amount=amount)]:
            approvals.extend(
                await approvals_for(
                    self._w3,
                    chain_id=self._chain_id,
                    token=need.token,
                    symbol=need.token,
                    owner=owner_cs,
                    spender=spender,
                    amount=need.amount,
                    group=group,
                    ledger=self._allowances,
                )
            )
        out = route.outputs[0]
        minimum = minimum_after_slippage(out.amount, slippage)
        request = TransactionRequest(
            chain_id=self._chain_id,
            to=spender,
            data=route.tx.data,
            value=route.tx.value,
            kind=kind,
            description=f"{label} (in {amount}, at least {minimum} out)",
            checks=(
                BalanceCheck(
                    token=token_in,
                    holder=owner_cs,
                    min_delta=-amount,
                    max_delta=-amount,
                    description="exactly the amount in leaves the wallet",
                ),
                BalanceCheck(
                    token=self._w3.to_checksum_address(out.token),
                    holder=owner_cs,
                    min_delta=minimum,
                    description="output is at least the minimum",
                ),
            ),
            group=group,
            value_usd=from_base_units(amount, self._decimals) * self._underlying_usd,
        )
        return (*approvals, request)

    async def build_deposit(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Buy PT with `amount` of the underlying.

        Raises:
            InsufficientBalance: the owner holds less than `amount`.
        """
        market = await self.market(asset)
        if market.expiry <= await self._chain_now():
            raise ProtocolUnavailable(SOURCE, f"market {market.name} has matured", permanent=True)
        await require_balance(self._w3, market.underlying, owner, amount, "underlying")
        return await self._build(
            owner,
            market.underlying,
            market.pt,
            amount,
            slippage,
            StepKind.DEPOSIT,
            f"buy PT of Pendle market {market.name}",
        )

    async def build_withdraw(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Sell `amount` PT for the underlying, or redeem it once the market has matured.

        Raises:
            InsufficientBalance: the owner holds less than `amount` PT.
        """
        market = await self.market(asset, active_only=False)
        held = await balance_of(self._w3, market.pt, owner)
        if held < amount or amount <= 0:
            raise InsufficientBalance("PT", amount, held)
        matured = market.expiry <= await self._chain_now()
        return await self._build(
            owner,
            market.pt,
            market.underlying,
            amount,
            slippage,
            StepKind.REDEEM if matured else StepKind.WITHDRAW,
            f"{'redeem' if matured else 'sell'} PT of Pendle market {market.name}",
        )

    async def build_redeem(
        self, owner: str, asset: str, amount: int
    ) -> tuple[TransactionRequest, ...]:
        """Redeem matured PT 1:1 for the underlying.

        Raises:
            ProtocolUnavailable: the market has not matured.
        """
        market = await self.market(asset, active_only=False)
        if market.expiry > await self._chain_now():
            raise ProtocolUnavailable(SOURCE, f"market {market.name} has not matured")
        return await self.build_withdraw(owner, asset, amount, Decimal(0))
