"""One service per data directory: a second one is refused, naming the first; a lock left by a
SIGKILLed service never blocks the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.locks import DataDirectoryInUse, InstanceLock
from tests.e2e.harness import ROOT

HOLDER = """
import sys, time
from pathlib import Path
from adapters.locks import InstanceLock
InstanceLock(Path(sys.argv[1])).acquire(url="http://127.0.0.1:8123", started_at="now")
print("held", flush=True)
time.sleep(60)
"""


def hold_in_another_process(data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_instance_is_refused_naming_the_running_one(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(DataDirectoryInUse) as refused:
            InstanceLock(tmp_path).acquire(url="http://127.0.0.1:9999", started_at="later")
        message = str(refused.value)
        assert f"pid {holder.pid}" in message
        assert "http://127.0.0.1:8123" in message
        assert str(tmp_path) in message
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_lock_left_by_a_killed_service_does_not_block_the_restart(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (tmp_path / InstanceLock.FILE).read_text()  # the stale file is still there

    lock = InstanceLock(tmp_path)
    lock.acquire(url=None, started_at="after the crash")
    try:
        assert f'"pid": {os.getpid()}' in (tmp_path / InstanceLock.FILE).read_text()
    finally:
        lock.release()


def test_a_released_lock_can_be_taken_again_in_the_same_process(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire(url=None, started_at="t0")
    with pytest.raises(DataDirectoryInUse):
        InstanceLock(tmp_path).acquire(url=None, started_at="t1")
    first.release()
    second = InstanceLock(tmp_path)
    second.acquire(url=None, started_at="t2")
    second.release()
