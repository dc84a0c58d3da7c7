"""End to end over HTTP against a real `treasury paper` process (uvicorn, SQLite, the dev chain
in-process, the simulated market, the rules advisor).

The treasury starts as $400K of USDC (`TREASURY_PAPER_START=cash`), so the first scheduled
cycle plans a move far above the $50K approval threshold. The scheduler's interval is an hour of
wall time, so after that first cycle only the tests act.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import APPROVER, OPERATOR, ROOT, VIEWER, PaperServer, paper_server

pytestmark = pytest.mark.slow(seconds=45)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperServer]:
    data_dir: Path = tmp_path_factory.mktemp("paper-e2e")
    with paper_server(
        data_dir, TREASURY_PAPER_START="cash", TREASURY_CYCLE_INTERVAL_S="3600"
    ) as running:
        yield running


def wait_for(what: str, probe: Any, timeout_s: float = 60.0) -> Any:
    """Poll `probe()` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def pending(server: PaperServer) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/decisions/pending")
    assert response.status_code == 200
    return list(response.json())


def steps_of(server: PaperServer, plan_id: str) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/transactions", params={"limit": 200})
    assert response.status_code == 200
    return [t for t in response.json() if t["plan_id"] == plan_id]


def decision(server: PaperServer, decision_id: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/decisions/{decision_id}")
    assert response.status_code == 200
    return dict(response.json())


def settle(server: PaperServer) -> None:
    """Return once any execution already started has finished: a decision cycle takes the
    same lock as every plan execution, so its answer comes after theirs. The cycle's own
    decision, if it makes one, is rejected so that the treasury is left as it was."""
    with server.client(OPERATOR) as client:
        response = client.post("/portfolio/rebalance", json={"force": False})
    assert response.status_code in (202, 403), response.text
    if response.status_code == 403:
        with server.client(APPROVER) as client:
            answer = client.post(
                f"/decisions/{response.json()['decision_id']}/approve",
                json={"approved": False, "notes": "only a barrier"},
            )
        assert answer.status_code == 200, answer.text


def test_read_endpoints_answer_with_the_spec_fields(server: PaperServer) -> None:
    with server.client() as client:
        market = client.get("/market/data")
        assert market.status_code == 200
        assert {"btc_price", "eth_price", "mvrv_z_score", "market_phase"} <= market.json().keys()

        signal = client.get("/market/signal")
        assert signal.status_code == 200
        assert {"mode", "target_allocations", "confidence", "reasoning"} <= signal.json().keys()

        status = client.get("/portfolio/status")
        assert status.status_code == 200
        body = status.json()
        assert body["total_value_usd"] == pytest.approx(400_000, rel=0.01)
        assert {"positions", "cash_balance", "allocations", "last_rebalance"} <= body.keys()

        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] in ("healthy", "degraded")
        assert {"ai_status", "protocols_status", "database"} <= health.json().keys()

        assert client.get("/schema/openapi.json").status_code == 200
        assert client.get("/decisions").status_code == 200
        assert client.get("/audit").status_code == 200
        metrics = client.get("/performance/metrics", params={"time_range": "7d"})
        # A fresh treasury may not have two snapshots yet: null figures and a note say so.
        assert metrics.status_code == 200, metrics.text
        assert metrics.json()["time_weighted_return"] is not None or metrics.json()["note"]
        # Sharpe and Sortino at a zero rate and at the static yield, side by side.
        assert {
            "sharpe_at_zero_rate",
            "sharpe_at_static_yield",
            "sortino_at_zero_rate",
            "sortino_at_static_yield",
        } <= set(metrics.json())


def test_mutations_need_a_token_with_the_right_role(server: PaperServer) -> None:
    with server.client() as anonymous:
        response = anonymous.post("/portfolio/rebalance", json={})
        assert response.status_code == 401
        assert "error" in response.json()
    with server.client("not-a-valid-token-000000") as stranger:
        assert stranger.post("/emergency-stop", json={"reason": "x"}).status_code == 401
    with server.client(VIEWER) as viewer:
        assert viewer.post("/portfolio/rebalance", json={}).status_code == 403
        assert viewer.put("/market/mvrv", json={"value": 2}).status_code == 403
    with server.client(OPERATOR) as operator:
        response = operator.post("/decisions/dec-unknown/approve", json={"approved": True})
        assert response.status_code == 403
        assert operator.post("/resume", json={"reason": "x"}).status_code == 403


