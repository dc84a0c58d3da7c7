"""Loopback fake 1inch (Swap API v6.0/v6.1), Pendle (hosted SDK) and Curve HTTP APIs for the
dev chain.

They answer with payloads recorded from the real services (`payloads/`, each file naming its
source and date; see `payloads/README.md` for what is substituted), filled with calldata and
state from the dev-chain contracts, so the protocol adapters run the same code path as live
and meet the same shapes:

- 1inch: `GET /swap/{v6.0|v6.1}/{chainId}/quote|swap|approve/spender|approve/allowance|
  approve/transaction`, Bearer auth, 400 `{error, description, statusCode, requestId, meta}`;
  `slippage` must be a plain number (the API validates it as one; "1E+1" is refused).
  Point the 1inch adapter's base URL at `http://127.0.0.1:PORT` instead of
  `https://api.1inch.dev`.
- Pendle: `GET /core/v2/markets/all` (the recorded ynRWAx market, `ids` honoured),
  `/core/v2/sdk/{chainId}/convert`, `/core/v1/sdk/{chainId}/markets/{market}/swap`,
  `/core/v1/{chainId}/markets/active`. As live, a token the market's SY does not take in or
  give out (USDC is not in its `outputTokens`) needs `enableAggregator=true`.
  Point the Pendle adapter's base URL at `http://127.0.0.1:PORT/core`.
- Curve: `GET /curve/v1/getVolumes/{blockchainId}` in the documented shape, for the dev 3pool,
  its daily and weekly base APY computed from the growth of its virtual price (the fees it
  keeps). Point the Curve API adapter's base URL at `http://127.0.0.1:PORT/curve/v1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import msgspec
import uvicorn
from eth_tester.exceptions import TransactionFailed
from litestar import Litestar, Request, Response, get
from litestar.params import FromPath
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, Web3Exception

from adapters.chain.devchain.address_book import AddressBook, PendleListing
from adapters.chain.devchain.deploy import contract_at
from adapters.chain.devchain.recorded import recorded
from adapters.chain.multicall3 import ViewCall, batch_reader
from application.ports.chain import ProtocolUnavailable, RpcUnavailable

logger = logging.getLogger(__name__)

NATIVE_ETH_PLACEHOLDER = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
WAD = Decimal(10) ** 18
SECONDS_PER_YEAR = Decimal(31_536_000)
SWAP_GAS_FALLBACK = 180_000
ONEINCH_VERSIONS = ("v6.0", "v6.1")
PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")
_JSON = msgspec.json.Encoder(decimal_format="number")
_REVERTS = (ContractLogicError, TransactionFailed)
RECORDED_MARKETS = "pendle_markets_all.json"
RECORDED_USDC_MARKET = 1  # ynRWAx: USDC in inputTokens and accountingAsset, not outputTokens
RECORDED_CURVE_VOLUMES = "curve_get_volumes.json"
ONEINCH_QUOTE_FULL = "oneinch_quote_full.json"
ONEINCH_ERROR = "oneinch_error_400.json"
DAY_SECONDS = 86_400


class _ApiError(Exception):
    def __init__(self, status: int, description: str, meta: list[dict[str, str]] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.meta = meta or []


def _json(body: Any, status: int = 200) -> Response[bytes]:
    return Response(content=_JSON.encode(body), status_code=status, media_type="application/json")


def _oneinch_error(error: _ApiError) -> Response[bytes]:
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(
        error.status, "Internal Server Error"
    )
    body: dict[str, Any] = recorded(ONEINCH_ERROR)
    body.update(
        error=reason,
        description=error.description,
        statusCode=error.status,
        requestId=str(uuid.uuid4()),
        meta=error.meta,
    )
    return _json(body, error.status)


def _pendle_error(error: _ApiError) -> Response[bytes]:
    # Pendle's API is NestJS: errors come as {message, error, statusCode}.
    reason = {400: "Bad Request", 404: "Not Found"}.get(error.status, "Error")
    return _json(
        {"message": error.description, "error": reason, "statusCode": error.status}, error.status
    )


def _required(request: Request[Any, Any, Any], name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise _ApiError(400, f"{name} is required")
    return str(value)


def _uint(text: str, name: str) -> int:
    if not text.isdigit():
        raise _ApiError(400, f"{name} must be a non-negative integer string")
    return int(text)


def _fraction(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise _ApiError(400, f"{name} must be a number") from exc
    if not value.is_finite() or value < 0:
        raise _ApiError(400, f"{name} must be a non-negative number")
    return value


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def _is_true(request: Request[Any, Any, Any], name: str) -> bool:
    return str(request.query_params.get(name, "false")).lower() == "true"


class LiveBook:
    """The dev chain's address book as it grows: paper mode deploys later Pendle markets while
    the fake APIs serve, and they list every market deployed so far."""

    def __init__(self, book: AddressBook) -> None:
        self.book = book


@dataclass(frozen=True, slots=True)
class _Chain:
    w3: AsyncWeb3[Any]
    live: LiveBook

    @property
    def book(self) -> AddressBook:
        return self.live.book

    def checksum(self, address: str, name: str) -> str:
        if not AsyncWeb3.is_address(address):
            raise _ApiError(400, f"{name} is not a valid address")
        return str(AsyncWeb3.to_checksum_address(address))

    def check_chain(self, chain_id: int) -> None:
        if chain_id != self.book.chain_id:
            raise _ApiError(
                400, f"chain {chain_id} is not supported (dev chain is {self.book.chain_id})"
            )

    def token_info(self, address: str) -> dict[str, Any]:
        """The documented `dstToken` object with the dev token's own fields."""
        symbol = self.book.symbol_of(address) or "?"
        info: dict[str, Any] = recorded(ONEINCH_QUOTE_FULL)["dstToken"]
        info.update(
            address=address.lower(),
            symbol=symbol,
            name=f"{symbol} (dev)",
            decimals=self.book.decimals.get(symbol, 18),
            logoURI="",
            tags=["tokens"],
        )
        return info

    async def gas_price(self) -> int:
        return int(await self.w3.eth.gas_price)

    async def now(self) -> int:
        return int((await self.w3.eth.get_block("latest"))["timestamp"])


