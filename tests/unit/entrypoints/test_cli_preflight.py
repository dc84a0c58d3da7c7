"""`treasury preflight` when the service cannot even start: one failed line with its fix,
exit 1, no traceback; and the JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.main import app


@pytest.fixture
def live_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import os

    for name in list(os.environ):
        if name.startswith("TREASURY_") or name == "ANTHROPIC_API_KEY":
            monkeypatch.delenv(name, raising=False)
    return {"TREASURY_MODE": "live", "TREASURY_DATA_DIR": str(tmp_path)}


def test_live_mode_missing_its_settings_is_one_failed_line_and_exit_1(
    live_env: dict[str, str],
) -> None:
    result = CliRunner().invoke(app, ["preflight"], env=live_env)
    assert result.exit_code == 1
    first, verdict = result.stdout.strip().splitlines()
    assert first.startswith("failed  start-up: live mode cannot start; missing: ")
    assert first.endswith("-> fix: set what the message names")
    assert verdict == "preflight: 1 failed"
    assert "Traceback" not in result.stdout + result.stderr


def test_preflight_json_has_ok_and_each_check_with_its_fix(live_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["preflight", "--json"], env=live_env)
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    (check,) = body["checks"]
    assert check["name"] == "start-up"
    assert check["fix"] == "set what the message names"
