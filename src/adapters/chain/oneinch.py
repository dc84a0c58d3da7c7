"""1inch Swap API (v6.0 or v6.1): quotes and swap transactions to the router, exact approvals.

`GET {base}/swap/{version}/{chainId}/quote|swap|approve/spender` with `Authorization: Bearer`.
Host and version are settings: v6.0 is served at `https://api.1inch.dev`, v6.1 at
`https://api.1inch.com` (and `.dev`). Slippage goes to the API in plain percent ("10", never
"1E+1"); our own minimum output (quote less slippage) is checked on chain by the executor's
simulation, whatever calldata the API returns.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from web3 import AsyncWeb3

from adapters.chain.http_api import get_json
from adapters.chain.tokens import (
    AllowanceLedger,
    approvals_for,
    minimum_after_slippage,
    require_balance,
)
from application.ports.chain import (
    NATIVE_TOKEN,
    BalanceCheck,
    InsufficientBalance,
    ProtocolUnavailable,
    StepKind,
    SwapQuote,
    TransactionRequest,
)

SOURCE = "1inch"
DEFAULT_API_VERSION = "v6.0"


def slippage_percent(slippage: Decimal) -> str:
    """A slippage fraction as the API's percent, in plain notation (0.1 -> "10").

    `Decimal.normalize()` alone would give "1E+1" for 10 %, which the API does not read.
    """
    return f"{(slippage * 100).normalize():f}"


class _Quote(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dstAmount: int  # noqa: N815 (API field)
    gas: int | None = None


class _Tx(BaseModel):
    model_config = ConfigDict(extra="ignore")
    to: str
    data: str
    value: int = 0
    gas: int | None = None


class _Swap(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dstAmount: int  # noqa: N815
    tx: _Tx


class _Spender(BaseModel):
    address: str


class OneInch:
    """The 1inch aggregation API on one chain."""

    name = "1inch"

    def __init__(
        self,
        client: httpx.AsyncClient,
        w3: AsyncWeb3[Any],
        *,
        chain_id: int,
        api_key: str,
        base_url: str = "https://api.1inch.dev",
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        self._client = client
        self._w3 = w3
        self.allowances = AllowanceLedger()
        self._chain_id = chain_id
        self.__api_key = api_key
        self._base = f"{base_url.rstrip('/')}/swap/{api_version}/{chain_id}"
        self._spender: str | None = None

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself never leaves this object)."""
        return bool(self.__api_key.strip())

    def __repr__(self) -> str:
        return f"OneInch(chain_id={self._chain_id}, base={self._base})"

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await get_json(
            self._client,
            SOURCE,
            f"{self._base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.__api_key}", "Accept": "application/json"},
        )

    @staticmethod
    def _parse(model: type[BaseModel], body: Any) -> Any:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise ProtocolUnavailable(
                SOURCE, f"unexpected answer: {exc.error_count()} field error(s)", permanent=True
            ) from exc

    async def spender(self) -> str:
        """The address the API says to approve (its router)."""
        if self._spender is None:
            spender: _Spender = self._parse(_Spender, await self._get("/approve/spender"))
            self._spender = self._w3.to_checksum_address(spender.address)
        return self._spender

    async def quote(self, src_token: str, dst_token: str, amount: int) -> SwapQuote:
        """How much `dst_token` `amount` of `src_token` buys now."""
        body = await self._get(
            "/quote", {"src": src_token, "dst": dst_token, "amount": str(amount)}
        )
        quote: _Quote = self._parse(_Quote, body)
        return SwapQuote(
            venue=self.name,
            chain_id=self._chain_id,
            src_token=src_token,
            dst_token=dst_token,
            amount_in=amount,
            amount_out=quote.dstAmount,
            gas=quote.gas,
        )

    async def build_swap(
        self, owner: str, src_token: str, dst_token: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Exact approval of the API's spender if needed, then the router swap.

        Raises:
            InsufficientBalance: the owner holds less than `amount`.
            ProtocolUnavailable: the API failed or answered in an unknown shape.
        """
        owner_cs = self._w3.to_checksum_address(owner)
        native = src_token.lower() == NATIVE_TOKEN.lower()
        if native:
            held = int(await self._w3.eth.get_balance(owner_cs))
            if held < amount:
                raise InsufficientBalance("ETH", amount, held)
        else:
            await require_balance(self._w3, src_token, owner_cs, amount, src_token)
        group = f"1inch-swap-{uuid.uuid4().hex[:8]}"
        approvals: tuple[TransactionRequest, ...] = ()
        if not native:
            approvals = await approvals_for(
                self._w3,
                chain_id=self._chain_id,
                token=src_token,
                symbol=src_token,
                owner=owner_cs,
                spender=await self.spender(),
                amount=amount,
                group=group,
                ledger=self.allowances,
            )
        body = await self._get(
            "/swap",
            {
                "src": src_token,
                "dst": dst_token,
                "amount": str(amount),
                "from": owner_cs,
                "origin": owner_cs,
                "slippage": slippage_percent(slippage),
                # The approval may not be mined yet; our own simulation estimates gas.
                "disableEstimate": "true",
            },
        )
        swap: _Swap = self._parse(_Swap, body)
        minimum = minimum_after_slippage(swap.dstAmount, slippage)
        request = TransactionRequest(
            chain_id=self._chain_id,
            to=self._w3.to_checksum_address(swap.tx.to),
            data=swap.tx.data,
            value=swap.tx.value,
            kind=StepKind.SWAP,
            description=(
                f"swap {amount} base units of {src_token} for at least {minimum} of "
                f"{dst_token} via 1inch"
            ),
            checks=(
                BalanceCheck(
                    token=dst_token,
                    holder=owner_cs,
                    min_delta=minimum,
                    description="swap output is at least the minimum",
                ),
                *(
                    ()
                    if native
                    else (
                        BalanceCheck(
                            token=src_token,
                            holder=owner_cs,
                            min_delta=-amount,
                            max_delta=-amount,
                            description="exactly the amount in leaves the wallet",
                        ),
                    )
                ),
            ),
            group=group,
        )
        return (*approvals, request)
