"""End to end over HTTP: the strategy limits set in the environment govern the running service.

A real `treasury paper` process starts with $40,000 of USDC (`TREASURY_PAPER_START=cash`), so
its first cycle plans a deployment that trades between $20K and $50K in total: below the
default $50K approval threshold, above a threshold of $20K. With
`TREASURY_APPROVAL_THRESHOLD_USD=20000` that plan waits for a human. The service is then
restarted on the same data directory with `TREASURY_MAX_TRADES_PER_DAY=2` as well: the next
plan is rejected by that limit, `GET /config` shows both numbers, and the audit log holds the
limits of the first start and the change at the second.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import VIEWER, PaperServer, paper_server

pytestmark = pytest.mark.slow(seconds=120)

BASE_ENV = {
    "TREASURY_PAPER_START": "cash",
    "TREASURY_PAPER_CAPITAL_USD": "40000",
    "TREASURY_CYCLE_INTERVAL_S": "3600",
    "TREASURY_APPROVAL_THRESHOLD_USD": "20000",
}


def _decisions(server: PaperServer) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/decisions")
    assert response.status_code == 200
    return list(response.json())


def _wait_for_decisions(server: PaperServer, count: int, timeout_s: float = 60) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _decisions(server)
        if len(found) >= count:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no {count} decision(s) after {timeout_s} s:\n{server.logs()[-3000:]}")


def _config(server: PaperServer) -> dict[str, str]:
    with server.client(VIEWER) as client:
        response = client.get("/config")
    assert response.status_code == 200, response.text
    return dict(response.json()["limits"])


def _audit(server: PaperServer, action: str) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/audit", params={"count": 1000})
    assert response.status_code == 200
    return [e for e in response.json() if e["action"] == action]


def _reason(decision: dict[str, Any], rule: str) -> str:
    found = [r for r in decision["verdict_reasons"] if r.startswith(f"{rule} FAILED")]
    assert found, decision["verdict_reasons"]
    return str(found[0])


def test_limits_set_in_the_environment_change_what_the_running_service_does(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "limits"
    with paper_server(data_dir, **BASE_ENV) as server:
        first = _wait_for_decisions(server, 1)[0]
        assert first["status"] == "pending", first
        reason = _reason(first, "approval_total")
        assert "limit $20,000 per plan" in reason
        traded = Decimal(re.findall(r"actual \$([\d,.]+)", reason)[0].replace(",", ""))
        # The plan trades less than the default threshold: only the setting makes it wait.
        assert Decimal(20_000) < traded <= Decimal(50_000)
        assert _config(server)["approval_threshold_usd"] == "20000"
        [in_force] = _audit(server, "config.limits_in_force")
        assert in_force["payload"]["limits"]["approval_threshold_usd"] == "20000"

    with paper_server(data_dir, **BASE_ENV, TREASURY_MAX_TRADES_PER_DAY="2") as server:
        second = _wait_for_decisions(server, 2)[0]  # newest first
        assert second["status"] == "rejected", second
        assert "(limit 2," in _reason(second, "max_trades_per_day")
        limits = _config(server)
        assert (limits["approval_threshold_usd"], limits["max_trades_per_day"]) == ("20000", "2")
        [changed] = _audit(server, "config.limits_changed")
        assert changed["payload"]["changed"] == {"max_trades_per_day": {"old": "10", "new": "2"}}
