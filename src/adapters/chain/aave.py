"""Aave V3 Pool: supply, withdraw, the supply APY from the liquidity rate, aToken positions.

The position is the aToken's `balanceOf`, which already includes accrued interest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from web3 import AsyncWeb3

from adapters.chain.addresses import Token
from adapters.chain.multicall3 import ViewCall, balance_call
from adapters.chain.tokens import (
    AllowanceLedger,
    approvals_for,
    balance_of,
    contract,
    exact_change,
    read,
    require_balance,
)
from application.ports.chain import (
    BalanceCheck,
    InsufficientBalance,
    ProtocolPosition,
    StepKind,
    TransactionRequest,
)
from domain.money import from_base_units

RAY = 10**27
SECONDS_PER_YEAR = 31_536_000
LIQUIDITY_RATE_INDEX = 2
A_TOKEN_INDEX = 8
STABLE_USD = {"USDC": Decimal(1), "USDT": Decimal(1), "DAI": Decimal(1)}
# Scaled balances round by up to a unit on each side.
ROUNDING_UNITS = 2
# aTokens keep accruing between the block a withdrawal is simulated against and the block that
# includes it (12 s on Ethereum, longer when the transaction waits). Interest on the whole
# position offsets part of the burn; 0.1 % of the position is about a week at 5 % APY.
ACCRUAL_ALLOWANCE = Decimal("0.001")


def withdraw_max_a_token_delta(expected: int, position: int) -> int:
    """The largest aToken balance change a withdrawal of `expected` units may show.

    The balance must fall by the amount, give or take rounding, except for the interest the
    whole `position` earns meanwhile, which is allowed up to `ACCRUAL_ALLOWANCE` of it.
    """
    allowance = int(Decimal(position) * ACCRUAL_ALLOWANCE)
    return -expected + ROUNDING_UNITS + allowance


def supply_apy(liquidity_rate_ray: int) -> Decimal:
    """Supply APY (a fraction) from Aave's liquidity rate: an APR in ray, compounded per second."""
    apr = Decimal(liquidity_rate_ray) / Decimal(RAY)
    return (1 + apr / SECONDS_PER_YEAR) ** SECONDS_PER_YEAR - 1


