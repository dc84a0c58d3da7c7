"""The live portfolio state file (the spec's "State files: Live portfolio state (JSON)").

Written atomically: a temporary file in the same directory is written, flushed to disk and
renamed over the old one (`os.replace`), so a reader never sees half a file. Numbers are
written as exact JSON number literals from Decimals (never through float); read them back with
`json.loads(text, parse_float=Decimal)` or `read_state_file`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.allocation import Bucket
from domain.portfolio import AllocationLine, PortfolioState, Position


def state_document(state: PortfolioState) -> dict[str, Any]:
    """The state as a JSON-ready dict with the spec's PortfolioState and Position field names."""
    return {
        "total_value_usd": state.total_value_usd,
        "positions": [
            {
                "protocol": p.protocol,
                "asset": p.asset,
                "amount": p.amount,
                "value_usd": p.value_usd,
                "apy": p.apy,
                "entered_at": p.entered_at,
                "current_return": p.current_return,
                "chain": p.chain,
                "cost_basis_usd": p.cost_basis_usd,
            }
            for p in state.positions
        ],
        "cash_balance": state.cash_balance,
        "allocations": {
            b.value: {"current": line.current, "target": line.target}
            for b, line in state.allocations.items()
        },
        "last_rebalance": state.last_rebalance,
        "performance_24h": state.performance_24h,
        "performance_7d": state.performance_7d,
        "performance_30d": state.performance_30d,
        "as_of": state.as_of,
        "cash_asset": state.cash_asset,
    }


def _encode(value: Any, indent: str = "") -> str:
    inner = indent + "  "
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} to the state file")
        return format(value, "f")
    if isinstance(value, datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, float):
        raise TypeError("the state file never holds floats")
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_encode(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _encode(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def render_state(state: PortfolioState) -> str:
    """The state file's text."""
    return _encode(state_document(state)) + "\n"


def write_state_file(state: PortfolioState, path: Path) -> Path:
    """Write the state file atomically (temp file, fsync, rename); creates the directory.

    Raises:
        OSError: the directory cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_state(state)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    # Make the rename itself durable (POSIX); not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def read_state_file(path: Path) -> PortfolioState:
    """Read a state file back into a PortfolioState (numbers as Decimal).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not a valid state document.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
    positions = tuple(
        Position(
            protocol=p["protocol"],
            asset=p["asset"],
            amount=Decimal(str(p["amount"])),
            value_usd=Decimal(str(p["value_usd"])),
            apy=Decimal(str(p["apy"])),
            entered_at=datetime.fromisoformat(p["entered_at"]),
            current_return=Decimal(str(p["current_return"])),
            chain=p.get("chain", "ethereum"),
            cost_basis_usd=_dec(p.get("cost_basis_usd")),
        )
        for p in data["positions"]
    )
    return PortfolioState(
        total_value_usd=Decimal(str(data["total_value_usd"])),
        positions=positions,
        cash_balance=Decimal(str(data["cash_balance"])),
        allocations={
            Bucket(name): AllocationLine(
                current=Decimal(str(line["current"])), target=_dec(line["target"])
            )
            for name, line in data["allocations"].items()
        },
        last_rebalance=(
            datetime.fromisoformat(data["last_rebalance"]) if data["last_rebalance"] else None
        ),
        performance_24h=_dec(data["performance_24h"]),
        performance_7d=_dec(data["performance_7d"]),
        performance_30d=_dec(data["performance_30d"]),
        as_of=datetime.fromisoformat(data["as_of"]) if data.get("as_of") else None,
        cash_asset=data.get("cash_asset", "USDC"),
    )


class AtomicStateFile:
    """The StateFileWriter port: writes the state file atomically, off the event loop."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        """Where the state file lives."""
        return self._path

    async def write(self, state: PortfolioState) -> None:
        """Replace the state file with `state` (temporary file, fsync, rename)."""
        await asyncio.to_thread(write_state_file, state, self._path)
