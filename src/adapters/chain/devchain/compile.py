"""Compile the dev-chain Vyper contracts in-process, with an in-process and optional disk cache.

Compilation takes about 0.2 s a contract, so results are cached per source hash (and compiler
version): in memory for the life of the process, and on disk when a cache directory is given
(e.g. under the data dir). The compiler itself (about 20 MiB and 300 modules) is imported only
to compile: a process whose contracts are all in the disk cache never loads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import localcontext
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from application.errors import PermanentError

logger = logging.getLogger(__name__)

VYPER_DECIMAL_PRECISION = 78
"""The decimal precision the Vyper compiler sets for itself when imported."""
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


@cache
def _compiler_version() -> str:
    """The installed Vyper's version, from its package metadata (no import of the compiler)."""
    return version("vyper")


def _source_hash(source: str) -> str:
    return hashlib.sha256(f"{_compiler_version()}\n{source}".encode()).hexdigest()


_COMPILED: dict[str, CompiledContract] = {}
"""Every contract this process compiled or read from a disk cache, by source hash."""


def _compile_source(name: str, source: str, source_hash: str) -> CompiledContract:
    # Importing vyper sets 78 significant digits as the decimal context; it compiles in that
    # context, and the caller's context is restored after, so a first start (which compiles)
    # computes with the same precision as a restart (which reads the cache).
    with localcontext() as context:
        context.prec = VYPER_DECIMAL_PRECISION
        import vyper

        try:
            out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
        except Exception as exc:  # vyper raises many exception types; report them all as one
            raise ContractCompilationFailed(name, str(exc)) from exc
    return CompiledContract(
        name=name, abi=out["abi"], bytecode=out["bytecode"], source_hash=source_hash
    )


def compile_contract(
    name: str, cache_dir: Path | None = None, *, in_process: bool = False
) -> CompiledContract:
    """Compile one contract from `contracts/<name>.vy`, using the caches.

    With a cache directory, a contract missing from it is compiled (with all the others) in a
    child process, unless `in_process`; without one, in this process.

    Raises:
        ContractCompilationFailed: the source does not compile.
    """
    source = source_path(name).read_text(encoding="utf-8")
    digest = _source_hash(source)
    known = _COMPILED.get(digest)
    if known is not None and known.name != name:
        known = None
    if cache_dir is None:
        if known is None:
            known = _COMPILED[digest] = _compile_source(name, source, digest)
        return known
    cached_file = cache_dir / f"{name}-{digest[:24]}.json"
    if cached_file.is_file():
        if known is None:
            data = json.loads(cached_file.read_text(encoding="utf-8"))
            known = _COMPILED[digest] = CompiledContract(
                name=name, abi=data["abi"], bytecode=data["bytecode"], source_hash=digest
            )
        return known
    if known is None and not in_process:
        # The compiler runs in a child process that fills the cache: the service never loads
        # it (about 20 MiB it would keep for its whole life, and its 78-digit decimal context).
        _compile_in_child(cache_dir)
        if cached_file.is_file():
            return compile_contract(name, cache_dir)
    if known is None:
        known = _COMPILED[digest] = _compile_source(name, source, digest)
    _write_cache(cached_file, known)
    return known


def _write_cache(cached_file: Path, compiled: CompiledContract) -> None:
    cached_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached_file.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"abi": compiled.abi, "bytecode": compiled.bytecode}), encoding="utf-8"
    )
    tmp.replace(cached_file)
    logger.debug("cached compiled contract", extra={"contract": compiled.name})


def _compile_in_child(cache_dir: Path | None) -> None:
    """Compile every contract into `cache_dir` in a child Python process.

    Raises:
        ContractCompilationFailed: the child failed (its last line of error output is named).
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(  # noqa: S603 - this interpreter, this module, a path we chose
        [sys.executable, "-m", __name__, str(cache_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no error output"]
        raise ContractCompilationFailed("contracts", lines[-1])


def compile_all(
    cache_dir: Path | None = None, *, in_process: bool = False
) -> dict[str, CompiledContract]:
    """Compile every dev-chain contract.

    Raises:
        ContractCompilationFailed: a source does not compile.
    """
    return {
        name: compile_contract(name, cache_dir, in_process=in_process) for name in CONTRACT_NAMES
    }


if __name__ == "__main__":
    compile_all(Path(sys.argv[1]), in_process=True)
