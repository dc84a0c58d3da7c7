"""`treasury db`, `treasury audit` and `treasury state` against a SQLite file."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.cli.main import app
from tests.contracts.persistence import make_state

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TREASURY_DATA_DIR": str(tmp_path / "var"), "TREASURY_DATABASE_URL": ""}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def seed(url: str, *, tamper: bool = False) -> None:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWorkFactory(engine)() as uow:
            await uow.snapshots.add(make_state())
            for i in range(3):
                await uow.audit.append("cycle", "step", "plan", "plan-1", {"i": i})
            await uow.commit()
        if tamper:
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 2"))
    finally:
        await engine.dispose()


def db_url(env: dict[str, str]) -> str:
    return f"sqlite+aiosqlite:///{Path(env['TREASURY_DATA_DIR']).resolve() / 'treasury.db'}"


def test_db_current_on_a_new_data_dir_says_to_upgrade_and_fails(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "db", "current")
    assert code == 1
    assert "revision none" in out
    assert "treasury db upgrade" in out


def test_db_upgrade_brings_the_database_to_head(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "db", "upgrade")
    assert code == 0, out
    assert f"empty -> {migrate.head_revision()}" in out
    assert (Path(env["TREASURY_DATA_DIR"]) / "treasury.db").exists()
    code, out, _ = invoke(env, "db", "current")
    assert code == 0
    assert "up to date" in out


def test_commands_refuse_a_database_that_is_behind_and_name_the_fix(env: dict[str, str]) -> None:
    code, out, err = invoke(env, "audit", "verify")
    assert code == 1
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "run `treasury db upgrade`" in err


def test_audit_verify_reports_an_intact_chain(env: dict[str, str]) -> None:
    invoke(env, "db", "upgrade")
    asyncio.run(seed(db_url(env)))
    code, out, _ = invoke(env, "audit", "verify")
    assert code == 0
    assert out.startswith("audit chain intact: 3 entries")


def test_audit_verify_names_the_first_tampered_row(env: dict[str, str]) -> None:
    invoke(env, "db", "upgrade")
    asyncio.run(seed(db_url(env), tamper=True))
    code, _, err = invoke(env, "audit", "verify")
    assert code == ExitCode.AUDIT_BROKEN  # not 2: that is invalid input
    assert "audit chain broken at seq 2" in err


def test_audit_tail_prints_the_newest_entries(env: dict[str, str]) -> None:
    invoke(env, "db", "upgrade")
    asyncio.run(seed(db_url(env)))
    code, out, _ = invoke(env, "audit", "tail", "-n", "2")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["2", "3"]
    assert lines[-1].endswith('{"i":2}')


def test_state_export_writes_the_latest_snapshot(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "db", "upgrade")
    asyncio.run(seed(db_url(env)))
    target = tmp_path / "out" / "state.json"
    code, out, _ = invoke(env, "state", "export", str(target))
    assert code == 0, out
    data = json.loads(target.read_text(), parse_float=Decimal)
    assert data["total_value_usd"] == make_state().total_value_usd
    assert {"positions", "cash_balance", "allocations", "last_rebalance"} <= set(data)


def test_state_export_defaults_to_the_data_dir(env: dict[str, str]) -> None:
    invoke(env, "db", "upgrade")
    asyncio.run(seed(db_url(env)))
    code, _, _ = invoke(env, "state", "export")
    assert code == 0
    assert (Path(env["TREASURY_DATA_DIR"]) / "portfolio_state.json").exists()


def test_state_export_without_any_snapshot_fails_with_one_line(env: dict[str, str]) -> None:
    invoke(env, "db", "upgrade")
    code, _, err = invoke(env, "state", "export")
    assert code == 1
    assert err == "error: no portfolio snapshot yet: run a decision cycle first\n"


def test_an_unreachable_database_is_a_one_line_temporary_failure(env: dict[str, str]) -> None:
    unreachable = {**env, "TREASURY_DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:1/x"}
    code, out, err = invoke(unreachable, "audit", "verify")
    assert code == 75
    assert err.startswith("error: database postgresql+asyncpg://u:***@127.0.0.1:1/x")
    assert "pw" not in err + out
