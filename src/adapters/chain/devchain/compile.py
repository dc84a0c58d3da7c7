"""Compile the dev-chain Vyper contracts in-process, with an in-process and optional disk cache.

Compilation takes about 0.2 s a contract, so results are cached per source hash: in memory for
the life of the process, and on disk when a cache directory is given (e.g. under the data dir).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import vyper

from application.errors import PermanentError

logger = logging.getLogger(__name__)

CONTRACTS_DIR = Path(__file__).parent / "contracts"
CONTRACT_NAMES = (
    "ERC20",
    "PriceOracle",
    "AToken",
    "AavePool",
    "CurvePool",
    "PendleMarket",
    "SwapRouter",
)


class ContractCompilationFailed(PermanentError):
    """A dev-chain contract did not compile."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(f"vyper: {name}.vy did not compile: {reason}")


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """A contract's ABI and creation bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    source_hash: str


def source_path(name: str) -> Path:
    """The path of a contract's Vyper source."""
    return CONTRACTS_DIR / f"{name}.vy"


def _source_hash(source: str) -> str:
    return hashlib.sha256(f"{vyper.__version__}\n{source}".encode()).hexdigest()


@lru_cache(maxsize=32)
def _compile_source(name: str, source: str, source_hash: str) -> CompiledContract:
    try:
        out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    except Exception as exc:  # vyper raises many exception types; report them all as one
        raise ContractCompilationFailed(name, str(exc)) from exc
    return CompiledContract(
        name=name, abi=out["abi"], bytecode=out["bytecode"], source_hash=source_hash
    )


def compile_contract(name: str, cache_dir: Path | None = None) -> CompiledContract:
    """Compile one contract from `contracts/<name>.vy`, using the caches.

    Raises:
        ContractCompilationFailed: the source does not compile.
    """
    source = source_path(name).read_text(encoding="utf-8")
    digest = _source_hash(source)
    cached_file = cache_dir / f"{name}-{digest[:24]}.json" if cache_dir is not None else None
    if cached_file is not None and cached_file.is_file():
        data = json.loads(cached_file.read_text(encoding="utf-8"))
        return CompiledContract(
            name=name, abi=data["abi"], bytecode=data["bytecode"], source_hash=digest
        )
    compiled = _compile_source(name, source, digest)
    if cached_file is not None:
        cached_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"abi": compiled.abi, "bytecode": compiled.bytecode}), encoding="utf-8"
        )
        tmp.replace(cached_file)
        logger.debug("cached compiled contract", extra={"contract": name})
    return compiled


def compile_all(cache_dir: Path | None = None) -> dict[str, CompiledContract]:
    """Compile every dev-chain contract.

    Raises:
        ContractCompilationFailed: a source does not compile.
    """
    return {name: compile_contract(name, cache_dir) for name in CONTRACT_NAMES}
