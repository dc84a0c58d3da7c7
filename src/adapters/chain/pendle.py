"""Pendle V2: markets and implied APY from the hosted API; PT buys, sells and redemption
through the hosted `convert` endpoint, whose router calldata the executor then simulates.

The treasury trades PT against its cash token (USDC) in both directions. Live, a USDC
market's `underlyingAsset` is the yield-bearing token (srUSDe, ynRWAx...), not USDC: USDC
shows up as `accountingAsset` and in `inputTokens`, and `outputTokens` may leave it out. So
buys spend USDC and sells ask for USDC, with `enableAggregator=true` wherever the market's SY
does not take (or give) USDC itself, and a sale is valued at the USDC it returns.

Markets are looked up by id (`ids=<chainId>-<address>`), so a configured market is found
however many markets are listed before it, and matured ones too.

PT positions are valued at the market's price: 1 / (1 + implied APY) ^ years-to-maturity of
the accounting asset (1 at or after maturity), so the discount to maturity shows in value and
APY. PT decimals follow the SY (18 for USDe-type markets), so they are read from the PT.
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
from adapters.chain.multicall3 import ViewCall, balance_call
from adapters.chain.tokens import (
    AllowanceLedger,
    approvals_for,
    balance_of,
    contract,
    minimum_after_slippage,
    read,
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
    accountingAsset: str | None = None  # noqa: N815
    inputTokens: list[str] = []  # noqa: N815
    outputTokens: list[str] = []  # noqa: N815
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
    accounting: str | None = None
    input_tokens: frozenset[str] = frozenset()
    output_tokens: frozenset[str] = frozenset()

    def takes(self, token: str) -> bool:
        """Whether the market's SY takes `token` in without an aggregator."""
        return token.lower() in self.input_tokens

    def gives(self, token: str) -> bool:
        """Whether the market's SY gives `token` out without an aggregator."""
        return token.lower() in self.output_tokens


