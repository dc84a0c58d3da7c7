"""The operator commands over HTTP against a real uvicorn server holding a fake treasury."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from entrypoints.api.app import create_app
from entrypoints.cli.client import register
from tests.e2e.harness import free_port
from tests.unit.application.conftest import build_treasury
from tests.unit.entrypoints.test_api import APPROVER, OPERATOR, TOKENS, VIEWER, services_for

runner = CliRunner()
app = typer.Typer()
register(app)


class _Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            treasury = build_treasury(cash=400_000)  # built on the server's own event loop
            api = create_app(services_for(treasury), TOKENS)
            config = uvicorn.Config(api, host="127.0.0.1", port=self.port, log_config=None)
            self._server = uvicorn.Server(config)
            await self._server.serve()

        asyncio.run(main())

    def __enter__(self) -> _Server:
        self._thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/schema/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the test server did not start")

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    with _Server() as s:
        yield s


def treasury(args: list[str], url: str, token: str | None = OPERATOR) -> tuple[int, str, str]:
    env = {
        "TREASURY_API_URL": url,
        "TREASURY_API_TOKEN": token or "",
        "TREASURY_DATA_DIR": "/nonexistent",
    }
    result = runner.invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_status_prints_positions_and_json(server: _Server) -> None:
    code, out, _ = treasury(["status"], server.url)
    assert code == 0
    assert "Portfolio" in out
    assert "$400,000.00" in out
    code, out, _ = treasury(["status", "--json"], server.url)
    assert code == 0
    assert json.loads(out)["total_value_usd"] == 400000.0


def test_signal_json_has_the_spec_fields(server: _Server) -> None:
    code, out, _ = treasury(["signal", "--json"], server.url)
    assert code == 0
    body = json.loads(out)
    assert {"mode", "target_allocations", "confidence", "reasoning", "trigger"} <= body.keys()


def test_a_large_move_waits_then_is_approved_from_the_cli(server: _Server) -> None:
    code, out, _ = treasury(["cycle"], server.url)
    assert code == 0
    assert "pending_approval" in out
    assert "treasury decisions approve" in out
    code, out, _ = treasury(["decisions", "pending", "--json"], server.url)
    pending = json.loads(out)
    assert code == 0
    assert len(pending) == 1
    decision_id = pending[0]["id"]

    code, _, err = treasury(["decisions", "approve", decision_id], server.url, VIEWER)
    assert code == 77
    assert "403" in err

    code, out, _ = treasury(
        ["decisions", "approve", decision_id, "--notes", "checked"], server.url, APPROVER
    )
    assert code == 0
    assert "approved" in out

    code, _, err = treasury(["decisions", "reject", decision_id], server.url, APPROVER)
    assert code == 4
    assert "409" in err


def test_unknown_decision_and_bad_token(server: _Server) -> None:
    code, _, err = treasury(["decisions", "approve", "dec-missing"], server.url, APPROVER)
    assert code == 3
    assert "404" in err
    code, _, err = treasury(
        ["emergency-stop", "--reason", "x"], server.url, "wrong-token-0000000000"
    )
    assert code == 77
    assert "TREASURY_API_TOKEN" in err


def test_emergency_stop_and_resume(server: _Server) -> None:
    code, out, _ = treasury(["emergency-stop", "--reason", "drill"], server.url)
    assert code == 0
    assert "ON" in out
    code, _, _err = treasury(["resume", "--reason", "drill over"], server.url, OPERATOR)
    assert code == 77
    code, out, _ = treasury(["resume", "--reason", "drill over"], server.url, APPROVER)
    assert code == 0
    assert "OFF" in out


def test_lift_cooldown_needs_an_approver_and_a_cooldown_in_force(server: _Server) -> None:
    code, _, _err = treasury(["lift-cooldown", "--reason", "glitch"], server.url, OPERATOR)
    assert code == 77
    code, _, err = treasury(["lift-cooldown", "--reason", "glitch"], server.url, APPROVER)
    assert code == 3
    assert "re-entry cooldown" in err


def test_invalid_input_is_a_usage_error(server: _Server) -> None:
    code, _, err = treasury(["rebalance", "--max-slippage", "0.5"], server.url)
    assert code == 2
    assert "400" in err


def test_no_service_is_one_clear_line() -> None:
    code, _, err = treasury(["status"], f"http://127.0.0.1:{free_port()}")
    assert code == 75
    assert err.count("\n") == 1
    assert "cannot reach the treasury service" in err


def test_metrics_show_sharpe_and_sortino_at_zero_and_at_the_static_yield(server: _Server) -> None:
    code, out, _ = treasury(["metrics", "--range", "24h"], server.url)
    assert code == 0
    for row in (
        "sharpe_at_zero_rate",
        "sharpe_at_static_yield",
        "sortino_at_zero_rate",
        "sortino_at_static_yield",
    ):
        assert row in out
