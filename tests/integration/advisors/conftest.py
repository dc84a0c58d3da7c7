"""The advisor integration bench: the real anthropic SDK talking to a fake Messages API on
127.0.0.1, inside the real decision cycle, recording into a migrated SQLite database."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.advisors.claude import ClaudeAdvisor
from adapters.advisors.rules import RulesAdvisor
from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from application.advice import FallbackAdvisor
from application.cycle import CycleCommand, CycleResult, RunDecisionCycle
from domain.decisions import Decision
from tests.fakes.treasury import (
    Book,
    FakeConditions,
    FakeLock,
    FakeMarket,
    FakePortfolio,
    FakeRunner,
    FakeStateFile,
    FixedClock,
    SequentialIds,
)
from tests.integration.advisors.fake_messages_api import FakeMessagesApi
from tests.servers import port_open, require_server
from tests.unit.domain.builders import market

API_KEY = "sk-ant-api03-TESTKEY-0123456789abcdefABCDEF-never-log-me"


@pytest.fixture
def messages_api() -> Iterator[FakeMessagesApi]:
    """A started fake Messages API that accepts API_KEY."""
    api = FakeMessagesApi(API_KEY)
    api.start()
    host, port = api.base_url.removeprefix("http://").split(":")
    require_server("fake Messages API", port_open(host, int(port)), "it failed to start")
    yield api
    api.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per run."""
    path = tmp_path_factory.mktemp("advisor-sqlite") / "treasury.db"

    async def up() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(up())
    return path


@pytest.fixture
async def engine(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh copy of the migrated database."""
    path = tmp_path / "treasury.db"
    shutil.copyfile(sqlite_template, path)
    eng = create_engine(f"sqlite+aiosqlite:///{path}")
    yield eng
    await eng.dispose()


@dataclass
class Desk:
    """One treasury: fakes for market, chain and runner; SQL persistence; a real advisor."""

    clock: FixedClock
    market: FakeMarket
    book: Book
    uow: SqlUnitOfWorkFactory
    cycle: RunDecisionCycle
    claude: ClaudeAdvisor
    advisor: FallbackAdvisor

    async def run(self) -> CycleResult:
        return await self.cycle.execute(CycleCommand(requested_by="test"))

    async def recorded(self, decision_id: str) -> tuple[Decision, dict[str, object]]:
        """The stored decision and the payload of its `decision.created` audit entry."""
        async with self.uow() as uow:
            decision = await uow.decisions.get(decision_id)
            entries = await uow.audit.for_subject("decision", decision_id)
        created = next(e for e in entries if e.action == "decision.created")
        return decision, dict(created.payload)


DeskFactory = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def make_desk(
    engine: AsyncEngine, messages_api: FakeMessagesApi
) -> AsyncIterator[DeskFactory]:
    """Build a Desk whose Claude adapter talks to the fake API (short timeouts, one retry)."""
    made: list[ClaudeAdvisor] = []

    async def build(
        *,
        api_key: str | None = API_KEY,
        timeout_s: float = 3.0,
        max_retries: int = 1,
        cash: int = 400_000,
        holdings: dict[tuple[str, str], Decimal] | None = None,
        mvrv: str = "2",
    ) -> Desk:
        clock = FixedClock()
        fake_market = FakeMarket(market(mvrv=mvrv, fng=60, funding="0.0001"))
        book = Book(cash=Decimal(cash), market=fake_market, clock=clock)
        for key, usd in (holdings or {}).items():
            book.units[key] = usd / book.unit_price(key)
        uow = SqlUnitOfWorkFactory(engine, clock=clock.now)
        claude = ClaudeAdvisor(
            api_key=api_key,
            base_url=messages_api.base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
        made.append(claude)
        advisor = FallbackAdvisor(claude, RulesAdvisor())
        cycle = RunDecisionCycle(
            clock=clock,
            ids=SequentialIds(),
            market=fake_market,
            portfolio=FakePortfolio(book),
            conditions=FakeConditions(),
            advisor=advisor,
            uow=uow,
            runner=FakeRunner(book, uow, clock),
            lock=FakeLock(),
            state_file=FakeStateFile(),
        )
        return Desk(
            clock=clock,
            market=fake_market,
            book=book,
            uow=uow,
            cycle=cycle,
            claude=claude,
            advisor=advisor,
        )

    yield build
    for claude in made:
        await claude.aclose()
