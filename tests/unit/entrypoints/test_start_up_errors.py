"""Errors at start-up: a bad setting is one line naming the setting and the fix, exit 2, before
anything is opened; logs are for people in a terminal and JSON for machines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoints.logging_setup import configure_logging

SRC = Path(__file__).resolve().parents[3] / "src"


def _treasury(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TREASURY_", "PYTHON"))}
    environment.update(PYTHONPATH=str(SRC), TREASURY_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", *args],
        env=environment,
        capture_output=True,
        text=True,
        # Long before the dev chain could be deployed: the setting is refused first.
        timeout=240,  # a loaded machine imports slowly; the old code deployed a chain first
        check=False,
    )


@pytest.mark.parametrize("command", ["paper", "serve", "run"])
def test_a_short_api_token_is_one_line_naming_the_setting_and_exit_2(
    tmp_path: Path, command: str
) -> None:
    done = _treasury([command], tmp_path, TREASURY_API_TOKENS="short:viewer")

    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "TREASURY_API_TOKENS" in lines[0]
    assert "16 characters" in lines[0]
    assert "short" not in lines[0].replace("TREASURY_API_TOKENS", "")  # never the token itself
    assert not (tmp_path / "treasury.db").exists(), "it opened the database first"


def test_a_setting_of_the_wrong_type_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _treasury(["paper"], tmp_path, TREASURY_CYCLE_INTERVAL_S="hourly")

    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "TREASURY_CYCLE_INTERVAL_S" in lines[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _one_line(stream: io.StringIO, json_setting: bool | None) -> str:
    configure_logging("INFO", json=json_setting, stream=stream)
    logging.getLogger("treasury.test").info("cycle done", extra={"plans": 1})
    return stream.getvalue().strip().splitlines()[-1]


def test_in_a_terminal_logs_are_for_people() -> None:
    line = _one_line(_Terminal(), None)
    assert "cycle done" in line
    with pytest.raises(ValueError):
        json.loads(line)


def test_logs_are_json_when_not_a_terminal_or_when_asked() -> None:
    assert json.loads(_one_line(io.StringIO(), None))["event"] == "cycle done"
    assert json.loads(_one_line(_Terminal(), True))["plans"] == 1
    with pytest.raises(ValueError):
        json.loads(_one_line(io.StringIO(), False))
