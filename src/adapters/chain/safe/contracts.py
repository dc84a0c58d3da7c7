"""The vendored build artifacts (ABI and creation bytecode) of the Safe and Roles contracts.

They are copies of the npm packages' own build output (see `vendor.py` and
`artifacts/PROVENANCE.md`), never written by hand. Roles links two libraries, Integrity and
Packer: `linked_bytecode` fills their Solidity link placeholders with deployed addresses.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from adapters.chain.safe.vendor import VENDORED

_PLACEHOLDER = re.compile(r"__\$([0-9a-f]{34})\$__")


@dataclass(frozen=True, slots=True)
class Artifact:
    """One contract's ABI and creation bytecode, and the package it came from."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    source: str


@functools.cache
def artifact(name: str) -> Artifact:
    """The vendored artifact `name` (for example "SafeL2", "Roles").

    Raises:
        FileNotFoundError: no such artifact is vendored.
    """
    data = json.loads((VENDORED / f"{name}.json").read_text(encoding="utf-8"))
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"], source=data["source"])


@dataclass(frozen=True, slots=True)
class PresignedDeployment:
    """A keyless, presigned deployment (Nick's method): fund `deployer`, send `raw`."""

    address: str
    deployer: str
    funding_wei: int
    raw: str
    source: str


@functools.cache
def erc2470_factory() -> PresignedDeployment:
    """The ERC-2470 singleton factory's presigned deployment (from @gnosis-guild/zodiac-core)."""
    data = json.loads((VENDORED / "ERC2470Factory.json").read_text(encoding="utf-8"))
    return PresignedDeployment(
        address=data["address"],
        deployer=data["deployer"],
        funding_wei=int(data["funding_wei"]),
        raw=data["signed_deploy_transaction"],
        source=data["source"],
    )


def link_placeholder(qualified_name: str) -> str:
    """The placeholder solc leaves for library `qualified_name` ("contracts/X.sol:X")."""
    return "__$" + keccak(text=qualified_name).hex()[:34] + "$__"


def linked_bytecode(item: Artifact, libraries: Mapping[str, str]) -> str:
    """`item`'s bytecode with each library placeholder replaced by its deployed address.

    Raises:
        ValueError: a placeholder has no address in `libraries`.
    """
    code = item.bytecode
    for qualified_name, address in libraries.items():
        code = code.replace(link_placeholder(qualified_name), address.lower().removeprefix("0x"))
    left = _PLACEHOLDER.search(code)
    if left is not None:
        raise ValueError(f"{item.name}: library placeholder {left.group(0)} is not linked")
    return code