# --- 1inch -------------------------------------------------------------------------------


class _OneInch:
    def __init__(self, chain: _Chain, api_key: str) -> None:
        self.chain = chain
        self._api_key = api_key

    def authorize(self, request: Request[Any, Any, Any]) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode(), self._api_key.encode()
        ):
            raise _ApiError(401, "Unauthorized: a valid Bearer API key is required")

    def listed(self, address: str, name: str) -> str:
        if address.lower() == NATIVE_ETH_PLACEHOLDER:
            raise _ApiError(400, "insufficient liquidity", [{"type": name, "value": address}])
        checksummed = self.chain.checksum(address, name)
        if self.chain.book.symbol_of(checksummed) is None:
            raise _ApiError(400, "insufficient liquidity", [{"type": name, "value": address}])
        return checksummed

    async def quote_amount(self, src: str, dst: str, amount: int) -> int:
        router = contract_at(self.chain.w3, "SwapRouter", self.chain.book.router)
        if amount == 0:
            raise _ApiError(400, "amount must be greater than 0")
        try:
            out = int(await router.functions.getAmountOut(src, dst, amount).call())
            inventory = int(await router.functions.inventory(dst).call())
        except _REVERTS as exc:
            raise _ApiError(
                400, "cannot estimate", [{"type": "reason", "value": str(exc)}]
            ) from exc
        if out == 0 or out > inventory:
            raise _ApiError(400, "insufficient liquidity", [{"type": "dstAmount", "value": "0"}])
        return out

    async def quote(self, request: Request[Any, Any, Any], chain_id: int) -> dict[str, Any]:
        self.authorize(request)
        self.chain.check_chain(chain_id)
        src = self.listed(_required(request, "src"), "src")
        dst = self.listed(_required(request, "dst"), "dst")
        amount = _uint(_required(request, "amount"), "amount")
        out = await self.quote_amount(src, dst, amount)
        body: dict[str, Any] = {"dstAmount": str(out)}
        if _is_true(request, "includeTokensInfo"):
            body["srcToken"] = self.chain.token_info(src)
            body["dstToken"] = self.chain.token_info(dst)
        if _is_true(request, "includeProtocols"):
            body["protocols"] = [
                [
                    [
                        {
                            "name": "DEVCHAIN_ROUTER",
                            "part": 100,
                            "fromTokenAddress": src.lower(),
                            "toTokenAddress": dst.lower(),
                        }
                    ]
                ]
            ]
        if _is_true(request, "includeGas"):
            body["gas"] = SWAP_GAS_FALLBACK
        return body

    async def swap(self, request: Request[Any, Any, Any], chain_id: int) -> dict[str, Any]:
        self.authorize(request)
        self.chain.check_chain(chain_id)
        src = self.listed(_required(request, "src"), "src")
        dst = self.listed(_required(request, "dst"), "dst")
        amount = _uint(_required(request, "amount"), "amount")
        sender = self.chain.checksum(_required(request, "from"), "from")
        _required(request, "origin")
        slippage_text = _required(request, "slippage")
        if not PLAIN_NUMBER.fullmatch(slippage_text):
            # The API validates a plain number; "1E+1" is refused, not read as 10.
            raise _ApiError(400, "slippage must be a number between 0 and 50")
        slippage = _fraction(slippage_text, "slippage")
        if slippage > 50:
            raise _ApiError(400, "slippage must be between 0 and 50")
        receiver_param = request.query_params.get("receiver")
        receiver = self.chain.checksum(receiver_param, "receiver") if receiver_param else sender
        out = await self.quote_amount(src, dst, amount)
        min_return = _floor(Decimal(out) * (Decimal(100) - slippage) / Decimal(100))
        w3 = self.chain.w3
        router = contract_at(w3, "SwapRouter", self.chain.book.router)
        data = router.encode_abi("swap", args=[src, dst, amount, min_return, receiver])
        gas = SWAP_GAS_FALLBACK
        if not _is_true(request, "disableEstimate"):
            await self._check_funds(src, sender, amount)
            try:
                gas = int(
                    await w3.eth.estimate_gas(
                        {"from": sender, "to": router.address, "data": data, "value": 0}  # type: ignore[typeddict-item]
                    )
                )
            except _REVERTS as exc:
                raise _ApiError(
                    400, "cannot estimate", [{"type": "reason", "value": str(exc)}]
                ) from exc
        return {
            "dstAmount": str(out),
            "tx": {
                "from": sender.lower(),
                "to": router.address.lower(),
                "data": data,
                "value": "0",
                "gas": gas,
                "gasPrice": str(await self.chain.gas_price()),
            },
        }

    async def _check_funds(self, src: str, sender: str, amount: int) -> None:
        token = contract_at(self.chain.w3, "ERC20", src)
        balance = int(await token.functions.balanceOf(sender).call())
        if balance < amount:
            raise _ApiError(
                400,
                f"Not enough {self.chain.book.symbol_of(src)} balance. "
                f"Amount: {amount}. Balance: {balance}.",
            )
        allowance = int(await token.functions.allowance(sender, self.chain.book.router).call())
        if allowance < amount:
            raise _ApiError(
                400,
                f"Not enough allowance. Amount: {amount}. Allowance: {allowance}. "
                f"Spender: {self.chain.book.router.lower()}",
            )

    async def spender(self, request: Request[Any, Any, Any], chain_id: int) -> dict[str, Any]:
        self.authorize(request)
        self.chain.check_chain(chain_id)
        return {"address": self.chain.book.router.lower()}

    async def allowance(self, request: Request[Any, Any, Any], chain_id: int) -> dict[str, Any]:
        self.authorize(request)
        self.chain.check_chain(chain_id)
        token_address = self.listed(_required(request, "tokenAddress"), "tokenAddress")
        wallet = self.chain.checksum(_required(request, "walletAddress"), "walletAddress")
        token = contract_at(self.chain.w3, "ERC20", token_address)
        allowance = int(await token.functions.allowance(wallet, self.chain.book.router).call())
        return {"allowance": str(allowance)}

    async def approve_transaction(
        self, request: Request[Any, Any, Any], chain_id: int
    ) -> dict[str, Any]:
        self.authorize(request)
        self.chain.check_chain(chain_id)
        token_address = self.listed(_required(request, "tokenAddress"), "tokenAddress")
        amount_param = request.query_params.get("amount")
        amount = _uint(str(amount_param), "amount") if amount_param else 2**256 - 1
        token = contract_at(self.chain.w3, "ERC20", token_address)
        data = token.encode_abi("approve", args=[self.chain.book.router, amount])
        return {
            "data": data,
            "gasPrice": str(await self.chain.gas_price()),
            "to": token_address.lower(),
            "value": "0",
        }


