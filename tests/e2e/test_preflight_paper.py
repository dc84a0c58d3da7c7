"""`treasury preflight` in paper mode, through the real CLI process and the paper wiring (the
simulated market, the dev chain in-process, the rules advisor): every check is green."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, free_port, server_env

pytestmark = pytest.mark.slow(seconds=90)

EXPECTED = (
    "market source simulated:full-cycle",
    "rpc chain id",
    "keystore and gas",
    "protocol aave",
    "protocol curve",
    "protocol pendle",
    "pendle market",
    "1inch api",
    "advisor",
)


def treasury(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_paper_preflight_is_all_green_and_exits_zero(tmp_path: Path) -> None:
    env = server_env(tmp_path, free_port(), TREASURY_LOG_JSON="false")
    assert treasury(env, "db", "upgrade").returncode == 0
    done = treasury(env, "preflight")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    checks, verdict = lines[:-1], lines[-1]
    assert verdict == "preflight: live mode would work"
    assert [line.split(": ", 1)[0].removeprefix("ok").strip() for line in checks] == list(EXPECTED)
    assert all(line.startswith("ok ") for line in checks)
    assert "Traceback" not in done.stderr