class Pendle:
    """Pendle V2 on one chain through the hosted API."""

    name = "pendle"

    def __init__(
        self,
        client: httpx.AsyncClient,
        w3: AsyncWeb3[Any],
        *,
        chain_id: int,
        cash_token: str,
        base_url: str = "https://api-v2.pendle.finance/core",
        cash_decimals: int = 6,
        cash_usd: Decimal = Decimal(1),
    ) -> None:
        self._client = client
        self._w3 = w3
        self.allowances = AllowanceLedger()
        self._chain_id = chain_id
        self._cash = w3.to_checksum_address(cash_token)
        self._base = base_url.rstrip("/")
        self._cash_decimals = cash_decimals
        self._cash_usd = cash_usd
        self._pt_decimals: dict[str, int] = {}

    def pt_decimals_call(self, pt: str) -> ViewCall:
        """The read of the PT's decimals (see `remember_pt_decimals`)."""
        return ViewCall(f"{SOURCE} PT {pt}", contract(self._w3, "erc20", pt).functions.decimals())

    def known_pt_decimals(self, pt: str) -> int | None:
        """The PT's decimals if they have been read (they never change)."""
        return self._pt_decimals.get(pt)

    def remember_pt_decimals(self, pt: str, decimals: Any) -> int:
        """Keep the PT's decimals as read; return them."""
        self._pt_decimals[pt] = int(decimals)
        return self._pt_decimals[pt]

    def pt_balance_call(self, market: PendleMarket, owner: str) -> ViewCall:
        """The read of the owner's PT balance in `market`."""
        return balance_call(self._w3, market.pt, owner, f"{SOURCE} PT {market.pt}")

    async def pt_decimals(self, pt: str) -> int:
        """The PT's decimals, read from the token once (they follow the SY, often 18)."""
        known = self.known_pt_decimals(pt)
        if known is not None:
            return known
        call = self.pt_decimals_call(pt)
        return self.remember_pt_decimals(pt, await read(call.source, call.function.call()))

    async def chain_now(self) -> datetime:
        """The latest block's time: PT prices discount to maturity from chain time."""
        block = await self._w3.eth.get_block("latest")
        return datetime.fromtimestamp(int(block["timestamp"]), UTC)

    async def _markets(self, params: dict[str, str]) -> tuple[PendleMarket, ...]:
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
                accounting=_address(m.accountingAsset).lower() if m.accountingAsset else None,
                input_tokens=frozenset(_address(t).lower() for t in m.inputTokens),
                output_tokens=frozenset(_address(t).lower() for t in m.outputTokens),
            )
            for m in markets.results
            if m.chainId == self._chain_id
        )

    async def markets(self, *, active_only: bool = True) -> tuple[PendleMarket, ...]:
        """The first page (up to 100) of markets on this chain: active ones, or all."""
        params = {"skip": "0", "limit": "100", "chainId": str(self._chain_id)}
        if active_only:
            params["isActive"] = "true"
        return await self._markets(params)

    async def market(self, address: str) -> PendleMarket:
        """The market at `address`, looked up by its id whatever page it would fall on, active
        or matured (PT held in a matured market is still valued and redeemed).

        Raises:
            ProtocolUnavailable: the API failed, or lists no such market on this chain.
        """
        wanted = address.lower()
        found = await self._markets({"ids": f"{self._chain_id}-{wanted}"})
        for m in found:
            if m.address.lower() == wanted:
                return m
        raise ProtocolUnavailable(
            SOURCE, f"no market {address} on chain {self._chain_id}", permanent=True
        )

    async def usd_market(self, address: str) -> PendleMarket:
        """The market, which must account in the cash token: its PT redeems for USDC, so a PT
        price in the accounting asset is a price in dollars.

        Raises:
            ProtocolUnavailable: no such market, or it accounts in another asset (permanent).
        """
        market = await self.market(address)
        if market.accounting is not None and market.accounting != self._cash.lower():
            raise ProtocolUnavailable(
                SOURCE,
                f"market {market.name} accounts in {market.accounting}, not USDC "
                f"{self._cash}: configure a USDC market",
                permanent=True,
            )
        return market

    async def apy(self, asset: str) -> Decimal:
        """The market's implied (fixed) APY."""
        return (await self.market(asset)).implied_apy

    def accounts_in_cash(self, market: PendleMarket) -> bool:
        """Whether the market's PT redeems for the cash token (USDC)."""
        return market.accounting is not None and market.accounting == self._cash.lower()

    async def cash_markets(self) -> tuple[PendleMarket, ...]:
        """Active markets on this chain whose PT redeems for the cash token: what a maturing
        PT position may be rolled into (the first page of up to 100 active markets)."""
        return tuple(m for m in await self.markets(active_only=True) if self.accounts_in_cash(m))

    async def pt_balance(self, market: PendleMarket, owner: str) -> int:
        """The owner's PT of `market`, in base units."""
        return await balance_of(self._w3, market.pt, owner)

    async def position(self, owner: str, asset: str) -> ProtocolPosition:
        """The owner's PT valued at the market price with the discount to maturity."""
        return (await self.holding(owner, asset))[1]

    async def holding(self, owner: str, asset: str) -> tuple[PendleMarket, ProtocolPosition]:
        """The market at `asset` and the owner's PT in it, valued as in `position`."""
        market = await self.usd_market(asset)
        balance = await balance_of(self._w3, market.pt, owner)
        decimals = await self.pt_decimals(market.pt)
        return market, self.position_from(market, balance, decimals, await self.chain_now())

    def position_from(
        self, market: PendleMarket, balance: int, decimals: int, now: datetime
    ) -> ProtocolPosition:
        """The position a PT balance makes at the market's price at chain time `now`."""
        price = pt_price(market.implied_apy, market.expiry, now)
        value = from_base_units(balance, decimals) * price * self._cash_usd
        return ProtocolPosition(
            protocol=self.name,
            chain_id=self._chain_id,
            asset=market.name,
            token=market.pt,
            balance=balance,
            decimals=decimals,
            value_usd=value,
            apy=market.implied_apy,
            details={
                "pt_price": str(price),
                "expiry": market.expiry.isoformat(),
                "market": market.address,
            },
        )

    async def _convert(
        self,
        owner: str,
        token_in: str,
        token_out: str,
        amount: int,
        slippage: Decimal,
        *,
        aggregator: bool,
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
                "enableAggregator": "true" if aggregator else "false",
                "additionalData": "impliedApy",
            },
        )
        try:
            convert = _Convert.model_validate(body)
        except ValidationError as exc:
            raise ProtocolUnavailable(SOURCE, "unexpected convert answer", permanent=True) from exc
        if not convert.routes or not convert.routes[0].outputs:
            raise ProtocolUnavailable(SOURCE, "convert returned no route", permanent=True)
        out = convert.routes[0].outputs[0].token
        if out.lower() != token_out.lower():
            # Value would be lost silently: the portfolio does not track what came back.
            raise ProtocolUnavailable(
                SOURCE, f"convert pays out {out}, not the {token_out} asked for", permanent=True
            )
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
        *,
        aggregator: bool,
    ) -> tuple[TransactionRequest, ...]:
        owner_cs = self._w3.to_checksum_address(owner)
        convert = await self._convert(
            owner_cs, token_in, token_out, amount, slippage, aggregator=aggregator
        )
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
                    ledger=self.allowances,
                )
            )
        out = route.outputs[0]
        minimum = minimum_after_slippage(out.amount, slippage)
        # Valued in USDC on whichever side USDC is: what goes in, or what comes back.
        cash_units = amount if token_in == self._cash else out.amount
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
            value_usd=from_base_units(cash_units, self._cash_decimals) * self._cash_usd,
        )
        return (*approvals, request)

    async def build_deposit(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Buy PT with `amount` of USDC (base units), through the aggregator where the market's
        SY does not take USDC.

        Raises:
            InsufficientBalance: the owner holds less than `amount` USDC.
        """
        market = await self.usd_market(asset)
        if market.expiry <= await self.chain_now():
            raise ProtocolUnavailable(SOURCE, f"market {market.name} has matured", permanent=True)
        await require_balance(self._w3, self._cash, owner, amount, "USDC")
        return await self._build(
            owner,
            self._cash,
            market.pt,
            amount,
            slippage,
            StepKind.DEPOSIT,
            f"buy PT of Pendle market {market.name}",
            aggregator=not market.takes(self._cash),
        )

    async def build_withdraw(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Sell `amount` PT for USDC, or redeem it once the market has matured; through the
        aggregator where the market's SY does not give USDC out.

        Raises:
            InsufficientBalance: the owner holds less than `amount` PT.
        """
        market = await self.usd_market(asset)
        held = await balance_of(self._w3, market.pt, owner)
        if held < amount or amount <= 0:
            raise InsufficientBalance("PT", amount, held)
        matured = market.expiry <= await self.chain_now()
        return await self._build(
            owner,
            market.pt,
            self._cash,
            amount,
            slippage,
            StepKind.REDEEM if matured else StepKind.WITHDRAW,
            f"{'redeem' if matured else 'sell'} PT of Pendle market {market.name}",
            aggregator=not market.gives(self._cash),
        )

    async def build_redeem(
        self, owner: str, asset: str, amount: int
    ) -> tuple[TransactionRequest, ...]:
        """Redeem matured PT for USDC (1:1 in the accounting asset).

        Raises:
            ProtocolUnavailable: the market has not matured.
        """
        market = await self.market(asset)
        if market.expiry > await self.chain_now():
            raise ProtocolUnavailable(SOURCE, f"market {market.name} has not matured")
        return await self.build_withdraw(owner, asset, amount, Decimal(0))