def test_invalid_bodies_get_400_with_a_message(server: PaperServer) -> None:
    with server.client(APPROVER) as client:
        for path, body in (
            ("/portfolio/rebalance", {"max_slippage": 0.5}),
            ("/portfolio/rebalance", {"force": "sometimes"}),
            ("/portfolio/rebalance", {"unknown": 1}),
            ("/decisions/dec-x/approve", {"notes": "no verdict"}),
            ("/emergency-stop", {"reason": ""}),
        ):
            response = client.post(path, json=body)
            assert response.status_code == 400, (path, body, response.text)
            assert response.json()["error"]
        assert client.put("/market/mvrv", json={"value": 99}).status_code == 400
        bad_range = client.get("/performance/metrics", params={"time_range": "13 moons"})
        assert bad_range.status_code == 400
        assert (
            client.post("/decisions/dec-unknown/approve", json={"approved": True}).status_code
            == 404
        )


def test_a_rejected_decision_never_executes(server: PaperServer) -> None:
    [first] = wait_for("the first cycle's pending decision", lambda: pending(server))
    assert any("approval_threshold" in r for r in first["verdict_reasons"])
    with server.client(APPROVER) as client:
        response = client.post(
            f"/decisions/{first['id']}/approve", json={"approved": False, "notes": "not today"}
        )
        assert response.status_code == 200
        assert response.json()["status"] == "rejected"
        again = client.post(f"/decisions/{first['id']}/approve", json={"approved": True})
        assert again.status_code == 409
    settle(server)
    assert steps_of(server, first["plan_id"]) == []
    assert decision(server, first["id"])["status"] == "rejected"


def test_a_large_move_waits_for_approval_and_executes_once(server: PaperServer) -> None:
    with server.client(OPERATOR) as client:
        response = client.post("/portfolio/rebalance", json={"force": False})
    assert response.status_code == 403, response.text
    body = response.json()
    decision_id = body["decision_id"]
    assert body["status"] == "pending_approval"
    assert body["plan"]["required_transactions"]
    assert [d["id"] for d in pending(server)] == [decision_id]

    with server.client(APPROVER) as client:
        approved = client.post(
            f"/decisions/{decision_id}/approve", json={"approved": True, "notes": "go"}
        )
        assert approved.status_code == 202
        assert approved.json()["approver"].startswith("approver:")

    final = wait_for(
        "the approved plan to finish",
        lambda: (d := decision(server, decision_id))["status"] in ("executed", "failed") and d,
        timeout_s=120,
    )
    assert final["status"] == "executed", final
    steps = steps_of(server, body["plan"]["plan_id"])
    assert steps
    assert all(s["status"] in ("confirmed", "dropped") for s in steps), steps
    confirmed = [s for s in steps if s["status"] == "confirmed"]
    assert confirmed
    assert all(s["tx_hash"] and s["nonce"] is not None for s in confirmed)
    assert len({s["tx_hash"] for s in confirmed}) == len(confirmed)

    with server.client(APPROVER) as client:
        assert (
            client.post(f"/decisions/{decision_id}/approve", json={"approved": True}).status_code
            == 409
        )
    with server.client() as client:
        status = client.get("/portfolio/status").json()
    protocols = {p["protocol"] for p in status["positions"]}
    assert protocols & {"aave", "curve", "pendle", "wallet"}
    assert status["total_value_usd"] == pytest.approx(400_000, rel=0.02)
    settle(server)
    assert len(steps_of(server, body["plan"]["plan_id"])) == len(steps)


