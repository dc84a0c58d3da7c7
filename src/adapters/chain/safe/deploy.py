"""Deploy the Safe v1.4.1 contracts to any web3 chain, create a Safe, fund it, read it back.

Chain-agnostic: it works on the in-process EVM and on any JSON-RPC node (anvil). Transactions
go from `deployer`, an account the node has unlocked or one a signing middleware on the web3
signs for (see `adapters.chain.devchain.deploy.sign_as_deployer`). Every call is simulated
(`eth_call`) before it is sent, and every receipt is checked: a failure raises
`SafeDeploymentFailed` naming the step.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_tester.exceptions import TransactionFailed
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError, Web3Exception
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from adapters.chain.safe.contracts import artifact
from application.errors import PermanentError, TransientError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
SAFE_VERSION = "1.4.1"


class SafeDeploymentFailed(PermanentError):
    """A Safe deployment, creation or funding step failed."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        super().__init__(f"safe: {step} failed: {reason}")


class SafeNodeUnreachable(TransientError):
    """The chain's node did not answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"safe: node unreachable: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeContracts:
    """Where the Safe's shared contracts live on one chain."""

    singleton: str
    proxy_factory: str
    multi_send_call_only: str
    fallback_handler: str
    singleton_name: str = "SafeL2"


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeBook:
    """One chain's Safe contracts and the treasury's Safe on it, saved as JSON."""

    chain_id: int
    contracts: SafeContracts
    safe: str
    owners: tuple[str, ...]
    threshold: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["owners"] = list(self.owners)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SafeBook:
        """The book `to_json` wrote."""
        return cls(
            chain_id=int(data["chain_id"]),
            contracts=SafeContracts(**data["contracts"]),
            safe=str(data["safe"]),
            owners=tuple(data["owners"]),
            threshold=int(data["threshold"]),
        )

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> SafeBook:
        """Read a saved book.

        Raises:
            SafeDeploymentFailed: the file is missing or not a Safe book.
        """
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SafeDeploymentFailed(f"read {path}", f"not a Safe book ({exc})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeInfo:
    """A Safe as the chain reports it."""

    address: str
    version: str
    owners: tuple[str, ...]
    threshold: int
    nonce: int
    modules: tuple[str, ...]
    eth_wei: int


def safe_contract(
    w3: AsyncWeb3[Any], address: str, singleton_name: str = "SafeL2"
) -> AsyncContract:
    """A web3 contract for the Safe (proxy) at `address`."""
    return w3.eth.contract(
        address=w3.to_checksum_address(address), abi=artifact(singleton_name).abi
    )


class Transactor:
    """Sends simulated-then-checked transactions from one account."""

    def __init__(self, w3: AsyncWeb3[Any], sender: str) -> None:
        self.w3 = w3
        self.sender = w3.to_checksum_address(sender)

    async def _params(self) -> dict[str, Any]:
        """The sender; on the in-process EVM also the block's whole gas limit: its gas estimate
        runs the transaction a dozen times over (a binary search), which made setting up a
        scoped Safe take minutes. Each transaction is still simulated first, and only the gas
        it uses is charged. A JSON-RPC node estimates natively."""
        if not isinstance(self.w3.provider, AsyncEthereumTesterProvider):
            return {"from": self.sender}
        block = await self.w3.eth.get_block("latest")
        return {"from": self.sender, "gas": int(block["gasLimit"])}

    async def deploy(self, name: str, *args: Any, bytecode: str | None = None) -> str:
        """Deploy artifact `name` (or `bytecode` with its ABI); return its address."""
        item = artifact(name)
        factory = self.w3.eth.contract(abi=item.abi, bytecode=bytecode or item.bytecode)
        step = f"deploy {name}"
        try:
            params = await self._params()
            if "gas" in params:
                built = await factory.constructor(*args).build_transaction(params)
                await self.w3.eth.call(built)
            else:
                await factory.constructor(*args).estimate_gas(params)
            tx_hash = await factory.constructor(*args).transact(params)
            receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except (ContractLogicError, TransactionFailed, Web3Exception, ValueError) as exc:
            raise SafeDeploymentFailed(step, str(exc)) from exc
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise SafeDeploymentFailed(step, "transaction reverted")
        return str(receipt["contractAddress"])

    async def send(self, step: str, call: Any) -> Any:
        """Simulate `call` from the sender, send it, wait for a successful receipt."""
        try:
            params = await self._params()
            await call.call(params)
            tx_hash = await call.transact(params)
            receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except (ContractLogicError, TransactionFailed, Web3Exception, ValueError) as exc:
            raise SafeDeploymentFailed(step, str(exc)) from exc
        if receipt["status"] != 1:
            raise SafeDeploymentFailed(step, "transaction reverted")
        return receipt


async def default_sender(w3: AsyncWeb3[Any], sender: str | None) -> str:
    """`sender`, or the node's first unlocked account.

    Raises:
        SafeDeploymentFailed: no sender given and the node has no unlocked account.
    """
    if sender is not None:
        return w3.to_checksum_address(sender)
    try:
        accounts = await w3.eth.accounts
    except (OSError, Web3Exception) as exc:
        raise SafeNodeUnreachable(str(exc)) from exc
    if not accounts:
        raise SafeDeploymentFailed("find a sender", "the node has no unlocked account")
    return str(accounts[0])


async def deploy_safe_contracts(
    w3: AsyncWeb3[Any], *, deployer: str | None = None, l2: bool = True
) -> SafeContracts:
    """Deploy the singleton (SafeL2, or Safe with `l2=False`), SafeProxyFactory,
    MultiSendCallOnly and CompatibilityFallbackHandler from the vendored v1.4.1 artifacts.

    Raises:
        SafeDeploymentFailed: a deployment failed.
    """
    sender = Transactor(w3, await default_sender(w3, deployer))
    singleton_name = "SafeL2" if l2 else "Safe"
    return SafeContracts(
        singleton=await sender.deploy(singleton_name),
        proxy_factory=await sender.deploy("SafeProxyFactory"),
        multi_send_call_only=await sender.deploy("MultiSendCallOnly"),
        fallback_handler=await sender.deploy("CompatibilityFallbackHandler"),
        singleton_name=singleton_name,
    )


def _check_owners(w3: AsyncWeb3[Any], owners: Sequence[str], threshold: int) -> list[str]:
    checksummed = [str(w3.to_checksum_address(owner)) for owner in owners]
    if not checksummed:
        raise SafeDeploymentFailed("create safe", "at least one owner is required")
    if len(set(checksummed)) != len(checksummed):
        raise SafeDeploymentFailed("create safe", "an owner is listed twice")
    if not 1 <= threshold <= len(checksummed):
        raise SafeDeploymentFailed(
            "create safe", f"threshold {threshold} must be between 1 and {len(checksummed)}"
        )
    return checksummed


async def create_safe(
    w3: AsyncWeb3[Any],
    contracts: SafeContracts,
    *,
    owners: Sequence[str],
    threshold: int,
    salt_nonce: int = 0,
    deployer: str | None = None,
) -> str:
    """Create a Safe proxy with `owners` and `threshold` and the fallback handler; return it.

    The factory's `createProxyWithNonce` is simulated first; its return value is the address.

    Raises:
        SafeDeploymentFailed: the owners or threshold are invalid, or creation failed.
    """
    checked = _check_owners(w3, owners, threshold)
    sender = Transactor(w3, await default_sender(w3, deployer))
    singleton = safe_contract(w3, contracts.singleton, contracts.singleton_name)
    initializer = singleton.encode_abi(
        "setup",
        [
            checked,
            threshold,
            ZERO_ADDRESS,
            b"",
            contracts.fallback_handler,
            ZERO_ADDRESS,
            0,
            ZERO_ADDRESS,
        ],
    )
    factory = w3.eth.contract(
        address=w3.to_checksum_address(contracts.proxy_factory),
        abi=artifact("SafeProxyFactory").abi,
    )
    call = factory.functions.createProxyWithNonce(contracts.singleton, initializer, salt_nonce)
    try:
        address = await call.call({"from": sender.sender})
    except (ContractLogicError, TransactionFailed, Web3Exception, ValueError) as exc:
        raise SafeDeploymentFailed("create safe", str(exc)) from exc
    await sender.send("create safe", call)
    return str(w3.to_checksum_address(address))


async def safe_info(w3: AsyncWeb3[Any], address: str) -> SafeInfo:
    """Read the Safe at `address`: version, owners, threshold, nonce, modules, ETH.

    Raises:
        SafeDeploymentFailed: there is no Safe at `address`.
    """
    checksummed = w3.to_checksum_address(address)
    safe = safe_contract(w3, checksummed)
    sentinel = "0x0000000000000000000000000000000000000001"
    try:
        code = await w3.eth.get_code(checksummed)
    except (OSError, Web3Exception) as exc:
        raise SafeNodeUnreachable(str(exc)) from exc
    try:
        if not code:
            raise SafeDeploymentFailed(f"read safe {checksummed}", "no contract at that address")
        version = await safe.functions.VERSION().call()
        owners = await safe.functions.getOwners().call()
        threshold = await safe.functions.getThreshold().call()
        nonce = await safe.functions.nonce().call()
        modules, _next = await safe.functions.getModulesPaginated(sentinel, 50).call()
        eth = await w3.eth.get_balance(checksummed)
    except (ContractLogicError, TransactionFailed, Web3Exception) as exc:
        raise SafeDeploymentFailed(f"read safe {checksummed}", f"not a Safe ({exc})") from exc
    return SafeInfo(
        address=checksummed,
        version=str(version),
        owners=tuple(str(o) for o in owners),
        threshold=int(threshold),
        nonce=int(nonce),
        modules=tuple(str(m) for m in modules),
        eth_wei=int(eth),
    )


async def contracts_deployed(w3: AsyncWeb3[Any], contracts: SafeContracts) -> bool:
    """Whether every shared Safe contract has code on this chain."""
    try:
        for address in (
            contracts.singleton,
            contracts.proxy_factory,
            contracts.multi_send_call_only,
            contracts.fallback_handler,
        ):
            if not await w3.eth.get_code(w3.to_checksum_address(address)):
                return False
    except (OSError, Web3Exception) as exc:
        raise SafeNodeUnreachable(str(exc)) from exc
    return True
