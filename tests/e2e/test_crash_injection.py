"""Crash injection at every boundary of a plan's execution, on the real service over anvil.

For each boundary the paper service runs with `TREASURY_FAULT_AT=<boundary>`: a pending
decision is approved, the plan starts, and the process SIGKILLs itself when execution reaches
the boundary. anvil (a separate process) keeps the chain. The service is started again
without the fault and, once it answers, must have:

* sent nothing twice: every transaction of the treasury's account on anvil is one the journal
  recorded, each step has at most one mined transaction, and no two carry the same call;
* sent no step outside its plan: no step of the killed plan is mined after the kill (a step
  signed but unsent is cancelled by a same-nonce no-op from the account to itself, 0 ETH);
* settled the decision (executed, partially executed or failed), every step of its plan
  finished, with a `plan.executed` / `plan.failed` audit entry by `recovery` listing each step;
* an audit chain that `treasury audit verify` accepts.

One anvil serves every boundary; each boundary gets a fresh data directory (so a fresh
treasury account), sharing the dev chain's address book and compiled contracts.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import APPROVER, OPERATOR, ROOT, PaperServer, paper_server
from tests.integration.devchain.fixtures import running_anvil

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=420)]

SETTLED = {"executed", "partially_executed", "failed"}
FINISHED_STEPS = {"confirmed", "failed", "dropped"}
BOUNDARIES = [
    "after_intent",
    "mid_simulation",
    "after_sign",
    "after_broadcast",
    "after_receipt",
    "after_sign@2",
    "after_receipt@2",
]


@dataclass(frozen=True)
class Shared:
    anvil: str
    address_book: Path
    compile_cache: Path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One anvil for every boundary, and the dev chain deployed to it once."""
    root = tmp_path_factory.mktemp("crash-shared")
    with running_anvil() as url:
        yield Shared(url, root / "address_book.json", root / "compiled")


def rpc(url: str, method: str, *params: Any) -> Any:
    body = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).json()
    assert "error" not in body, body
    return body["result"]


