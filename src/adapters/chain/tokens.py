"""ERC-20 reads and exact-amount approvals shared by the protocol adapters, and ABI loading."""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import ROUND_DOWN, Decimal
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from eth_tester.exceptions import TransactionFailed
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError, Web3RPCError

from adapters.chain.rpc import TRANSPORT_ERRORS
from application.ports.chain import (
    BalanceCheck,
    InsufficientBalance,
    ProtocolUnavailable,
    RpcUnavailable,
    StepKind,
    TransactionRequest,
)

T = TypeVar("T")


@cache
def load_abi(name: str) -> list[dict[str, Any]]:
    """One of our JSON ABI subsets from `adapters/chain/abis/`."""
    text = resources.files("adapters.chain").joinpath("abis", f"{name}.json").read_text("utf-8")
    abi: list[dict[str, Any]] = json.loads(text)
    return abi


_CONTRACTS: weakref.WeakKeyDictionary[AsyncWeb3[Any], dict[tuple[str, str], AsyncContract]] = (
    weakref.WeakKeyDictionary()
)


def contract(w3: AsyncWeb3[Any], abi: str, address: str) -> AsyncContract:
    """A contract object over one of our ABIs, built once per connection, ABI and address
    (building one parses the ABI; a portfolio read needs a dozen)."""
    built = _CONTRACTS.setdefault(w3, {})
    key = (abi, address.lower())
    found = built.get(key)
    if found is None:
        found = w3.eth.contract(address=w3.to_checksum_address(address), abi=load_abi(abi))
        built[key] = found
    return found


async def read(source: str, call: Awaitable[T]) -> T:
    """Await a contract read, translating failures once.

    Raises:
        RpcUnavailable: the node did not answer.
        ProtocolUnavailable: the contract reverted (wrong address or ABI): permanent.
    """
    try:
        return await call
    except TRANSPORT_ERRORS as exc:
        raise RpcUnavailable(source, type(exc).__name__) from exc
    except Web3RPCError as exc:
        raise RpcUnavailable(source, str(exc.message or exc)) from exc
    except (ContractLogicError, TransactionFailed) as exc:
        raise ProtocolUnavailable(source, f"contract call reverted: {exc}", permanent=True) from exc


def minimum_after_slippage(amount: int, slippage: Decimal) -> int:
    """`amount` less the slippage fraction, rounded down (a minimum never rounds up).

    Raises:
        ValueError: slippage is not in [0, 0.5].
    """
    if not Decimal(0) <= slippage <= Decimal("0.5"):
        raise ValueError("slippage must be a fraction between 0 and 0.5")
    return int((Decimal(amount) * (1 - slippage)).to_integral_value(rounding=ROUND_DOWN))


async def balance_of(w3: AsyncWeb3[Any], token: str, owner: str) -> int:
    """An ERC-20 balance in base units."""
    erc20 = contract(w3, "erc20", token)
    return int(await read(f"ERC-20 {token}", erc20.functions.balanceOf(owner).call()))


class PlanBalances:
    """What the moves of one plan built so far bring in and spend, per (token, holder).

    A plan sent as ONE transaction (a Safe batch) runs its moves in order inside it, so a
    deposit may spend the USDC a swap earlier in the same plan brings in. While a plan is built
    under `counting`, `require_balance` checks each move against the balance on chain plus what
    earlier moves are guaranteed to bring in (the positive `BalanceCheck.min_delta` of their
    requests: a swap's minimum output, a withdrawal's minimum) less what earlier moves spend.
    The whole batch is still simulated before anything is signed.
    """

    def __init__(self) -> None:
        self._delta: dict[tuple[str, str], int] = {}

    def available(self, token: str, holder: str, on_chain: int) -> int:
        """`on_chain` plus what earlier moves bring in, less what they spend."""
        return on_chain + self._delta.get((token.lower(), holder.lower()), 0)

    def spend(self, token: str, holder: str, amount: int) -> None:
        """A move spends `amount` of `token`."""
        key = (token.lower(), holder.lower())
        self._delta[key] = self._delta.get(key, 0) - amount

    def credit(self, requests: Sequence[TransactionRequest], holder: str) -> None:
        """Count what `requests` are checked to bring `holder` at least."""
        for request in requests:
            for check in request.checks:
                if check.holder.lower() == holder.lower() and check.min_delta > 0:
                    key = (check.token.lower(), holder.lower())
                    self._delta[key] = self._delta.get(key, 0) + check.min_delta

    def clear(self) -> None:
        """A new plan starts from what is on chain."""
        self._delta.clear()