class AaveV3:
    """The Aave V3 Pool on one chain."""

    name = "aave-v3"

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        *,
        chain_id: int,
        pool: str,
        tokens: Mapping[str, Token],
        prices_usd: Mapping[str, Decimal] = STABLE_USD,
    ) -> None:
        self._w3 = w3
        self.allowances = AllowanceLedger()
        self._chain_id = chain_id
        self._pool = contract(w3, "aave_v3_pool", pool)
        self._tokens = {symbol.upper(): token for symbol, token in tokens.items()}
        self._prices = dict(prices_usd)
        self._a_tokens: dict[str, str] = {}

    def _token(self, asset: str) -> Token:
        try:
            return self._tokens[asset.upper()]
        except KeyError:
            raise KeyError(f"aave-v3: no {asset} reserve configured") from None

    def reserve_call(self, asset: str) -> ViewCall:
        """The read of a reserve's data (see `reserve_from`)."""
        token = self._token(asset)
        return ViewCall(
            f"aave-v3 pool {self._pool.address}",
            self._pool.functions.getReserveData(token.address),
        )

    def reserve_from(self, asset: str, data: Any) -> tuple[str, int]:
        """The aToken address and liquidity rate (ray) in a reserve's data; the aToken is
        remembered (`known_a_token`) so the next read can batch its balance."""
        a_token, rate = str(data[A_TOKEN_INDEX]), int(data[LIQUIDITY_RATE_INDEX])
        self._a_tokens[self._token(asset).symbol] = a_token
        return a_token, rate

    def known_a_token(self, asset: str) -> str | None:
        """The reserve's aToken as last read, if it has been read."""
        return self._a_tokens.get(self._token(asset).symbol)

    def a_token_balance_call(self, a_token: str, owner: str) -> ViewCall:
        """The read of the owner's aToken balance (accrued interest included)."""
        return balance_call(self._w3, a_token, owner, f"aave-v3 aToken {a_token}")

    async def reserve(self, asset: str) -> tuple[str, int]:
        """The aToken address and current liquidity rate (ray) of a reserve."""
        call = self.reserve_call(asset)
        return self.reserve_from(asset, await read(call.source, call.function.call()))

    async def apy(self, asset: str) -> Decimal:
        """The reserve's supply APY as a fraction."""
        _, rate = await self.reserve(asset)
        return supply_apy(rate)

    async def position(self, owner: str, asset: str) -> ProtocolPosition:
        """The owner's aToken balance (accrued) valued in USD, with the supply APY."""
        a_token, rate = await self.reserve(asset)
        balance = await balance_of(self._w3, a_token, owner)
        return self.position_from(asset, a_token, rate, balance)

    def position_from(self, asset: str, a_token: str, rate: int, balance: int) -> ProtocolPosition:
        """The position an aToken balance and the reserve's liquidity rate make."""
        token = self._token(asset)
        price = self._prices.get(token.symbol, Decimal(0))
        return ProtocolPosition(
            protocol=self.name,
            chain_id=self._chain_id,
            asset=token.symbol,
            token=a_token,
            balance=balance,
            decimals=token.decimals,
            value_usd=from_base_units(balance, token.decimals) * price,
            apy=supply_apy(rate),
        )

    def _usd(self, token: Token, amount: int) -> Decimal | None:
        price = self._prices.get(token.symbol)
        return None if price is None else from_base_units(amount, token.decimals) * price

    async def build_deposit(
        self, owner: str, asset: str, amount: int, slippage: Decimal = Decimal(0)
    ) -> tuple[TransactionRequest, ...]:
        """An exact approval if needed, then `supply` on behalf of the owner.

        Raises:
            InsufficientBalance: the owner holds less than `amount`.
        """
        del slippage  # supply converts 1:1 into aTokens
        token = self._token(asset)
        await require_balance(self._w3, token.address, owner, amount, token.symbol)
        a_token, _ = await self.reserve(asset)
        group = f"aave-supply-{token.symbol}-{uuid.uuid4().hex[:8]}"
        approvals = await approvals_for(
            self._w3,
            chain_id=self._chain_id,
            token=token.address,
            symbol=token.symbol,
            owner=owner,
            spender=self._pool.address,
            amount=amount,
            group=group,
            ledger=self.allowances,
        )
        owner_cs = self._w3.to_checksum_address(owner)
        supply = TransactionRequest(
            chain_id=self._chain_id,
            to=self._pool.address,
            data=self._pool.encode_abi("supply", args=[token.address, amount, owner_cs, 0]),
            kind=StepKind.DEPOSIT,
            description=(
                f"supply {from_base_units(amount, token.decimals)} {token.symbol} to Aave V3"
            ),
            checks=(
                exact_change(token.address, owner_cs, -amount, f"{token.symbol} leaves the wallet"),
                BalanceCheck(
                    token=a_token,
                    holder=owner_cs,
                    min_delta=amount - ROUNDING_UNITS,
                    description=f"a{token.symbol} balance grows by the amount",
                ),
            ),
            group=group,
            value_usd=self._usd(token, amount),
        )
        return (*approvals, supply)

    async def build_withdraw(
        self, owner: str, asset: str, amount: int, slippage: Decimal = Decimal(0)
    ) -> tuple[TransactionRequest, ...]:
        """`withdraw` of `amount` to the owner; an amount at or above the position takes it all.

        Raises:
            InsufficientBalance: the position holds nothing.
        """
        del slippage
        token = self._token(asset)
        a_token, _ = await self.reserve(asset)
        position = await balance_of(self._w3, a_token, owner)
        if position == 0 or amount <= 0:
            raise InsufficientBalance(f"a{token.symbol}", amount, position)
        owner_cs = self._w3.to_checksum_address(owner)
        everything = amount >= position
        # type(uint256).max withdraws the whole accrued balance, leaving no dust behind.
        units = 2**256 - 1 if everything else amount
        expected = position if everything else amount
        withdraw = TransactionRequest(
            chain_id=self._chain_id,
            to=self._pool.address,
            data=self._pool.encode_abi("withdraw", args=[token.address, units, owner_cs]),
            kind=StepKind.WITHDRAW,
            description=(
                f"withdraw {'all' if everything else from_base_units(amount, token.decimals)} "
                f"{token.symbol} from Aave V3"
            ),
            checks=(
                BalanceCheck(
                    token=token.address,
                    holder=owner_cs,
                    min_delta=expected,
                    max_delta=None if everything else expected,
                    description=f"{token.symbol} returns to the wallet",
                ),
                BalanceCheck(
                    token=a_token,
                    holder=owner_cs,
                    min_delta=-(expected + ROUNDING_UNITS) if not everything else -(2**255),
                    max_delta=withdraw_max_a_token_delta(expected, position),
                    description=f"a{token.symbol} balance falls by the amount, less interest",
                ),
            ),
            group=f"aave-withdraw-{token.symbol}-{uuid.uuid4().hex[:8]}",
            value_usd=self._usd(token, expected),
        )
        return (withdraw,)
