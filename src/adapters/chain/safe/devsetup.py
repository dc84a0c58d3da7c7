"""A scoped Safe on a dev chain in one call: what paper mode, the tests and the bench need.

Deploys the Safe contracts, creates a Safe with the owners' addresses and threshold, funds it
from the dev chain, deploys the Roles Modifier, scopes the agent with the permission set the
adapters' calls describe, and hands the modifier to the Safe (enabled by the owners' keys).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import fund_account
from adapters.chain.keystore import PAPER_SCRYPT_WORK
from adapters.chain.safe.deploy import (
    SafeContracts,
    SafeDeploymentFailed,
    create_safe,
    deploy_safe_contracts,
)
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

    def to_json(self) -> dict[str, Any]:
        """The addresses a restart needs (the permission set is derived from the dev chain)."""
        roles = asdict(self.roles)
        roles["role_key"] = "0x" + self.roles.role_key.hex()
        return {
            "safe": self.safe,
            "agent": self.agent,
            "contracts": asdict(self.contracts),
            "roles": roles,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], permissions: PermissionSet) -> ScopedSafe:
        """The Safe `to_json` described, with the dev chain's permission set.

        Raises:
            SafeDeploymentFailed: the data is not a scoped Safe's.
        """
        try:
            roles = dict(data["roles"])
            roles["role_key"] = bytes.fromhex(str(roles["role_key"]).removeprefix("0x"))
            return cls(
                safe=str(data["safe"]),
                agent=str(data["agent"]),
                contracts=SafeContracts(**data["contracts"]),
                roles=RolesDeployment(**roles),
                permissions=permissions,
            )
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"not a scoped Safe ({exc})"
            raise SafeDeploymentFailed("read the scoped Safe", reason) from None

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)


OWNERS_FILE = "paper_safe_owners.json"
OWNERS_PASSPHRASE_FILE = "paper_safe_owners.pass"  # noqa: S105 (a file name)


def paper_owner_keys(directory: Path, count: int = 3) -> list[str]:
    """The paper Safe's owners' keys: generated on first use and kept encrypted in
    `directory` (the keys file and its generated passphrase, both readable by the owner only).
    Dev chain only: on a live chain the owners hold their own keys.

    Raises:
        SafeDeploymentFailed: the files exist but cannot be read or decrypted.
    """
    keys_path = directory / OWNERS_FILE
    pass_path = directory / OWNERS_PASSPHRASE_FILE
    if not keys_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        passphrase = secrets.token_urlsafe(24)
        keys = [Account.create(secrets.token_hex(32)) for _ in range(count)]
        encrypted = [
            Account.encrypt(k.key, passphrase, kdf="scrypt", iterations=PAPER_SCRYPT_WORK)
            for k in keys
        ]
        for path, text in ((pass_path, passphrase), (keys_path, json.dumps(encrypted))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
    try:
        passphrase = pass_path.read_text(encoding="utf-8").strip()
        encrypted = json.loads(keys_path.read_text(encoding="utf-8"))
        return ["0x" + bytes(Account.decrypt(item, passphrase)).hex() for item in encrypted]
    except (OSError, ValueError, TypeError) as exc:
        # The library's message never holds the key; the type is enough to act on.
        raise SafeDeploymentFailed(
            f"read {keys_path}", f"not the paper owners' keys ({type(exc).__name__})"
        ) from None


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