def test_emergency_stop_blocks_execution_until_resume(server: PaperServer) -> None:
    # New capital, so that a rebalance has something to do: the stop, not an empty plan,
    # is what holds it back.
    with server.client(APPROVER) as client:
        assert client.post("/paper/fund", json={"usd": 300_000}).status_code == 200
    with server.client(OPERATOR) as client:
        stop = client.post("/emergency-stop", json={"reason": "drill"})
        assert stop.status_code == 200
        assert stop.json()["emergency_stop"] is True
        before = len(client.get("/transactions", params={"limit": 500}).json())
        blocked = client.post("/portfolio/rebalance", json={"force": True})
        assert blocked.status_code == 422, blocked.text
        assert any("emergency" in r for r in blocked.json()["reasons"]), blocked.json()
        assert len(client.get("/transactions", params={"limit": 500}).json()) == before
        health = client.get("/health").json()
        assert health["emergency_stop"] is True
    with server.client(APPROVER) as client:
        resumed = client.post("/resume", json={"reason": "drill over"})
        assert resumed.status_code == 200
        assert resumed.json()["emergency_stop"] is False
    with server.client(OPERATOR) as client:
        after = client.post("/portfolio/rebalance", json={"force": True})
    # Deploying $300K takes steps above the $50K threshold: it waits for approval.
    assert after.status_code == 403, after.text
    assert not any("emergency" in r for r in after.json()["reasons"])
    with server.client(APPROVER) as client:
        answer = client.post(
            f"/decisions/{after.json()['decision_id']}/approve",
            json={"approved": False, "notes": "drill over, nothing to deploy today"},
        )
    assert answer.status_code == 200, answer.text


def test_the_audit_chain_verifies_and_records_every_step(tmp_path: Path) -> None:
    """On a treasury of its own: a rejection, an approval and its execution are each audited,
    and `treasury audit verify` finds the chain intact."""
    with paper_server(
        tmp_path, TREASURY_PAPER_START="cash", TREASURY_CYCLE_INTERVAL_S="3600"
    ) as own:
        [rejected] = wait_for("the first cycle's pending decision", lambda: pending(own))
        with own.client(APPROVER) as client:
            answer = client.post(f"/decisions/{rejected['id']}/approve", json={"approved": False})
        assert answer.status_code == 200, answer.text
        with own.client(OPERATOR) as client:
            asked = client.post("/portfolio/rebalance", json={"force": False})
        assert asked.status_code == 403, asked.text
        approved = asked.json()["decision_id"]
        plan_id = asked.json()["plan"]["plan_id"]
        with own.client(APPROVER) as client:
            answer = client.post(f"/decisions/{approved}/approve", json={"approved": True})
        assert answer.status_code == 202, answer.text
        wait_for(
            "the approved plan to finish",
            lambda: decision(own, approved)["status"] in ("executed", "failed"),
            timeout_s=120,
        )
        with own.client() as client:
            entries = client.get("/audit", params={"count": 1000}).json()
        verified = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli.main", "audit", "verify"],
            env=own.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    about = {(e["action"], e["subject_id"]) for e in entries}
    assert ("decision.created", rejected["id"]) in about, about
    assert ("decision.rejected", rejected["id"]) in about, about
    assert ("decision.created", approved) in about, about
    assert ("decision.approved", approved) in about, about
    assert ("execution.planned", plan_id) in about, about
    assert ("execution.completed", plan_id) in about, about
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout
    assert int(verified.stdout.split("intact: ")[1].split()[0]) == max(e["seq"] for e in entries)


def test_unknown_routes_and_methods_are_json_errors(server: PaperServer) -> None:
    response = httpx.get(f"{server.url}/no/such/route")
    assert response.status_code == 404
    assert "error" in response.json()
    assert "Traceback" not in response.text


def test_new_capital_is_marked_as_a_flow_and_not_counted_as_return(server: PaperServer) -> None:
    with server.client(APPROVER) as client:
        flows_before = client.get("/performance/metrics", params={"time_range": "24h"}).json()
        before = client.get("/portfolio/status").json()["total_value_usd"]
        funded = client.post("/paper/fund", json={"usd": 100000})
        assert funded.status_code == 200, funded.text
        assert funded.json()["total_value_usd"] == pytest.approx(before + 100_000, rel=0.001)
        metrics = client.get("/performance/metrics", params={"time_range": "24h"})
    assert metrics.status_code == 200, metrics.text
    body = metrics.json()
    flowed = float(body["net_flows_usd"]) - float(flows_before["net_flows_usd"] or 0)
    assert flowed == pytest.approx(100_000)
    # Minutes of simulated time passed: the $100K is a flow, not a 25 % gain.
    assert abs(float(body["time_weighted_return"])) < 0.01
