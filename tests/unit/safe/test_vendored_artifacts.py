"""The vendored Safe and Roles artifacts are the npm packages' own, and link correctly."""

from __future__ import annotations

import json
import shutil

import pytest

from adapters.chain.safe.contracts import (
    artifact,
    erc2470_factory,
    link_placeholder,
    linked_bytecode,
)
from adapters.chain.safe.vendor import (
    FACTORY_ARTIFACT,
    REPO_ROOT,
    ROLES_ARTIFACTS,
    SAFE_ARTIFACTS,
    VENDORED,
    extract_all,
)
from tests.servers import require_server


def test_vendored_artifacts_equal_the_installed_packages() -> None:
    require_server(
        "node_modules",
        (REPO_ROOT / "node_modules" / "zodiac-roles-sdk").is_dir()
        and shutil.which("node") is not None,
        "run `make node` (package.json pins @safe-global/safe-contracts and zodiac-roles-sdk)",
    )
    extracted = extract_all()
    assert set(extracted) == {*SAFE_ARTIFACTS, *ROLES_ARTIFACTS, FACTORY_ARTIFACT}
    for name, data in extracted.items():
        vendored = json.loads((VENDORED / f"{name}.json").read_text(encoding="utf-8"))
        assert vendored == data, name
    factory = erc2470_factory()
    assert factory.address.lower() == "0xce0042b868300000d44a59004da54a005ffdcf9f"
    assert factory.source.startswith("npm @gnosis-guild/zodiac-core@4.1.0 ")


def test_safe_artifacts_come_from_safe_contracts_1_4_1() -> None:
    for name in SAFE_ARTIFACTS:
        assert artifact(name).source.startswith("npm @safe-global/safe-contracts@1.4.1 ")
        assert artifact(name).bytecode.startswith("0x60")


def test_roles_links_integrity_and_packer_and_refuses_a_missing_library() -> None:
    roles = artifact("Roles")
    integrity = link_placeholder("contracts/Integrity.sol:Integrity")
    packer = link_placeholder("contracts/packers/Packer.sol:Packer")
    assert integrity in roles.bytecode
    assert packer in roles.bytecode
    with pytest.raises(ValueError, match="not linked"):
        linked_bytecode(roles, {"contracts/Integrity.sol:Integrity": "0x" + "ab" * 20})
    linked = linked_bytecode(
        roles,
        {
            "contracts/Integrity.sol:Integrity": "0x" + "ab" * 20,
            "contracts/packers/Packer.sol:Packer": "0x" + "cd" * 20,
        },
    )
    assert "ab" * 20 in linked
    assert "cd" * 20 in linked
    assert "__$" not in linked
