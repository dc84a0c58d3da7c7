"""The agent's scope on the Safe: a Zodiac Roles Modifier v2 with one role for the agent.

The Roles Modifier is a Safe module: the Safe's owners enable it, and it executes for the Safe
only the calls a role allows. The agent's key holds one role and is no owner. The role is built
from a `PermissionSet`: each protocol contract is scoped to the functions the adapters call,
with every receiver argument bound to the Safe (`EqualToAvatar`), and each token's `approve` to
the contracts that pull it (`EqualTo` one of them). The MultiSendUnwrapper lets a whole
MultiSendCallOnly batch through, each inner call checked against the same role.

The Roles contract is deployed with the setup account as its owner, scoped, then handed to the
Safe (`transferOwnership`): from then on only the owners, through a Safe transaction, can change
or revoke the role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth.vm.forks.spurious_dragon import computation as spurious_dragon_computation
from eth_abi.abi import encode
from eth_tester.exceptions import TransactionFailed
from eth_utils.crypto import keccak
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError, Web3Exception
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.types import Wei

from adapters.chain.safe.contracts import artifact, erc2470_factory, linked_bytecode
from adapters.chain.safe.deploy import (
    SafeContracts,
    SafeDeploymentFailed,
    Transactor,
    safe_contract,
)
from adapters.chain.safe.permissions import (
    APPROVE_SIGNATURE,
    PermissionSet,
    argument_types,
    selector,
)
from adapters.chain.safe.transactions import Operation, execute_with_owner_keys, next_safe_tx

AGENT_ROLE = bytes(keccak(text="treasury-manager agent"))
# The Roles bytecode zodiac-roles-sdk ships is 25,286 bytes, over EIP-170's 24,576 (the audited
# mainnet mastercopy fits: it was compiled with other settings). A dev chain that deploys it
# allows contracts up to this size, as the Roles repository's own Hardhat tests do.
ROLES_CODE_SIZE_LIMIT = 32_768
MULTISEND_SELECTOR = selector("multiSend(bytes)")


class ParameterType(IntEnum):
    """Roles v2 `ParameterType`."""

    NONE = 0
    STATIC = 1
    DYNAMIC = 2
    TUPLE = 3
    ARRAY = 4
    CALLDATA = 5
    ABI_ENCODED = 6


class Operator(IntEnum):
    """The Roles v2 operators this scope uses."""

    PASS = 0
    AND = 1
    OR = 2
    MATCHES = 5
    EQUAL_TO_AVATAR = 15
    EQUAL_TO = 16


class ExecutionOptions(IntEnum):
    """Roles v2 `ExecutionOptions`: may the call send ETH, may it delegate-call."""

    NONE = 0
    SEND = 1
    DELEGATE_CALL = 2
    BOTH = 3


class Status(IntEnum):
    """Roles v2 `Status`, the first field of `ConditionViolation`."""

    OK = 0
    DELEGATE_CALL_NOT_ALLOWED = 1
    TARGET_ADDRESS_NOT_ALLOWED = 2
    FUNCTION_NOT_ALLOWED = 3
    SEND_NOT_ALLOWED = 4
    OR_VIOLATION = 5
    NOR_VIOLATION = 6
    PARAMETER_NOT_ALLOWED = 7


Condition = tuple[int, int, int, bytes]  # (parent, paramType, operator, compValue)


def _static(type_name: str) -> bool:
    return not (type_name in ("bytes", "string") or type_name.endswith("[]"))


def _param_type(type_name: str) -> ParameterType:
    if not _static(type_name):
        return ParameterType.DYNAMIC
    if type_name.endswith("]"):
        return ParameterType.TUPLE  # a fixed-size array of static values is encoded in place
    return ParameterType.STATIC


def function_conditions(signature: str, safe_args: Sequence[int]) -> list[Condition]:
    """Calldata matching `signature` whose arguments at `safe_args` equal the Safe (BFS flat).

    Raises:
        ValueError: a Safe-bound argument is not a plain static value.
    """
    types = argument_types(signature)
    conditions: list[Condition] = [(0, ParameterType.CALLDATA, Operator.MATCHES, b"")]
    for position, type_name in enumerate(types):
        if position in safe_args:
            if type_name != "address":
                raise ValueError(f"{signature}: argument {position} is not an address")
            conditions.append((0, ParameterType.STATIC, Operator.EQUAL_TO_AVATAR, b""))
        elif _param_type(type_name) is ParameterType.TUPLE:
            raise ValueError(f"{signature}: scope the fixed array {type_name} with allowFunction")
        else:
            conditions.append((0, _param_type(type_name), Operator.PASS, b""))
    return conditions


def approve_conditions(spenders: Sequence[str]) -> list[Condition]:
    """`approve(spender, amount)` calldata with the spender one of `spenders`, any amount."""
    if not spenders:
        raise ValueError("an approval permission needs at least one spender")
    equal = [
        (1, ParameterType.STATIC, Operator.EQUAL_TO, encode(["address"], [spender]))
        for spender in spenders
    ]
    if len(spenders) == 1:
        return [
            (0, ParameterType.CALLDATA, Operator.MATCHES, b""),
            (0, ParameterType.STATIC, Operator.EQUAL_TO, equal[0][3]),
            (0, ParameterType.STATIC, Operator.PASS, b""),
        ]
    return [
        (0, ParameterType.CALLDATA, Operator.MATCHES, b""),
        (0, ParameterType.NONE, Operator.OR, b""),
        (0, ParameterType.STATIC, Operator.PASS, b""),
        *equal,
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolesDeployment:
    """A Roles Modifier for one Safe, its libraries and the MultiSend unwrapper."""

    roles: str
    integrity: str
    packer: str
    multisend_unwrapper: str
    role_key: bytes = AGENT_ROLE


async def ensure_singleton_factory(w3: AsyncWeb3[Any], *, funder: str) -> str:
    """Deploy the ERC-2470 singleton factory from its presigned transaction unless the chain
    has it (mainnet and most chains do); return its address.

    Raises:
        SafeDeploymentFailed: funding the keyless deployer or the deployment failed.
    """
    factory = erc2470_factory()
    address = w3.to_checksum_address(factory.address)
    if await w3.eth.get_code(address):
        return address
    deployer = w3.to_checksum_address(factory.deployer)
    missing = factory.funding_wei - await w3.eth.get_balance(deployer)
    step = "deploy the ERC-2470 singleton factory"
    try:
        if missing > 0:
            funded = await w3.eth.send_transaction(
                {"from": w3.to_checksum_address(funder), "to": deployer, "value": Wei(missing)}
            )
            await w3.eth.wait_for_transaction_receipt(funded, timeout=60)
        tx_hash = await w3.eth.send_raw_transaction(bytes.fromhex(factory.raw.removeprefix("0x")))
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    except (ContractLogicError, TransactionFailed, Web3Exception, ValueError) as exc:
        raise SafeDeploymentFailed(step, str(exc)) from exc
    if receipt["status"] != 1 or not await w3.eth.get_code(address):
        raise SafeDeploymentFailed(step, "no code at the factory's address afterwards")
    return address


_LIMIT = "EIP170_CODE_SIZE_LIMIT"


@contextlib.contextmanager
def _code_size_limit_lifted(w3: AsyncWeb3[Any]) -> Iterator[None]:
    """On the in-process EVM, allow code up to ROLES_CODE_SIZE_LIMIT for the block's duration.

    A JSON-RPC node sets its own limit (anvil: `--code-size-limit 32768`); there this does
    nothing, and a node that refuses the size fails the deployment with its own message.
    """
    if not isinstance(w3.provider, AsyncEthereumTesterProvider):
        yield
        return
    # py-evm reads the limit from this module's global at each contract creation.
    saved = getattr(spurious_dragon_computation, _LIMIT)
    setattr(spurious_dragon_computation, _LIMIT, ROLES_CODE_SIZE_LIMIT)
    try:
        yield
    finally:
        setattr(spurious_dragon_computation, _LIMIT, saved)


def roles_contract(w3: AsyncWeb3[Any], address: str) -> AsyncContract:
    """A web3 contract for the Roles Modifier at `address`."""
    return w3.eth.contract(address=w3.to_checksum_address(address), abi=artifact("Roles").abi)


async def deploy_roles(w3: AsyncWeb3[Any], *, safe: str, deployer: str) -> RolesDeployment:
    """Deploy Integrity, Packer, a Roles Modifier (owner `deployer`, avatar and target the
    Safe) and the MultiSendUnwrapper.

    Raises:
        SafeDeploymentFailed: a deployment failed.
    """
    sender = Transactor(w3, deployer)
    await ensure_singleton_factory(w3, funder=sender.sender)
    integrity = await sender.deploy("Integrity")
    packer = await sender.deploy("Packer")
    code = linked_bytecode(
        artifact("Roles"),
        {
            "contracts/Integrity.sol:Integrity": integrity,
            "contracts/packers/Packer.sol:Packer": packer,
        },
    )
    safe_cs = w3.to_checksum_address(safe)
    with _code_size_limit_lifted(w3):
        roles = await sender.deploy("Roles", sender.sender, safe_cs, safe_cs, bytecode=code)
    unwrapper = await sender.deploy("MultiSendUnwrapper")
    return RolesDeployment(
        roles=roles, integrity=integrity, packer=packer, multisend_unwrapper=unwrapper
    )


async def install_scope(
    w3: AsyncWeb3[Any],
    deployment: RolesDeployment,
    permissions: PermissionSet,
    *,
    agent: str,
    safe_contracts: SafeContracts,
    deployer: str,
) -> None:
    """Give `agent` the role and scope it to `permissions`; let MultiSendCallOnly batches
    through the unwrapper. The caller must still own the Roles Modifier.

    Raises:
        SafeDeploymentFailed: a configuration transaction failed.
    """
    sender = Transactor(w3, deployer)
    roles = roles_contract(w3, deployment.roles)
    key = deployment.role_key
    await sender.send(
        "assign the agent's role",
        roles.functions.assignRoles(w3.to_checksum_address(agent), [key], [True]),
    )
    for target in permissions.targets():
        await sender.send(f"scope {target}", roles.functions.scopeTarget(key, target))
    for function in permissions.functions:
        step = f"allow {function.signature} on {function.label}"
        if function.safe_args:
            conditions = function_conditions(function.signature, function.safe_args)
            call = roles.functions.scopeFunction(
                key, function.target, function.selector, conditions, ExecutionOptions.NONE
            )
        else:
            call = roles.functions.allowFunction(
                key, function.target, function.selector, ExecutionOptions.NONE
            )
        await sender.send(step, call)
    for approval in permissions.approvals:
        await sender.send(
            f"allow approve on {approval.label}",
            roles.functions.scopeFunction(
                key,
                approval.token,
                selector(APPROVE_SIGNATURE),
                approve_conditions(approval.spenders),
                ExecutionOptions.NONE,
            ),
        )
    await sender.send(
        "let MultiSendCallOnly batches through",
        roles.functions.setTransactionUnwrapper(
            safe_contracts.multi_send_call_only,
            MULTISEND_SELECTOR,
            deployment.multisend_unwrapper,
        ),
    )


async def hand_to_safe(
    w3: AsyncWeb3[Any],
    deployment: RolesDeployment,
    *,
    safe: str,
    owner_keys: Sequence[str],
    deployer: str,
) -> None:
    """Make the Safe the Roles Modifier's owner and enable it as a module (owners sign).

    Raises:
        SafeDeploymentFailed: a transaction failed.
    """
    sender = Transactor(w3, deployer)
    roles = roles_contract(w3, deployment.roles)
    safe_cs = w3.to_checksum_address(safe)
    await sender.send(
        "hand the Roles Modifier to the Safe", roles.functions.transferOwnership(safe_cs)
    )
    data = safe_contract(w3, safe_cs).encode_abi("enableModule", [deployment.roles])
    tx = await next_safe_tx(w3, safe_cs, to=safe_cs, data=bytes.fromhex(data[2:]))
    await execute_with_owner_keys(
        w3, safe_cs, tx, list(owner_keys), sender=deployer, step="enable the Roles Modifier"
    )


def exec_with_role(
    w3: AsyncWeb3[Any],
    deployment: RolesDeployment,
    *,
    to: str,
    data: bytes,
    operation: Operation = Operation.CALL,
    value: int = 0,
) -> Any:
    """The agent's `execTransactionWithRole` call (reverting on any refusal), unsent."""
    return roles_contract(w3, deployment.roles).functions.execTransactionWithRole(
        w3.to_checksum_address(to), value, data, int(operation), deployment.role_key, True
    )
