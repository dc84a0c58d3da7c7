"""Start and stop real `treasury paper` processes for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "e2e-operator-token-000001"
APPROVER = "e2e-approver-token-000001"
VIEWER = "e2e-viewer-token-00000001"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PaperServer:
    """A running paper-mode service."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, *, timeout_s: float = 30) -> httpx.Client:
        """An HTTP client for this server, optionally with a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def logs(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for a paper server with known tokens and a private data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    # The suite's shared compile cache (tests/conftest.py): a fresh data directory would
    # otherwise recompile every contract on each start.
    cache = os.environ.get("TREASURY_DEVCHAIN_COMPILE_CACHE")
    if cache:
        env["TREASURY_DEVCHAIN_COMPILE_CACHE"] = cache
    env.update(
        {
            "TREASURY_MODE": "paper",
            "TREASURY_DATA_DIR": str(data_dir),
            "TREASURY_PORT": str(port),
            "TREASURY_HOST": "127.0.0.1",
            "TREASURY_API_TOKENS": f"{VIEWER}:viewer,{OPERATOR}:operator,{APPROVER}:approver",
            "TREASURY_LOG_JSON": "true",
        }
    )
    env.update(extra)
    return env


@contextmanager
def paper_server(
    data_dir: Path, *, ready_timeout_s: float = 240, **extra_env: str
) -> Iterator[PaperServer]:
    """Run `treasury paper` until the block ends (SIGTERM, then SIGKILL if it hangs)."""
    port = free_port()
    env = server_env(data_dir, port, **extra_env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli.main", "paper", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PaperServer(
        url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        process=process,
        log_path=log_path,
        env=env,
    )
    try:
        wait_ready(server, ready_timeout_s)
        yield server
    finally:
        stop(server)
        log.close()


def wait_ready(server: PaperServer, timeout_s: float) -> None:
    """Wait until /health answers, or fail with the server's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"paper server exited with {server.process.returncode}:\n{server.logs()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code in (200, 500):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"paper server not ready after {timeout_s} s:\n{server.logs()}")


def stop(server: PaperServer) -> int | None:
    """Stop the server with SIGTERM (clean shutdown), SIGKILL after 20 s."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    return server.process.returncode
