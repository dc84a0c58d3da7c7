"""The `treasury` command starts fast: the help path and `status --json` load no heavy library.

Each case runs the CLI in a fresh interpreter (the test process has long imported everything)
and reads back that interpreter's `sys.modules`. `status --json` talks to a loopback server
that answers like the service does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from entrypoints.cli.lazy import LazyCommand
from entrypoints.cli.main import COMMANDS

SRC = Path(__file__).resolve().parents[3] / "src"

# The libraries an operator command must not pay for before it says anything. rich (with
# markdown-it for Typer's help) is about 0.2 s of the 0.5 s the help may take (issue 18);
# tables that a person reads load it, the help, errors and `--json` do not.
HEAVY = ("web3", "anthropic", "vyper", "matplotlib", "sqlalchemy", "rich", "markdown_it")

_PROBE = """
import json, sys
from entrypoints.cli.main import app
try:
    app(args=json.loads(sys.argv[1]), prog_name="treasury")
except SystemExit as exit_:
    code = exit_.code or 0
else:
    code = 0
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def _run_cli(args: list[str], tmp_path: Path, **env: str) -> tuple[int, str, set[str]]:
    """Run `treasury ARGS` in a new interpreter; return its exit code, stdout and modules."""
    report = tmp_path / "modules.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TREASURY_", "PYTHON"))}
    environment.update(PYTHONPATH=str(SRC), TREASURY_DATA_DIR=str(tmp_path), **env)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), str(report)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(report.read_text(encoding="utf-8"))
    return answer["code"], done.stdout, set(answer["modules"])


def _heavy_in(modules: set[str]) -> list[str]:
    """The heavy top-level packages among `modules`."""
    return sorted({m.split(".", 1)[0] for m in modules} & set(HEAVY))


STATUS = {
    "total_value_usd": 400000.0,
    "positions": [],
    "cash_balance": 400000.0,
    "allocations": {"cash": {"current": 1.0, "target": 0.2}},
    "last_rebalance": None,
    "performance_24h": None,
    "performance_7d": None,
    "performance_30d": None,
    "as_of": "2026-12-01T00:00:00+00:00",
    "age_seconds": 3.0,
    "stale": False,
}


class _StatusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(STATUS).encode()
        self.send_response(200 if self.path == "/portfolio/status" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def service_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--help"], id="treasury --help"),
        pytest.param([], id="treasury with no arguments"),
        pytest.param(["--version"], id="treasury --version"),
    ],
)
def test_the_help_path_imports_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    code, stdout, modules = _run_cli(args, tmp_path)
    assert code in (0, 2)
    assert "treasury" in stdout.lower()
    heavy = _heavy_in(modules)
    assert heavy == [], f"loaded {heavy}"


def test_help_lists_every_command_with_its_summary(tmp_path: Path) -> None:
    _, stdout, _ = _run_cli(["--help"], tmp_path)
    for name in ("advise", "backtest", "db", "market", "serve", "paper", "status", "decisions"):
        assert name in stdout


def test_status_json_against_a_running_service_imports_no_heavy_library(
    tmp_path: Path, service_url: str
) -> None:
    code, stdout, modules = _run_cli(["status", "--json"], tmp_path, TREASURY_API_URL=service_url)
    assert code == 0
    assert json.loads(stdout)["total_value_usd"] == 400000.0
    heavy = _heavy_in(modules)
    assert heavy == [], f"loaded {heavy}"


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_each_listed_summary_is_the_loaded_commands_own_first_line(spec: LazyCommand) -> None:
    command = spec.load()
    assert command.name == spec.name
    assert command.get_short_help_str(limit=500) == spec.summary
