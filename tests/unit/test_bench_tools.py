"""`make bench` refuses to start without the tools its figures need, naming how to get them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import bench.measure
import pytest
from bench.__main__ import main


def test_bench_refuses_to_start_without_wrk_or_gnu_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(bench.measure, "TIME", tmp_path / "no-such-time")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(sys, "argv", ["bench", "no_such_bench"])
    assert main() == 2
    err = capsys.readouterr().err
    assert "apt-get install time" in err
    assert "apt-get install wrk" in err