# --- Pendle ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PendleQuote:
    market: str
    method: str
    params_names: tuple[str, ...]
    params: tuple[Any, ...]
    data: str
    token_in: str
    amount_in: int
    token_out: str
    amount_out: int
    implied_apy: Decimal
    effective_apy: Decimal | None
    price_impact: Decimal


class _Pendle:
    def __init__(self, chain: _Chain) -> None:
        self.chain = chain
        self._markets: dict[tuple[bytes, str], dict[str, Any]] = {}
        """Market answers of the latest block, by block hash and market (as Pendle's backend
        answers from its own indexed state, not a fresh chain read per request)."""

    def _asset_id(self, address: str) -> str:
        return f"{self.chain.book.chain_id}-{address.lower()}"

    def _reprefixed(self, asset_id: str) -> str:
        """A recorded `<chainId>-<address>` id moved onto the dev chain's id."""
        return self._asset_id(asset_id.split("-", 1)[1])

    def _listing(self, address: str) -> PendleListing:
        """The dev market whose market or PT address is `address`."""
        listing = self.chain.book.pendle_listing(address)
        if listing is None:
            raise _ApiError(404, f"market {address.lower()} not found")
        return listing

    def _listing_of_pt(self, token_in: str, token_out: str) -> PendleListing:
        """The dev market whose PT one side of a trade is."""
        for token in (token_in, token_out):
            listing = self.chain.book.pendle_listing(token)
            if listing is not None and listing.pt.lower() == token.lower():
                return listing
        raise _ApiError(400, "no route: the dev chain trades only USDC <-> PT")

    async def market_json(self, listing: PendleListing | None = None) -> dict[str, Any]:
        """A recorded USDC market with a dev market's addresses and state (the first market by
        default; see `payloads/README.md` for what is substituted and why), read from the chain
        once per block: the same block answers from memory."""
        listing = listing or self.chain.book.pendle_markets()[0]
        block = bytes((await self.chain.w3.eth.get_block("latest"))["hash"])
        key = (block, listing.market.lower())
        found = self._markets.get(key)
        if found is None:
            found = await self._read_market(listing)
            self._markets = {k: v for k, v in self._markets.items() if k[0] == block}
            self._markets[key] = found
        return copy.deepcopy(found)

    async def _read_market(self, listing: PendleListing) -> dict[str, Any]:
        book = self.chain.book
        w3 = self.chain.w3
        market = contract_at(w3, "PendleMarket", listing.market)
        pt = contract_at(w3, "ERC20", listing.pt)
        usdc = contract_at(w3, "ERC20", book.token("USDC"))
        # One eth_call through Multicall3 where the dev chain has it, as a real backend batches.
        answers = await batch_reader(w3).read(
            [
                ViewCall("pendle market", market.functions.impliedApy()),
                ViewCall("PT", pt.functions.decimals()),
                ViewCall("USDC", usdc.functions.balanceOf(listing.market)),
                ViewCall("PT", pt.functions.totalSupply()),
            ]
        )
        implied_wad, pt_decimals, market_usdc, pt_supply = (int(a.get()) for a in answers)
        implied = Decimal(implied_wad) / WAD
        liquidity = Decimal(market_usdc).scaleb(-book.decimals["USDC"])
        total_pt = Decimal(pt_supply).scaleb(-pt_decimals)
        expiry = datetime.fromtimestamp(listing.expiry, UTC)
        item: dict[str, Any] = recorded(RECORDED_MARKETS)["results"][RECORDED_USDC_MARKET]
        recorded_usdc = item["accountingAsset"]
        usdc_id = self._asset_id(book.token("USDC"))

        def on_dev_chain(asset_id: str) -> str:
            return usdc_id if asset_id == recorded_usdc else self._reprefixed(asset_id)

        item.update(
            chainId=book.chain_id,
            address=listing.market.lower(),
            name=f"USDC {expiry.strftime('%d%b%Y').upper()} (dev)",
            expiry=expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            pt=self._asset_id(listing.pt),
            yt=self._reprefixed(item["yt"]),
            sy=self._reprefixed(item["sy"]),
            underlyingAsset=self._reprefixed(item["underlyingAsset"]),
            accountingAsset=usdc_id,
            rewardTokens=[self._reprefixed(t) for t in item["rewardTokens"]],
            inputTokens=[on_dev_chain(t) for t in item["inputTokens"]],
            outputTokens=[on_dev_chain(t) for t in item["outputTokens"]],
        )
        item["details"].update(impliedApy=implied, liquidity=liquidity, totalPt=total_pt)
        return item

    async def markets_all(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        skip = _uint(str(request.query_params.get("skip", "0")), "skip")
        limit = _uint(str(request.query_params.get("limit", "10")), "limit")
        if limit > 100:
            raise _ApiError(400, "limit must not be greater than 100")
        chain_param = request.query_params.get("chainId")
        listings = list(self.chain.book.pendle_markets())
        if (
            chain_param is not None
            and _uint(str(chain_param), "chainId") != self.chain.book.chain_id
        ):
            listings = []
        ids = request.query_params.get("ids")
        if ids is not None:
            wanted = {i.strip().lower() for i in str(ids).split(",")}
            chain_id = self.chain.book.chain_id
            listings = [m for m in listings if f"{chain_id}-{m.market.lower()}" in wanted]
        # A dev market is active until maturity; isActive filters on that, as live.
        active_filter = str(request.query_params.get("isActive", "")).lower()
        now = await self.chain.now()
        if active_filter == "true":
            listings = [m for m in listings if now < m.expiry]
        elif active_filter == "false":
            listings = [m for m in listings if now >= m.expiry]
        markets = [await self.market_json(m) for m in listings[skip : skip + limit]]
        page = markets
        return {"total": len(listings), "skip": skip, "limit": limit, "results": page}

    async def markets_active(self, chain_id: int) -> dict[str, Any]:
        self.chain.check_chain(chain_id)
        now = await self.chain.now()
        listings = [m for m in self.chain.book.pendle_markets() if now < m.expiry]
        return {"markets": [await self.market_json(m) for m in listings]}

    async def quote(
        self,
        token_in: str,
        amount_in: int,
        token_out: str,
        receiver: str,
        slippage: Decimal,
        *,
        aggregator: bool = False,
    ) -> _PendleQuote:
        book = self.chain.book
        w3 = self.chain.w3
        listing = self._listing_of_pt(token_in, token_out)
        usdc, pt = book.token("USDC").lower(), listing.pt.lower()
        market = contract_at(w3, "PendleMarket", listing.market)
        await self._require_route(listing, token_in, token_out, aggregator)
        # PT base units per USDC base unit, from the tokens themselves (a dev chain deployed
        # before PT followed the SY's 18 decimals has a 6-decimal PT: scale 1).
        pt_decimals = int(await contract_at(w3, "ERC20", listing.pt).functions.decimals().call())
        scale = Decimal(10) ** (pt_decimals - book.decimals["USDC"])
        if amount_in == 0:
            raise _ApiError(400, "amountsIn must be greater than 0")
        if slippage >= 1:
            raise _ApiError(400, "slippage must be below 1")
        implied = Decimal(int(await market.functions.impliedApy().call())) / WAD
        fee = Decimal(int(await market.functions.swapFee().call())) / WAD
        expired = bool(await market.functions.isExpired().call())
        years = Decimal(max(listing.expiry - await self.chain.now(), 0)) / SECONDS_PER_YEAR
        try:
            if token_in.lower() == usdc and token_out.lower() == pt:
                if expired:
                    raise _ApiError(400, "market is expired")
                out = int(await market.functions.previewSwapExactTokenForPt(amount_in).call())
                minimum = _floor(Decimal(out) * (1 - slippage))
                effective = (
                    (Decimal(out) / scale / Decimal(amount_in)) ** (1 / years) - 1
                    if years
                    else None
                )
                return _PendleQuote(
                    market=listing.market,
                    method="swapExactTokenForPt",
                    params_names=("receiver", "netTokenIn", "minPtOut"),
                    params=(receiver, amount_in, minimum),
                    data=market.encode_abi(
                        "swapExactTokenForPt", args=[receiver, amount_in, minimum]
                    ),
                    token_in=usdc,
                    amount_in=amount_in,
                    token_out=pt,
                    amount_out=out,
                    implied_apy=implied,
                    effective_apy=effective,
                    price_impact=-fee,
                )
            if token_in.lower() == pt and token_out.lower() == usdc:
                out = int(await market.functions.previewSwapExactPtForToken(amount_in).call())
                minimum = _floor(Decimal(out) * (1 - slippage))
                method = "redeemPyToToken" if expired else "swapExactPtForToken"
                names = (
                    ("receiver", "netPyIn", "minTokenOut")
                    if expired
                    else ("receiver", "exactPtIn", "minTokenOut")
                )
                effective = (
                    (Decimal(amount_in) / scale / Decimal(out)) ** (1 / years) - 1
                    if years and out
                    else None
                )
                return _PendleQuote(
                    market=listing.market,
                    method=method,
                    params_names=names,
                    params=(receiver, amount_in, minimum),
                    data=market.encode_abi(method, args=[receiver, amount_in, minimum]),
                    token_in=pt,
                    amount_in=amount_in,
                    token_out=usdc,
                    amount_out=out,
                    implied_apy=implied,
                    effective_apy=effective,
                    price_impact=Decimal(0) if expired else -fee,
                )
        except _REVERTS as exc:
            raise _ApiError(400, f"cannot quote: {exc}") from exc
        raise _ApiError(400, "no route: the dev chain trades only USDC <-> PT")

    async def _require_route(
        self, listing: PendleListing, token_in: str, token_out: str, aggregator: bool
    ) -> None:
        """As live: a token the SY does not take in (or give out) needs the aggregator.

        The market's own PT is always tradable; USDC only where the recorded market lists it.
        """
        if aggregator:
            return
        market = await self.market_json(listing)
        pt = market["pt"]
        for token, listed, side in (
            (token_in, market["inputTokens"], "tokensIn"),
            (token_out, market["outputTokens"], "tokensOut"),
        ):
            asset_id = self._asset_id(token)
            if asset_id != pt and asset_id not in listed:
                raise _ApiError(
                    400,
                    f"{side} {token.lower()} is not supported by the SY of this market; "
                    "set enableAggregator=true to route it through an aggregator",
                )

    async def convert(self, request: Request[Any, Any, Any], chain_id: int) -> dict[str, Any]:
        self.chain.check_chain(chain_id)
        receiver = self.chain.checksum(_required(request, "receiver"), "receiver")
        slippage = _fraction(_required(request, "slippage"), "slippage")
        tokens_in = _required(request, "tokensIn").split(",")
        amounts_in = _required(request, "amountsIn").split(",")
        tokens_out = _required(request, "tokensOut").split(",")
        if len(tokens_in) != 1 or len(amounts_in) != 1 or len(tokens_out) != 1:
            raise _ApiError(400, "the dev chain converts one token into one token")
        amount_in = _uint(amounts_in[0], "amountsIn")
        q = await self.quote(
            tokens_in[0],
            amount_in,
            tokens_out[0],
            receiver,
            slippage,
            aggregator=_is_true(request, "enableAggregator"),
        )
        data: dict[str, Any] = {"priceImpact": q.price_impact}
        additional = str(request.query_params.get("additionalData", "")).split(",")
        if "impliedApy" in additional:
            data["impliedApy"] = {"before": q.implied_apy, "after": q.implied_apy}
        if "effectiveApy" in additional and q.effective_apy is not None:
            data["effectiveApy"] = q.effective_apy
        return {
            "action": "redeem-py" if q.method == "redeemPyToToken" else "swap",
            "inputs": [{"token": q.token_in, "amount": str(q.amount_in)}],
            "requiredApprovals": [{"token": q.token_in, "amount": str(q.amount_in)}],
            "routes": [
                {
                    "contractParamInfo": {
                        "method": q.method,
                        "contractCallParamsName": list(q.params_names),
                        "contractCallParams": [str(p) for p in q.params],
                    },
                    "tx": {
                        "data": q.data,
                        "to": q.market.lower(),
                        "from": receiver.lower(),
                        "value": "0",
                    },
                    "outputs": [{"token": q.token_out, "amount": str(q.amount_out)}],
                    "data": data,
                }
            ],
        }

    async def legacy_swap(
        self, request: Request[Any, Any, Any], chain_id: int, market: str
    ) -> dict[str, Any]:
        self.chain.check_chain(chain_id)
        listing = self._listing(market)
        if listing.market.lower() != market.lower():
            raise _ApiError(404, f"market {market} not found")
        receiver = self.chain.checksum(_required(request, "receiver"), "receiver")
        slippage = _fraction(_required(request, "slippage"), "slippage")
        amount_in = _uint(_required(request, "amountIn"), "amountIn")
        q = await self.quote(
            _required(request, "tokenIn"),
            amount_in,
            _required(request, "tokenOut"),
            receiver,
            slippage,
            aggregator=_is_true(request, "enableAggregator"),
        )
        data: dict[str, Any] = {"amountOut": str(q.amount_out), "priceImpact": q.price_impact}
        if "impliedApy" in str(request.query_params.get("additionalData", "")):
            data["impliedApy"] = q.implied_apy
        return {
            "tx": {
                "to": q.market.lower(),
                "data": q.data,
                "from": receiver.lower(),
                "value": "0",
            },
            "data": data,
        }


# --- Curve -------------------------------------------------------------------------------


class _Curve:
    """`getVolumes` over the dev 3pool: the recorded shape, the APYs from virtual price growth."""

    def __init__(self, chain: _Chain) -> None:
        self.chain = chain

    async def _block_at(self, timestamp: int, latest: int) -> int:
        """The last block at or before `timestamp`, not before the deployment."""
        w3 = self.chain.w3

        async def stamp(number: int) -> int:
            return int((await w3.eth.get_block(number))["timestamp"])

        low, high = self.chain.book.block, latest
        if await stamp(low) > timestamp:
            return low
        while low < high:
            middle = (low + high + 1) // 2
            if await stamp(middle) <= timestamp:
                low = middle
            else:
                high = middle - 1
        return low

    async def _apy_pcent(self, window: int, now: int, latest: int, price_now: int) -> Decimal:
        """Annualised virtual price growth over the last `window` seconds, in percent."""
        pool = contract_at(self.chain.w3, "CurvePool", self.chain.book.curve_pool)
        then = await self._block_at(now - window, latest)
        then_time = int((await self.chain.w3.eth.get_block(then))["timestamp"])
        price_then = int(await pool.functions.get_virtual_price().call(block_identifier=then))
        elapsed = now - then_time
        if elapsed <= 0 or price_then <= 0:
            return Decimal(0)
        growth = Decimal(price_now) / Decimal(price_then)
        apy = growth ** (SECONDS_PER_YEAR / Decimal(elapsed)) - 1
        return (apy * 100).quantize(Decimal("0.01"))

    async def volumes(self, blockchain_id: str) -> dict[str, Any]:
        del blockchain_id  # the dev pool answers for whichever chain the adapter names
        w3 = self.chain.w3
        pool = contract_at(w3, "CurvePool", self.chain.book.curve_pool)
        latest = int(await w3.eth.block_number)
        now = await self.chain.now()
        price_now = int(await pool.functions.get_virtual_price().call())
        daily = await self._apy_pcent(DAY_SECONDS, now, latest, price_now)
        weekly = await self._apy_pcent(7 * DAY_SECONDS, now, latest, price_now)
        body: dict[str, Any] = recorded(RECORDED_CURVE_VOLUMES)
        del body["_provenance"]
        item = body["data"]["pools"][0]
        item.update(
            address=self.chain.book.curve_pool,
            latestDailyApyPcent=daily,
            latestWeeklyApyPcent=weekly,
            includedApyPcentFromLsts=Decimal(0),
            virtualPrice=price_now,
        )
        body["data"]["pools"] = [item]
        body["generatedTimeMs"] = now * 1000
        return body


# --- the app -----------------------------------------------------------------------------


def create_fake_api_app(
    w3: AsyncWeb3[Any], book: AddressBook | LiveBook, *, oneinch_api_key: str
) -> Litestar:
    """The fake 1inch and Pendle APIs as one Litestar app over a dev chain (a `LiveBook` lists
    the Pendle markets deployed while it serves)."""
    chain = _Chain(w3=w3, live=book if isinstance(book, LiveBook) else LiveBook(book))
    oneinch = _OneInch(chain, oneinch_api_key)
    pendle = _Pendle(chain)
    curve = _Curve(chain)

    async def answer_1inch(version: str, coro: Any) -> Response[bytes]:
        try:
            if version not in ONEINCH_VERSIONS:
                coro.close()
                raise _ApiError(404, f"Cannot GET /swap/{version}")
            return _json(await coro)
        except _ApiError as error:
            return _oneinch_error(error)
        except (Web3Exception, OSError) as exc:
            logger.warning("fake 1inch API: dev chain unavailable", extra={"error": str(exc)})
            return _oneinch_error(_ApiError(500, "dev chain node unavailable"))

    async def answer_pendle(coro: Any) -> Response[bytes]:
        try:
            return _json(await coro)
        except _ApiError as error:
            return _pendle_error(error)
        except (Web3Exception, OSError, RpcUnavailable, ProtocolUnavailable) as exc:
            logger.warning("fake Pendle API: dev chain unavailable", extra={"error": str(exc)})
            return _pendle_error(_ApiError(500, "dev chain node unavailable"))

    @get("/swap/{version:str}/{chain_id:int}/quote")
    async def quote(
        request: Request[Any, Any, Any], version: FromPath[str], chain_id: FromPath[int]
    ) -> Response[bytes]:
        return await answer_1inch(version, oneinch.quote(request, chain_id))

    @get("/swap/{version:str}/{chain_id:int}/swap")
    async def swap(
        request: Request[Any, Any, Any], version: FromPath[str], chain_id: FromPath[int]
    ) -> Response[bytes]:
        return await answer_1inch(version, oneinch.swap(request, chain_id))

    @get("/swap/{version:str}/{chain_id:int}/approve/spender")
    async def spender(
        request: Request[Any, Any, Any], version: FromPath[str], chain_id: FromPath[int]
    ) -> Response[bytes]:
        return await answer_1inch(version, oneinch.spender(request, chain_id))

    @get("/swap/{version:str}/{chain_id:int}/approve/allowance")
    async def allowance(
        request: Request[Any, Any, Any], version: FromPath[str], chain_id: FromPath[int]
    ) -> Response[bytes]:
        return await answer_1inch(version, oneinch.allowance(request, chain_id))

    @get("/swap/{version:str}/{chain_id:int}/approve/transaction")
    async def approve_transaction(
        request: Request[Any, Any, Any], version: FromPath[str], chain_id: FromPath[int]
    ) -> Response[bytes]:
        return await answer_1inch(version, oneinch.approve_transaction(request, chain_id))

    @get("/curve/v1/getVolumes/{blockchain_id:str}")
    async def curve_volumes(blockchain_id: FromPath[str]) -> Response[bytes]:
        try:
            return _json(await curve.volumes(blockchain_id))
        except (Web3Exception, OSError) as exc:
            logger.warning("fake Curve API: dev chain unavailable", extra={"error": str(exc)})
            return _json({"success": False, "err": "dev chain node unavailable"}, 500)

    @get("/core/v2/markets/all")
    async def markets_all(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await answer_pendle(pendle.markets_all(request))

    @get("/core/v1/{chain_id:int}/markets/active")
    async def markets_active(chain_id: FromPath[int]) -> Response[bytes]:
        return await answer_pendle(pendle.markets_active(chain_id))

    @get("/core/v2/sdk/{chain_id:int}/convert")
    async def convert(request: Request[Any, Any, Any], chain_id: FromPath[int]) -> Response[bytes]:
        return await answer_pendle(pendle.convert(request, chain_id))

    @get("/core/v1/sdk/{chain_id:int}/markets/{market:str}/swap")
    async def legacy_swap(
        request: Request[Any, Any, Any], chain_id: FromPath[int], market: FromPath[str]
    ) -> Response[bytes]:
        return await answer_pendle(pendle.legacy_swap(request, chain_id, market))

    return Litestar(
        route_handlers=[
            quote,
            swap,
            spender,
            allowance,
            approve_transaction,
            markets_all,
            markets_active,
            convert,
            legacy_swap,
            curve_volumes,
        ],
        openapi_config=None,
        debug=False,
        logging_config=None,  # the process's own logging set-up stays in charge
    )


@dataclass(frozen=True, slots=True)
class FakeApiServer:
    """A running fake API server: `oneinch_base_url` replaces https://api.1inch.dev and
    `pendle_base_url` replaces https://api-v2.pendle.finance/core."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The server's root URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def oneinch_base_url(self) -> str:
        """Base URL for the 1inch adapter (paths /swap/v6.0/{chainId}/... follow)."""
        return self.base_url

    @property
    def curve_base_url(self) -> str:
        """Base URL for the Curve API adapter (paths /getVolumes/{chain} follow)."""
        return f"{self.base_url}/curve/v1"

    @property
    def pendle_base_url(self) -> str:
        """Base URL for the Pendle adapter (paths /v2/markets/all, /v2/sdk/... follow)."""
        return f"{self.base_url}/core"


@contextlib.asynccontextmanager
async def serve_fake_apis(
    w3: AsyncWeb3[Any],
    book: AddressBook | LiveBook,
    *,
    oneinch_api_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[FakeApiServer]:
    """Serve the fake APIs with uvicorn on the running event loop (port 0 picks a free one).

    Raises:
        ValueError: `host` is not a loopback address.
        RuntimeError: the server did not start.
    """
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError("the fake APIs serve on loopback only")
    app = create_fake_api_app(w3, book, oneinch_api_key=oneinch_api_key)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"fake APIs did not start on {host}:{port}")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        logger.info("fake 1inch/Pendle APIs serving", extra={"host": host, "port": bound})
        yield FakeApiServer(host=host, port=int(bound))
    finally:
        server.should_exit = True
        await task


__all__ = ["FakeApiServer", "LiveBook", "create_fake_api_app", "serve_fake_apis"]
