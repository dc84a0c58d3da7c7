"""A scoped Safe on a dev chain in one call: what paper mode, the tests and the bench need.

Deploys the Safe contracts, creates a Safe with the owners' addresses and threshold, funds it
from the dev chain, deploys the Roles Modifier, scopes the agent with the permission set the
adapters' calls describe, and hands the modifier to the Safe (enabled by the owners' keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import fund_account
from adapters.chain.safe.deploy import SafeContracts, create_safe, deploy_safe_contracts
from adapters.chain.safe.permissions import PermissionSet, dev_chain_permissions
from adapters.chain.safe.roles import RolesDeployment, deploy_roles, hand_to_safe, install_scope


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopedSafe:
    """A funded Safe whose Roles Modifier lets the agent make only the adapters' calls."""

    safe: str
    contracts: SafeContracts
    roles: RolesDeployment
    permissions: PermissionSet
    agent: str


async def deploy_scoped_safe(
    w3: AsyncWeb3[Any],
    book: AddressBook,
    *,
    owner_keys: Sequence[str],
    threshold: int,
    agent: str,
    funding: Mapping[str, Decimal],
    agent_eth: Decimal = Decimal("1"),
    salt_nonce: int = 0,
) -> ScopedSafe:
    """Set up a scoped Safe on the dev chain `book` describes (deployer: the book's).

    Raises:
        SafeDeploymentFailed: a step failed.
        DevChainDeploymentFailed: funding failed.
    """
    deployer = book.deployer
    owners = [str(Account.from_key(key).address) for key in owner_keys]
    contracts = await deploy_safe_contracts(w3, deployer=deployer)
    safe = await create_safe(
        w3, contracts, owners=owners, threshold=threshold, salt_nonce=salt_nonce, deployer=deployer
    )
    await fund_account(w3, book, safe, funding)
    if agent_eth > 0:
        await fund_account(w3, book, agent, {"ETH": agent_eth})
    roles = await deploy_roles(w3, safe=safe, deployer=deployer)
    permissions = dev_chain_permissions(book)
    await install_scope(
        w3, roles, permissions, agent=agent, safe_contracts=contracts, deployer=deployer
    )
    await hand_to_safe(
        w3, roles, safe=safe, owner_keys=list(owner_keys)[:threshold], deployer=deployer
    )
    return ScopedSafe(
        safe=safe, contracts=contracts, roles=roles, permissions=permissions, agent=agent
    )
