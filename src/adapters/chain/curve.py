"""Curve StableSwap 3pool (DAI/USDC/USDT): add and remove liquidity, LP valued at virtual price.

The 3pool's `add_liquidity` and `remove_liquidity_one_coin` return nothing, so the outcome is
judged by balance checks; minimum amounts come from `calc_token_amount` /
`calc_withdraw_one_coin` less the slippage fraction.

The base APY (trading fees) comes from an `apy_source` keyed by the pool's address: Curve's
own API live (`CurveApi`), the fake Curve API over the dev pool in paper mode.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from web3 import AsyncWeb3

from adapters.chain.addresses import Token
from adapters.chain.multicall3 import ViewCall, balance_call
from adapters.chain.tokens import (
    AllowanceLedger,
    approvals_for,
    balance_of,
    contract,
    exact_change,
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

COINS = ("DAI", "USDC", "USDT")
LP_DECIMALS = 18
WAD = Decimal(10**18)


class CurveApySource(Protocol):
    """Where a Curve pool's base APY comes from."""

    async def base_apy(self, pool: str) -> Decimal:
        """The pool's base APY as a fraction.

        Raises:
            ProtocolUnavailable: the source failed or does not list the pool.
        """
        ...


class Curve3Pool:
    """One Curve StableSwap pool with three coins."""

    name = "curve"

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        *,
        chain_id: int,
        pool: str,
        lp_token: str,
        coins: Sequence[Token],
        apy_source: CurveApySource | None = None,
    ) -> None:
        if len(coins) != len(COINS):
            raise ValueError("the 3pool has exactly three coins")
        self._w3 = w3
        self.allowances = AllowanceLedger()
        self._chain_id = chain_id
        self._pool = contract(w3, "curve_3pool", pool)
        self._lp = w3.to_checksum_address(lp_token)
        self._coins = tuple(coins)
        self._apy_source = apy_source

    @classmethod
    def with_tokens(
        cls, w3: AsyncWeb3[Any], tokens: Mapping[str, Token], **kwargs: Any
    ) -> Curve3Pool:
        """Build with coins looked up by symbol in 3pool order (DAI, USDC, USDT)."""
        return cls(w3, coins=[tokens[s] for s in COINS], **kwargs)

    def _index(self, asset: str) -> int:
        for i, coin in enumerate(self._coins):
            if coin.symbol.upper() == asset.upper():
                return i
        raise KeyError(f"curve: {asset} is not a coin of the pool")

    def _source(self) -> str:
        return f"curve pool {self._pool.address}"

    def virtual_price_call(self) -> ViewCall:
        """The read of the pool's virtual price (1e18 scale)."""
        return ViewCall(self._source(), self._pool.functions.get_virtual_price())

    def lp_balance_call(self, owner: str) -> ViewCall:
        """The read of the owner's LP token balance."""
        return balance_call(self._w3, self._lp, owner, f"curve LP {self._lp}")

    async def virtual_price(self) -> int:
        """The pool's virtual price (1e18 scale)."""
        return int(await read(self._source(), self._pool.functions.get_virtual_price().call()))

    async def position(self, owner: str, asset: str = "3CRV") -> ProtocolPosition:
        """LP balance valued at virtual price times balance (the pool's stablecoins at $1)."""
        balance = await balance_of(self._w3, self._lp, owner)
        return await self.position_from(balance, await self.virtual_price(), asset)

    async def position_from(
        self, balance: int, price: int, asset: str = "3CRV"
    ) -> ProtocolPosition:
        """The position an LP balance makes at `price` (the virtual price, 1e18 scale), with
        the base APY from the APY source (None when it cannot be read)."""
        apy: Decimal | None = None
        if self._apy_source is not None:
            try:
                apy = await self.apy(asset)
            except ProtocolUnavailable:
                apy = None
        return ProtocolPosition(
            protocol=self.name,
            chain_id=self._chain_id,
            asset="3CRV",
            token=self._lp,
            balance=balance,
            decimals=LP_DECIMALS,
            value_usd=from_base_units(balance, LP_DECIMALS) * Decimal(price) / WAD,
            apy=apy,
            details={"virtual_price": str(Decimal(price) / WAD)},
        )

    async def apy(self, asset: str = "3CRV") -> Decimal:
        """The pool's base APY (trading fees) from the APY source, by the pool's address.

        Raises:
            ProtocolUnavailable: no APY source, or it failed or does not list the pool.
        """
        del asset
        if self._apy_source is None:
            raise ProtocolUnavailable("curve", "no APY source configured for the pool")
        return await self._apy_source.base_apy(self._pool.address)

    def _amounts(self, index: int, amount: int) -> list[int]:
        amounts = [0, 0, 0]
        amounts[index] = amount
        return amounts

    async def build_deposit(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Exact approval if needed, then `add_liquidity` with a minimum LP amount.

        Raises:
            InsufficientBalance: the owner holds less than `amount`.
        """
        index = self._index(asset)
        coin = self._coins[index]
        await require_balance(self._w3, coin.address, owner, amount, coin.symbol)
        amounts = self._amounts(index, amount)
        expected = int(
            await read(self._source(), self._pool.functions.calc_token_amount(amounts, True).call())
        )
        min_mint = minimum_after_slippage(expected, slippage)
        owner_cs = self._w3.to_checksum_address(owner)
        group = f"curve-add-{coin.symbol}-{uuid.uuid4().hex[:8]}"
        approvals = await approvals_for(
            self._w3,
            chain_id=self._chain_id,
            token=coin.address,
            symbol=coin.symbol,
            owner=owner,
            spender=self._pool.address,
            amount=amount,
            group=group,
            ledger=self.allowances,
        )
        add = TransactionRequest(
            chain_id=self._chain_id,
            to=self._pool.address,
            data=self._pool.encode_abi("add_liquidity", args=[amounts, min_mint]),
            kind=StepKind.DEPOSIT,
            description=(
                f"add {from_base_units(amount, coin.decimals)} {coin.symbol} to the Curve 3pool "
                f"(at least {from_base_units(min_mint, LP_DECIMALS)} 3CRV)"
            ),
            checks=(
                exact_change(coin.address, owner_cs, -amount, f"{coin.symbol} leaves the wallet"),
                BalanceCheck(
                    token=self._lp,
                    holder=owner_cs,
                    min_delta=min_mint,
                    description="3CRV received is at least the minimum",
                ),
            ),
            group=group,
            value_usd=from_base_units(amount, coin.decimals),
        )
        return (*approvals, add)

    async def build_withdraw(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """`remove_liquidity_one_coin` burning the LP worth `amount` of `asset`.

        Raises:
            InsufficientBalance: the LP position is too small.
        """
        index = self._index(asset)
        lp_needed = int(
            await read(
                self._source(),
                self._pool.functions.calc_token_amount(self._amounts(index, amount), False).call(),
            )
        )
        lp_balance = await balance_of(self._w3, self._lp, owner)
        if lp_balance == 0 or lp_needed > lp_balance:
            raise InsufficientBalance("3CRV", lp_needed, lp_balance)
        return await self.build_remove_lp(owner, asset, lp_needed, slippage)

    async def build_remove_lp(
        self, owner: str, asset: str, lp_amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """`remove_liquidity_one_coin` of an exact LP amount, with a minimum coin amount."""
        index = self._index(asset)
        coin = self._coins[index]
        expected = int(
            await read(
                self._source(),
                self._pool.functions.calc_withdraw_one_coin(lp_amount, index).call(),
            )
        )
        min_out = minimum_after_slippage(expected, slippage)
        owner_cs = self._w3.to_checksum_address(owner)
        remove = TransactionRequest(
            chain_id=self._chain_id,
            to=self._pool.address,
            data=self._pool.encode_abi(
                "remove_liquidity_one_coin", args=[lp_amount, index, min_out]
            ),
            kind=StepKind.WITHDRAW,
            description=(
                f"remove {from_base_units(lp_amount, LP_DECIMALS)} 3CRV from the Curve 3pool as "
                f"{coin.symbol} (at least {from_base_units(min_out, coin.decimals)})"
            ),
            checks=(
                exact_change(self._lp, owner_cs, -lp_amount, "3CRV burned"),
                BalanceCheck(
                    token=coin.address,
                    holder=owner_cs,
                    min_delta=min_out,
                    description=f"{coin.symbol} received is at least the minimum",
                ),
            ),
            group=f"curve-remove-{coin.symbol}-{uuid.uuid4().hex[:8]}",
            value_usd=from_base_units(expected, coin.decimals),
        )
        return (remove,)