def wait_for(what: str, probe: Any, timeout_s: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def journal(database: Path) -> dict[str, str]:
    """Every journaled attempt: transaction hash → step id."""
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT tx_hash, step_id FROM broadcast_attempts"))


def account_transactions(url: str, account: str, first_block: int) -> list[dict[str, Any]]:
    """Every mined transaction sent from `account` since `first_block`, oldest first."""
    mined = []
    for number in range(first_block, int(rpc(url, "eth_blockNumber"), 16) + 1):
        block = rpc(url, "eth_getBlockByNumber", hex(number), True)
        for tx in block["transactions"]:
            if tx["from"].lower() == account.lower():
                mined.append({**tx, "block": number})
    return mined


def treasury_account(data_dir: Path) -> str:
    keystore = json.loads((data_dir / "devchain" / "paper_keystore.json").read_text())
    return "0x" + str(keystore["address"]).removeprefix("0x")


def audit_verify(server: PaperServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", "audit", "verify"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Killed:
    """One round: the boundary, the plan cut off there, and the chain when it died."""

    boundary: str
    plan_id: str
    decision_id: str
    killed_at: int
    signed: dict[str, str]


def planned(server: PaperServer) -> dict[str, str]:
    """Plan id → decision id for every plan whose steps were persisted (execution.planned)."""
    entries = server.client().get("/audit", params={"count": 1000}).json()
    return {
        e["subject_id"]: e["payload"]["decision_id"]
        for e in entries
        if e["action"] == "execution.planned"
    }


def decisions_in(database: Path) -> set[str]:
    if not database.exists():
        return set()
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT id FROM decisions")}


def start_a_plan(server: PaperServer, seen: set[str]) -> None:
    """Get a plan waiting for approval. The start-up cycle proposes one; when the circuit
    breaker (tripped by the failed plans of earlier rounds) made it refuse, clear the breaker
    and run a cycle on demand."""
    latest = wait_for(
        "the start-up cycle's decision",
        lambda: [
            d
            for d in server.client().get("/decisions", params={"limit": 1}).json()
            if d["id"] not in seen
        ],
    )[0]
    if latest["status"] == "pending":
        return
    resumed = server.client(APPROVER).post("/resume", json={"reason": "crash-injection test"})
    assert resumed.status_code == 200, resumed.text
    try:
        asked = server.client(OPERATOR).post("/portfolio/rebalance", json={"force": True})
    except httpx.HTTPError:
        return  # a plan small enough to need no approval ran at once, into the fault
    assert asked.status_code in (202, 403), asked.text  # executed, or waiting for approval


def approve(server: PaperServer, decision: dict[str, Any]) -> None:
    """An approver approves a pending decision through the API."""
    server.client(APPROVER).post(f"/decisions/{decision['id']}/approve", json={"approved": True})


def kill_during_a_plan(
    server: PaperServer,
    boundary: str,
    database: Path,
    anvil: str,
    seen: set[str],
    *,
    answer: Callable[[PaperServer, dict[str, Any]], None] = approve,
) -> Killed:
    """Approve what waits for approval (`answer`) until the process kills itself at
    `boundary`."""
    before = planned(server)
    start_a_plan(server, seen)
    deadline = time.monotonic() + 300
    while server.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        try:  # it may die in the middle of any request
            for decision in server.client().get("/decisions/pending").json():
                answer(server, decision)
        except httpx.HTTPError:
            continue
    assert server.process.wait(timeout=60) == -signal.SIGKILL, server.logs()
    point = boundary.split("@")[0]
    assert f"fault injected: killing the process at {point}" in server.logs()
    with sqlite3.connect(database) as db:
        (plan_id, payload) = db.execute(
            "SELECT subject_id, payload FROM audit_log WHERE action = 'execution.planned' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert plan_id not in before, "the kill came before any step was persisted"
    return Killed(
        boundary=boundary,
        plan_id=plan_id,
        decision_id=json.loads(payload)["decision_id"],
        killed_at=int(rpc(anvil, "eth_blockNumber"), 16),
        signed=journal(database),
    )


def check_recovered(server: PaperServer, killed: Killed) -> None:
    """The killed plan's decision is settled, its steps finished, and recovery audited it."""
    decision = server.client().get(f"/decisions/{killed.decision_id}").json()
    assert decision["plan_id"] == killed.plan_id
    assert decision["status"] in SETTLED, (killed.boundary, decision)
    steps = [
        s
        for s in server.client().get("/transactions", params={"limit": 500}).json()
        if s["plan_id"] == killed.plan_id
    ]
    assert steps, killed
    assert all(s["status"] in FINISHED_STEPS for s in steps), (killed.boundary, steps)
    audit = server.client().get("/audit", params={"count": 1000}).json()
    settled = [
        e
        for e in audit
        if e["action"] in ("plan.executed", "plan.failed") and e["subject_id"] == killed.plan_id
    ]
    assert len(settled) == 1, (killed.boundary, settled)
    assert settled[0]["actor"] == "recovery"
    assert settled[0]["payload"]["outcome"] == decision["status"]
    assert {s["id"] for s in settled[0]["payload"]["steps"]} == {s["id"] for s in steps}
    verified = audit_verify(server)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def check_chain(
    anvil: str, account: str, first_block: int, database: Path, rounds: list[Killed]
) -> None:
    """Nothing sent twice or outside the journal; no killed plan's step mined after its kill;
    a signed transaction not mined by the kill never mined later; cancellations are no-ops."""
    recorded = journal(database)
    mined = account_transactions(anvil, account, first_block)
    for tx in mined:
        assert tx["hash"] in recorded, f"not journaled: {tx['hash']}"
    step_of = {tx["hash"]: recorded[tx["hash"]] for tx in mined}
    steps = [s.removesuffix(":cancel") for s in step_of.values()]
    assert len(steps) == len(set(steps)), step_of  # at most one mined transaction per step
    calls = [(t["to"], t["input"]) for t in mined if not step_of[t["hash"]].endswith(":cancel")]
    assert len(calls) == len(set(calls)), "the same call was mined twice"
    mined_hashes = {t["hash"] for t in mined}
    for tx in mined:
        step_id = step_of[tx["hash"]]
        if step_id.endswith(":cancel"):
            assert tx["to"].lower() == account.lower()
            assert int(tx["value"], 16) == 0
            assert tx["input"] in ("0x", "")
            continue
        for killed in rounds:
            if step_id.startswith(f"{killed.plan_id}:"):
                assert tx["block"] <= killed.killed_at, (
                    f"{step_id} was mined after the kill at {killed.boundary}"
                )
    for killed in rounds:
        for tx_hash, step_id in killed.signed.items():
            if step_id.startswith(f"{killed.plan_id}:") and tx_hash not in mined_hashes:
                assert rpc(anvil, "eth_getTransactionReceipt", tx_hash) is None


def test_a_kill_at_every_execution_boundary_is_recovered_without_a_stale_or_double_send(
    shared: Shared, tmp_path: Path
) -> None:
    env = {
        "TREASURY_PAPER_START": "cash",
        "TREASURY_CYCLE_INTERVAL_S": "3600",
        "TREASURY_DEVCHAIN_RPC_URL": shared.anvil,
        "TREASURY_DEVCHAIN_ADDRESS_BOOK": str(shared.address_book),
        "TREASURY_DEVCHAIN_COMPILE_CACHE": str(shared.compile_cache),
    }
    first_block = int(rpc(shared.anvil, "eth_blockNumber"), 16)
    database = tmp_path / "treasury.db"
    rounds: list[Killed] = []
    # Each start recovers the previous round's kill, is checked, then runs into the next.
    for boundary in [*BOUNDARIES, None]:
        fault = {"TREASURY_FAULT_AT": boundary} if boundary else {}
        seen = decisions_in(database)
        with paper_server(tmp_path, ready_timeout_s=300, **fault, **env) as server:
            if rounds:
                check_recovered(server, rounds[-1])
            if boundary is not None:
                rounds.append(kill_during_a_plan(server, boundary, database, shared.anvil, seen))
    assert [r.boundary for r in rounds] == BOUNDARIES
    assert len({r.plan_id for r in rounds}) == len(BOUNDARIES)
    check_chain(shared.anvil, treasury_account(tmp_path), first_block, database, rounds)