_COUNTING: ContextVar[PlanBalances | None] = ContextVar("plan_balances", default=None)


@contextmanager
def counting(balances: PlanBalances) -> Iterator[None]:
    """`require_balance` counts against `balances` inside this block (see `PlanBalances`)."""
    token = _COUNTING.set(balances)
    try:
        yield
    finally:
        _COUNTING.reset(token)


async def require_balance(
    w3: AsyncWeb3[Any], token: str, owner: str, amount: int, label: str
) -> int:
    """The owner's balance, which must cover `amount` (with what earlier moves of the plan
    bring in and spend, while a plan is built under `counting`).

    Raises:
        InsufficientBalance: it does not.
    """
    balance = await balance_of(w3, token, owner)
    plan = _COUNTING.get()
    available = balance if plan is None else plan.available(token, owner, balance)
    if available < amount:
        raise InsufficientBalance(label, amount, available)
    if plan is not None:
        plan.spend(token, owner, amount)
    return balance


class AllowanceLedger:
    """What moves built so far already counted on of an allowance found on chain.

    A plan's moves are built one by one before any is sent: an allowance left on chain (say by
    a plan a crash cut off after its approval) covers the first move that needs it, not every
    one. The ledger remembers, per (token, spender), the on-chain value it saw and how much of
    it earlier moves took; a different value on chain (spent, or approved anew) starts afresh.
    One ledger per adapter instance, cleared when a plan's build starts (a plan built but
    never sent, say refused by its simulation, must not leave its counting to the next plan).
    """

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str], tuple[int, int]] = {}

    def available(self, token: str, spender: str, on_chain: int) -> int:
        """What is left of `on_chain` for the next move."""
        seen, taken = self._taken.get((token.lower(), spender.lower()), (on_chain, 0))
        return max(on_chain - taken, 0) if seen == on_chain else on_chain

    def clear(self) -> None:
        """Forget what earlier builds counted on: a new plan starts from what is on chain."""
        self._taken.clear()

    def take(self, token: str, spender: str, on_chain: int, amount: int) -> None:
        """A move counts on `amount` of the allowance `on_chain`."""
        key = (token.lower(), spender.lower())
        seen, taken = self._taken.get(key, (on_chain, 0))
        self._taken[key] = (on_chain, (taken if seen == on_chain else 0) + amount)


async def approvals_for(
    w3: AsyncWeb3[Any],
    *,
    chain_id: int,
    token: str,
    symbol: str,
    owner: str,
    spender: str,
    amount: int,
    group: str,
    ledger: AllowanceLedger | None = None,
) -> tuple[TransactionRequest, ...]:
    """Exact-amount approval transactions, or none when the allowance already covers `amount`
    (less what earlier moves of the same build counted on, with a `ledger`).

    A non-zero allowance that is too small is first reset to zero: some tokens (USDT) refuse
    to change one non-zero allowance into another.
    """
    erc20 = contract(w3, "erc20", token)
    owner_cs, spender_cs = w3.to_checksum_address(owner), w3.to_checksum_address(spender)
    allowance = int(
        await read(f"ERC-20 {symbol}", erc20.functions.allowance(owner_cs, spender_cs).call())
    )
    available = ledger.available(token, spender_cs, allowance) if ledger else allowance
    if available >= amount:
        if ledger is not None:
            ledger.take(token, spender_cs, allowance, amount)
        return ()
    steps = []
    if available > 0:  # what earlier moves of the build take is spent before this runs
        steps.append(
            TransactionRequest(
                chain_id=chain_id,
                to=erc20.address,
                data=erc20.encode_abi("approve", args=[spender_cs, 0]),
                kind=StepKind.APPROVE,
                description=f"reset {symbol} allowance of {spender_cs} to 0",
                group=group,
            )
        )
    steps.append(
        TransactionRequest(
            chain_id=chain_id,
            to=erc20.address,
            data=erc20.encode_abi("approve", args=[spender_cs, amount]),
            kind=StepKind.APPROVE,
            description=f"approve {amount} {symbol} base units to {spender_cs}",
            group=group,
        )
    )
    return tuple(steps)


def exact_change(token: str, holder: str, delta: int, description: str) -> BalanceCheck:
    """A check that a balance changes by exactly `delta`."""
    return BalanceCheck(
        token=token, holder=holder, min_delta=delta, max_delta=delta, description=description
    )
