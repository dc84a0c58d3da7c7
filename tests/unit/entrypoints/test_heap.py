"""Once the service has started and tried to lead, its start-up objects are out of the cyclic
collector's reach (entrypoints.heap): a full collection then walks only what was made since,
instead of the quarter of a million objects the container and the in-process chain hold, which
cost about 130 ms inside a decision cycle (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator

import pytest

from entrypoints.cli import service
from entrypoints.heap import freeze_start_up_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Election:
    def __init__(self) -> None:
        self.tried = False

    async def try_lead(self, take_over: Callable[[], Awaitable[None]]) -> bool:
        self.tried = True
        return True

    async def run(self, **_: object) -> None:
        return None


class _Runtime:
    def __init__(self) -> None:
        self.election = _Election()

    async def take_over(self) -> None:
        return None

    async def while_leading(self) -> None:
        return None


def test_the_service_freezes_its_start_up_objects_once_it_has_tried_to_lead(
    unfrozen: None,
) -> None:
    assert gc.get_freeze_count() == 0
    runtime = _Runtime()
    survivor = [object() for _ in range(10)]

    async def elect() -> None:
        task = await service._elect(runtime)  # type: ignore[arg-type]
        await task

    asyncio.run(elect())
    assert runtime.election.tried
    assert gc.get_freeze_count() > len(survivor)


def test_freezing_collects_first_so_no_garbage_is_kept_for_the_process_life(
    unfrozen: None,
) -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    Node()  # a reference cycle, garbage from here on
    frozen = freeze_start_up_heap()
    assert frozen == gc.get_freeze_count()
    gc.unfreeze()  # back in the collector's reach: a frozen cycle would show here
    assert not any(type(o) is Node for o in gc.get_objects())
