"""Copy the Safe and Zodiac Roles build artifacts this package deploys out of node_modules.

The contracts are never written by hand: the ABI and creation bytecode of each come from the npm
packages pinned in package.json (`@safe-global/safe-contracts` 1.4.1 ships Hardhat artifacts;
`zodiac-roles-sdk` ships the Roles Modifier v2 TypeChain factories with their bytecode, read
through node). `python -m adapters.chain.safe.vendor` refreshes `artifacts/`; a test checks that
the vendored copies still equal the packages' (`extract_all` compared with `load_vendored`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

VENDORED = Path(__file__).resolve().parent / "artifacts"
REPO_ROOT = Path(__file__).resolve().parents[4]

SAFE_PACKAGE = "@safe-global/safe-contracts"
ROLES_PACKAGE = "zodiac-roles-sdk"
# Artifact name -> path inside @safe-global/safe-contracts.
SAFE_ARTIFACTS = {
    "SafeL2": "build/artifacts/contracts/SafeL2.sol/SafeL2.json",
    "Safe": "build/artifacts/contracts/Safe.sol/Safe.json",
    "SafeProxyFactory": (
        "build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json"
    ),
    "MultiSendCallOnly": (
        "build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json"
    ),
    "CompatibilityFallbackHandler": (
        "build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/"
        "CompatibilityFallbackHandler.json"
    ),
}
# TypeChain factory names in zodiac-roles-sdk/typechain.
ROLES_ARTIFACTS = ("Roles", "Integrity", "Packer", "MultiSendUnwrapper")
# The ERC-2470 singleton factory's presigned deployment, from @gnosis-guild/zodiac-core: Roles
# stores each scope through that factory (its WriteOnce library), so a chain needs it first.
ZODIAC_CORE_PACKAGE = "@gnosis-guild/zodiac-core"
FACTORY_ARTIFACT = "ERC2470Factory"

_NODE_SCRIPT = """
const t = require("zodiac-roles-sdk/typechain");
const names = JSON.parse(process.argv[1]);
const out = {};
for (const name of names) {
  const f = t[name + "__factory"];
  out[name] = {abi: f.abi, bytecode: f.bytecode};
}
const core = "node_modules/@gnosis-guild/zodiac-core/dist/cjs/";
const f = require(require("path").resolve(core + "factory/erc2470Factory.js"));
out.ERC2470Factory = {
  address: f.address, deployer: f.deployer, funding: f.funding.toString(),
  signedDeployTransaction: f.signedDeployTransaction,
};
process.stdout.write(JSON.stringify(out));
"""


def _package_version(node_modules: Path, package: str) -> str:
    manifest = json.loads((node_modules / package / "package.json").read_text(encoding="utf-8"))
    return str(manifest["version"])


def extract_all(node_modules: Path = REPO_ROOT / "node_modules") -> dict[str, dict[str, Any]]:
    """Every artifact (name -> {contractName, abi, bytecode, source}) read from node_modules.

    Raises:
        FileNotFoundError: a package is not installed (run `make node`).
        RuntimeError: node could not read the Roles factories.
    """
    artifacts: dict[str, dict[str, Any]] = {}
    safe_version = _package_version(node_modules, SAFE_PACKAGE)
    for name, relative in SAFE_ARTIFACTS.items():
        data = json.loads((node_modules / SAFE_PACKAGE / relative).read_text(encoding="utf-8"))
        artifacts[name] = {
            "contractName": name,
            "abi": data["abi"],
            "bytecode": data["bytecode"],
            "source": f"npm {SAFE_PACKAGE}@{safe_version} {relative}",
        }
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; it reads the Roles factories")
    roles_version = _package_version(node_modules, ROLES_PACKAGE)
    result = subprocess.run(  # noqa: S603 (node and a fixed script; no user input)
        [node, "-e", _NODE_SCRIPT, json.dumps(list(ROLES_ARTIFACTS))],
        cwd=node_modules.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"node could not read {ROLES_PACKAGE}: {result.stderr.strip()}")
    extracted = json.loads(result.stdout)
    factory = extracted.pop(FACTORY_ARTIFACT)
    core_version = _package_version(node_modules, ZODIAC_CORE_PACKAGE)
    artifacts[FACTORY_ARTIFACT] = {
        "contractName": FACTORY_ARTIFACT,
        "abi": [
            {
                "type": "function",
                "name": "deploy",
                "inputs": [
                    {"name": "_initCode", "type": "bytes"},
                    {"name": "_salt", "type": "bytes32"},
                ],
                "outputs": [{"name": "createdContract", "type": "address"}],
                "stateMutability": "nonpayable",
            }
        ],
        "bytecode": "",
        "address": factory["address"],
        "deployer": factory["deployer"],
        "funding_wei": factory["funding"],
        "signed_deploy_transaction": factory["signedDeployTransaction"],
        "source": f"npm {ZODIAC_CORE_PACKAGE}@{core_version} dist/cjs/factory/erc2470Factory.js",
    }
    for name, data in extracted.items():
        artifacts[name] = {
            "contractName": name,
            "abi": data["abi"],
            "bytecode": data["bytecode"],
            "source": f"npm {ROLES_PACKAGE}@{roles_version} typechain {name}__factory",
        }
    return artifacts


def write_vendored(artifacts: dict[str, dict[str, Any]], folder: Path = VENDORED) -> None:
    """Write each artifact as `<name>.json` under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, artifact in artifacts.items():
        (folder / f"{name}.json").write_text(
            json.dumps(artifact, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )


def main() -> int:
    """Refresh the vendored artifacts from node_modules."""
    artifacts = extract_all()
    write_vendored(artifacts)
    sys.stdout.write(f"wrote {len(artifacts)} artifacts to {VENDORED}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
