"""How the benchmarks measure, as the architecture guide says.

- Whole commands: `/usr/bin/time -v` (wall clock and maximum resident set), one warm-up run,
  then at least three runs; the median is quoted.
- HTTP throughput: `wrk -t2 -c32 -d8s URL` after a 2 s warm-up, quoted as a ratio to a bare
  Litestar endpoint measured in the same run (a Python load generator saturates first on a
  two-core machine and hides the server's cost).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIME = Path("/usr/bin/time")
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_SECONDS = 8
WARM_UP_SECONDS = 2
RUNS = 3


@dataclass(frozen=True, slots=True)
class CommandCost:
    """Median wall time, CPU time (user + system) and maximum RSS of a command over runs.

    On a shared machine the wall time waits for other processes' turns; the CPU time is
    what the command itself spent.
    """

    wall_s: float
    cpu_s: float
    rss_mib: float
    runs: int

    def __str__(self) -> str:
        return (
            f"wall {self.wall_s:.2f} s, CPU {self.cpu_s:.2f} s, {self.rss_mib:.0f} MiB "
            f"(median of {self.runs} runs)"
        )


def time_command(
    argv: Sequence[str], env: Mapping[str, str], *, runs: int = RUNS, cwd: Path | None = None
) -> CommandCost:
    """Run `argv` once to warm up, then `runs` times under `/usr/bin/time -v`.

    Raises:
        RuntimeError: GNU time is missing, or the command failed.
    """
    if not TIME.exists():
        raise RuntimeError("GNU time is missing (apt-get install time)")
    walls: list[float] = []
    cpus: list[float] = []
    rss: list[float] = []
    for index in range(runs + 1):
        done = subprocess.run(
            [str(TIME), "-v", *argv],
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
        if index == 0:
            continue  # the warm-up: file cache, byte-code
        walls.append(_wall_seconds(done.stderr))
        cpus.append(_cpu_seconds(done.stderr))
        rss.append(_max_rss_kib(done.stderr) / 1024)
    return CommandCost(
        statistics.median(walls), statistics.median(cpus), statistics.median(rss), runs
    )


def _wall_seconds(report: str) -> float:
    match = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", report)
    if match is None:
        raise RuntimeError("no wall clock time in /usr/bin/time's report")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def _cpu_seconds(report: str) -> float:
    user = re.search(r"User time \(seconds\): ([\d.]+)", report)
    system = re.search(r"System time \(seconds\): ([\d.]+)", report)
    if user is None or system is None:
        raise RuntimeError("no CPU times in /usr/bin/time's report")
    return float(user.group(1)) + float(system.group(1))


def _max_rss_kib(report: str) -> int:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if match is None:
        raise RuntimeError("no maximum resident set size in /usr/bin/time's report")
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the closing table: a must-show figure, what it measured, its goal."""

    name: str
    value: str
    goal: str
    met: bool | None


FIGURES: list[Figure] = []
"""Every figure the benchmarks recorded in this run, in order, for the closing table."""


def record(name: str, value: str, goal: str = "", met: bool | None = None) -> None:
    """Keep a figure for the closing table `make bench` prints (and the README copies)."""
    FIGURES.append(Figure(name, value, goal, met))


def figures_table() -> str:
    """The recorded figures as a Markdown table (figure, measured, goal, met)."""
    lines = ["| figure | measured | goal | met |", "|---|---|---|---|"]
    for figure in FIGURES:
        met = "" if figure.met is None else ("yes" if figure.met else "NO")
        lines.append(f"| {figure.name} | {figure.value} | {figure.goal} | {met} |")
    return "\n".join(lines)


def missing_tools() -> list[str]:
    """The tools `make bench` needs and this machine lacks, each with how to get it."""
    missing = []
    if not gnu_time_available():
        missing.append("GNU time (/usr/bin/time) is missing: apt-get install time")
    if not wrk_available():
        missing.append("wrk is missing: apt-get install wrk")
    return missing


def gnu_time_available() -> bool:
    """Whether GNU time (`/usr/bin/time`, Debian package `time`) is installed."""
    return TIME.exists()


def wrk_available() -> bool:
    """Whether the `wrk` load generator is installed."""
    return shutil.which("wrk") is not None


def requests_per_second(url: str) -> float:
    """Requests per second `wrk` reaches against `url`, after a warm-up.

    Raises:
        RuntimeError: wrk failed, or saw answers other than 2xx.
    """
    _wrk(url, WARM_UP_SECONDS)
    return _wrk(url, WRK_SECONDS)


def _wrk(url: str, seconds: int) -> float:
    done = subprocess.run(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{WRK_CONNECTIONS}",
            f"-d{seconds}s",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed against {url}: {done.stderr.strip()}")
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk saw error answers from {url}:\n{done.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{done.stdout}")
    return float(match.group(1))


def machine_load() -> str:
    """The machine's load now, for the printed figures (the machine may be shared)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def machine_speed() -> str:
    """How fast this machine runs Python now: the time a fixed pure-Python loop takes.

    A shared or virtual machine's speed drifts (on the 2-core machine of 2026-12-02 this loop
    took 0.45 to 0.73 s a minute apart while idle), and every figure here drifts with it: print
    it at the start and the end so a run can be compared with another."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return f"a 5,000,000-step Python loop takes {time.perf_counter() - started:.2f} s"


def wrk_conditions() -> str:
    """The load generator's settings, for the printed figures."""
    return (
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s after a "
        f"{WARM_UP_SECONDS} s warm-up"
    )
