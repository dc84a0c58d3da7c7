"""The paper-only routes on a real paper runtime (SQLite, the in-process dev chain, the
simulated market), called in-process through the real app."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.cycle import CycleCommand, CycleOutcome
from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, Runtime, bootstrap
from entrypoints.paper_routes import paper_routes

OPERATOR = "paper-operator-token-0001"
APPROVER = "paper-approver-token-0001"

# One service for the module; the tests run in file order on it.
pytestmark = [pytest.mark.slow(seconds=60), pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Paper:
    runtime: Runtime
    client: AsyncTestClient[Litestar]
    data_dir: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def paper(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Paper]:
    """One paper service for the module (start-up deploys the dev chain: slow)."""
    data_dir = tmp_path_factory.mktemp("paper-routes") / "var"
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("TREASURY_")]:
            env.delenv(key)
        env.setenv("TREASURY_MODE", "paper")
        env.setenv("TREASURY_DATA_DIR", str(data_dir))
        env.setenv("TREASURY_PAPER_START", "cash")
        env.setenv("TREASURY_API_TOKENS", f"{OPERATOR}:operator,{APPROVER}:approver")
        previous = os.umask(0o022)  # the usual default, under which files come out readable
        try:
            runtime = await bootstrap(AppSettings.load())
        finally:
            os.umask(previous)
    try:
        assert await runtime.election.try_lead(runtime.take_over)  # alone: it leads at once
        app = create_app(runtime.services, runtime.tokens, extra_routes=paper_routes(runtime))
        async with AsyncTestClient(app=app) as client:
            yield Paper(runtime=runtime, client=client, data_dir=data_dir)
    finally:
        await runtime.aclose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def audit_tail(paper: Paper) -> list[dict[str, object]]:
    response = await paper.client.get("/audit", params={"count": 1000})
    assert response.status_code == 200
    return list(response.json())


async def test_advancing_paper_time_is_audited_with_its_actor_and_so_are_the_expiries_it_causes(
    paper: Paper,
) -> None:
    result = await paper.runtime.services.cycle.execute(CycleCommand(requested_by="approver:x"))
    assert result.outcome is CycleOutcome.PENDING_APPROVAL  # $400K of cash: a large first move
    decision_id = result.decision.id

    response = await paper.client.post("/paper/advance", json={"days": 2}, headers=auth(OPERATOR))

    assert response.status_code == 200, response.text
    entries = await audit_tail(paper)
    [advanced] = [e for e in entries if e["action"] == "paper.advanced"]
    assert str(advanced["actor"]).startswith("operator:")
    assert advanced["payload"]["days"] == 2  # type: ignore[index]
    [expired] = [
        e for e in entries if e["action"] == "decision.expired" and e["subject_id"] == decision_id
    ]
    assert expired["actor"] == advanced["actor"]
    assert expired["payload"]["caused_by"] == "paper.advanced"  # type: ignore[index]
    assert expired["payload"]["caused_by_seq"] == advanced["seq"]  # type: ignore[index]
    assert int(expired["seq"]) > int(advanced["seq"])  # type: ignore[call-overload]
    decision = (await paper.client.get(f"/decisions/{decision_id}")).json()
    assert decision["status"] == "expired"
    assert response.json()["expired_decisions"] == [decision_id]


LOOSE_PAPER_BODIES = [
    ("/paper/advance", b'{"days": true}', OPERATOR),
    ("/paper/advance", b'{"days": "1"}', OPERATOR),
    ("/paper/advance", b'{"days": 1.5}', OPERATOR),
    ("/paper/advance", b'{"days": 1, "days": 2}', OPERATOR),
    ("/paper/advance", b'{"days": "\xff\xfe"}', OPERATOR),
    ("/paper/fund", b'{"usd": "1e-400"}', APPROVER),
    ("/paper/fund", b'{"usd": 1e-400}', APPROVER),
    ("/paper/fund", b'{"usd": 0.0000001}', APPROVER),
    ("/paper/fund", b'{"usd": "\xff\xfe"}', APPROVER),
]


async def test_paper_routes_refuse_loose_values_with_400_and_store_nothing(paper: Paper) -> None:
    before = await audit_tail(paper)
    answers = {}
    for path, body, token in LOOSE_PAPER_BODIES:
        headers = {**auth(token), "Content-Type": "application/json"}
        response = await paper.client.post(path, content=body, headers=headers)
        answers[(path, body)] = (response.status_code, response.json().get("error", "")[:60])
    assert all(status == 400 and error for status, error in answers.values()), answers
    assert await audit_tail(paper) == before


async def test_the_data_directory_and_the_database_files_are_private_to_the_owner(
    paper: Paper,
) -> None:
    await paper.runtime.services.cycle.execute(CycleCommand())
    assert stat.S_IMODE(paper.data_dir.stat().st_mode) == 0o700
    database = [p for p in paper.data_dir.iterdir() if p.name.startswith("treasury.db")]
    assert {p.name for p in database} >= {"treasury.db", "treasury.db-wal"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in database} == {
        p.name: 0o600 for p in database
    }


async def test_an_audit_entry_written_without_a_time_is_stamped_by_the_service_clock(
    paper: Paper,
) -> None:
    # The unit of work is given the service's clock: an entry with no explicit time takes the
    # clock's now (the simulated time in paper mode), it does not fail.
    async with paper.runtime.uow() as uow:
        entry = await uow.audit.append("test:clock", "test.clock", "test", "clock", {})
        await uow.commit()
    assert abs(entry.at - paper.runtime.clock.now()).total_seconds() < 60
