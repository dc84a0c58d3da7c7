"""The paper decision cycle against issue 18's goals: p95 latency over 1,000 cycles (goal
<= 120 ms) and the `eth_call`s each cycle sends, counted at the provider (goal <= 3).

A paper service built by the real container (SQLite, the in-process dev chain with Multicall3,
the simulated market, the rules advisor), started from the spec's 60/40 split so every venue
holds a position. Each cycle follows an hour of simulated time (blocks, prices, pool volume:
not timed); the cycle itself is timed from the caller's side (`services.cycle.execute`, the
read model's update included). Requests are counted by a middleware on the treasury's own
connection (`tests/rpc_counter.py`); the fake Pendle, Curve and 1inch APIs read the chain over
a connection of their own, as outside services would. Wall time on a shared machine includes
other processes' turns, so the CPU time each cycle spent is printed beside it, and the stages
the cycle times itself. `BENCH_CYCLES` (default 1000) changes the cycle count.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

P95_GOAL_MS = 120.0
ETH_CALLS_GOAL = 3


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _paper_environment(data_dir: Path) -> None:
    for key in [k for k in os.environ if k.startswith("TREASURY_")]:
        del os.environ[key]
    os.environ.update(
        {
            "TREASURY_MODE": "paper",
            "TREASURY_DATA_DIR": str(data_dir),
            "TREASURY_API_TOKENS": "bench-operator-token-0001:approver",
            "TREASURY_LOG_LEVEL": "WARNING",
        }
    )


async def _cycles(count: int) -> None:
    from tests.rpc_counter import RpcCounter

    from application.cycle import CycleCommand
    from bench.measure import machine_load
    from entrypoints.container import AppSettings, bootstrap
    from entrypoints.heap import freeze_start_up_heap
    from entrypoints.logging_setup import configure_logging

    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        _paper_environment(Path(tmp))
        configure_logging("WARNING", json=True)
        runtime = await bootstrap(AppSettings.load())
        try:
            if not await runtime.election.try_lead(runtime.take_over):
                raise RuntimeError("the bench's paper service did not become the leader")
            freeze_start_up_heap()  # as the service does once it leads (entrypoints.heap)
            counter = RpcCounter.attach(runtime.chain.web3)
            walls: list[float] = []
            cpus: list[float] = []
            calls: list[int] = []
            stages: dict[str, list[float]] = defaultdict(list)
            outcomes: dict[str, int] = defaultdict(int)
            load_before = machine_load()
            for _ in range(count):
                await runtime.before_cycle()
                counter.reset()
                cpu, wall = time.process_time(), time.perf_counter()
                result = await runtime.services.cycle.execute(CycleCommand(requested_by="bench"))
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
                calls.append(counter.eth_calls)
                outcomes[result.outcome.value] += 1
                for stage, ms in result.timings_ms.items():
                    stages[stage].append(float(ms))
        finally:
            await runtime.aclose()
    p95 = _percentile(walls, 0.95)
    print(f"   conditions: {load_before} before, {machine_load()} after")
    print(
        f"   paper cycle p95 ({count:,} cycles): {p95:.1f} ms "
        f"(p50 {statistics.median(walls):.1f}, max {max(walls):.1f}); "
        f"CPU p95 {_percentile(cpus, 0.95):.1f} ms (p50 {statistics.median(cpus):.1f}); "
        f"goal <= {P95_GOAL_MS:.0f} ms: {'met' if p95 <= P95_GOAL_MS else 'NOT met'}"
    )
    worst = max(calls)
    print(
        f"   eth_calls per cycle (counted at the provider): max {worst}, "
        f"median {statistics.median(calls):g}; "
        f"goal <= {ETH_CALLS_GOAL}: {'met' if worst <= ETH_CALLS_GOAL else 'NOT met'}"
    )
    print(
        "   cycle stages, p50/p95 ms: "
        + ", ".join(
            f"{stage} {statistics.median(ms):.1f}/{_percentile(ms, 0.95):.1f}"
            for stage, ms in stages.items()
        )
    )
    print(f"   outcomes: {dict(sorted(outcomes.items()))}")


def main() -> int:
    """Print the figures; return 0."""
    asyncio.run(_cycles(int(os.environ.get("BENCH_CYCLES", "1000"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
