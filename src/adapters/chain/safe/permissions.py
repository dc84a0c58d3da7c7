"""The agent's permission set, generated from a description of the adapters' calls.

Each `AdapterCall` says which contract an adapter calls, with which function, which arguments
name who receives the result (they must be the Safe itself), and which tokens the contract pulls
from the caller (the only token approvals the agent may give: each to that contract). From that
description `permission_set` builds the set the Roles Modifier enforces: per target, the
functions allowed and the argument constraints, and per token, the allowed spenders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

from adapters.chain.devchain.address_book import AddressBook

APPROVE_SIGNATURE = "approve(address,uint256)"


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterCall:
    """One call an adapter makes.

    `contract` names the contract in the address book (see `dev_chain_contracts`),
    `safe_args` are the positions of arguments that must be the Safe (receiver, onBehalfOf,
    to), `pulls` the token symbols the contract takes from the caller by `transferFrom`.
    """

    adapter: str
    contract: str
    signature: str
    safe_args: tuple[int, ...] = ()
    pulls: tuple[str, ...] = ()


# What the adapters call on the dev chain (the Vyper contracts' ABIs; the 1inch and Pendle calls
# are the calldata the fake APIs return for them). Curve's pool pays and mints to the caller:
# it names no receiver.
DEV_CHAIN_CALLS: tuple[AdapterCall, ...] = (
    AdapterCall(
        adapter="aave",
        contract="aave_pool",
        signature="supply(address,uint256,address,uint16)",
        safe_args=(2,),
        pulls=("USDC", "USDT", "DAI"),
    ),
    AdapterCall(
        adapter="aave",
        contract="aave_pool",
        signature="withdraw(address,uint256,address)",
        safe_args=(2,),
    ),
    AdapterCall(
        adapter="curve",
        contract="curve_pool",
        signature="add_liquidity(uint256[3],uint256)",
        pulls=("DAI", "USDC", "USDT"),
    ),
    AdapterCall(
        adapter="curve",
        contract="curve_pool",
        signature="remove_liquidity_one_coin(uint256,int128,uint256)",
    ),
    AdapterCall(
        adapter="pendle",
        contract="pendle_market",
        signature="swapExactTokenForPt(address,uint256,uint256)",
        safe_args=(0,),
        pulls=("USDC",),
    ),
    AdapterCall(
        adapter="pendle",
        contract="pendle_market",
        signature="swapExactPtForToken(address,uint256,uint256)",
        safe_args=(0,),
        pulls=("PT",),
    ),
    AdapterCall(
        adapter="pendle",
        contract="pendle_market",
        signature="redeemPyToToken(address,uint256,uint256)",
        safe_args=(0,),
        pulls=("PT",),
    ),
    AdapterCall(
        adapter="1inch",
        contract="router",
        signature="swap(address,address,uint256,uint256,address)",
        safe_args=(4,),
        pulls=("USDC", "USDT", "DAI", "WETH", "WBTC"),
    ),
)


def selector(signature: str) -> bytes:
    """The 4-byte function selector of `signature`."""
    return bytes(keccak(text=signature)[:4])


def argument_types(signature: str) -> list[str]:
    """The top-level argument types of `signature` (no tuples: none of our calls take one)."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    if "(" in inner:
        raise ValueError(f"{signature}: tuple arguments are not described")
    return [part for part in inner.split(",") if part]


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionPermission:
    """One function the agent may call on one target."""

    target: str
    label: str
    signature: str
    safe_args: tuple[int, ...]

    @property
    def selector(self) -> bytes:
        """The function's selector."""
        return selector(self.signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPermission:
    """`approve(spender, amount)` on `token`, only to these spenders."""

    token: str
    label: str
    spenders: tuple[str, ...]
    spender_labels: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionSet:
    """Everything the agent's role allows; anything else the Roles Modifier refuses."""

    functions: tuple[FunctionPermission, ...]
    approvals: tuple[ApprovalPermission, ...]

    def targets(self) -> list[str]:
        """Every target address, each once, in order."""
        seen: dict[str, None] = {}
        for function in self.functions:
            seen.setdefault(function.target, None)
        for approval in self.approvals:
            seen.setdefault(approval.token, None)
        return list(seen)

    def rows(self) -> list[dict[str, str]]:
        """One row per allowed (target, function), for people and JSON."""
        rows = [
            {
                "target": f.label,
                "address": f.target,
                "function": f.signature,
                "constraint": (
                    ", ".join(
                        f"argument {i} ({argument_types(f.signature)[i]}) = the Safe"
                        for i in f.safe_args
                    )
                    or "any arguments"
                ),
            }
            for f in self.functions
        ]
        rows += [
            {
                "target": a.label,
                "address": a.token,
                "function": APPROVE_SIGNATURE,
                "constraint": "spender one of " + ", ".join(a.spender_labels),
            }
            for a in self.approvals
        ]
        return rows


def dev_chain_contracts(book: AddressBook) -> dict[str, str]:
    """Contract name -> address for the names `AdapterCall.contract` and `pulls` use."""
    contracts = {
        "aave_pool": book.aave_pool,
        "curve_pool": book.curve_pool,
        "pendle_market": book.pendle_market,
        "router": book.router,
    }
    contracts |= {symbol: address for symbol, address in book.tokens.items()}
    contracts["PT"] = book.pendle_pt
    return contracts


def permission_set(calls: Iterable[AdapterCall], contracts: Mapping[str, str]) -> PermissionSet:
    """The permission set that allows exactly `calls` at the `contracts` addresses.

    Raises:
        KeyError: a call names a contract or token that `contracts` lacks.
    """
    functions: list[FunctionPermission] = []
    spenders: dict[str, list[str]] = {}
    for call in calls:
        target = contracts[call.contract]
        types = argument_types(call.signature)
        for position in call.safe_args:
            if types[position] != "address":
                raise ValueError(f"{call.signature}: argument {position} is not an address")
        functions.append(
            FunctionPermission(
                target=target,
                label=f"{call.adapter} {call.contract}",
                signature=call.signature,
                safe_args=call.safe_args,
            )
        )
        for symbol in call.pulls:
            names = spenders.setdefault(symbol, [])
            if call.contract not in names:
                names.append(call.contract)
    approvals = tuple(
        ApprovalPermission(
            token=contracts[symbol],
            label=symbol,
            spenders=tuple(contracts[name] for name in names),
            spender_labels=tuple(names),
        )
        for symbol, names in spenders.items()
    )
    return PermissionSet(functions=_merge(functions), approvals=approvals)


def _merge(functions: Sequence[FunctionPermission]) -> tuple[FunctionPermission, ...]:
    unique: dict[tuple[str, str], FunctionPermission] = {}
    for function in functions:
        unique.setdefault((function.target, function.signature), function)
    return tuple(unique.values())


def dev_chain_permissions(book: AddressBook) -> PermissionSet:
    """The agent's permissions on the dev chain `book` describes."""
    return permission_set(DEV_CHAIN_CALLS, dev_chain_contracts(book))
