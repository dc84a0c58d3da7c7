"""Schema migrations, usable from code: upgrade, downgrade, current revision, head, drift check,
and the start-up guard that refuses a database whose schema is behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import redacted
from adapters.persistence.errors import SchemaBehind, SchemaUnknown, database_errors
from adapters.persistence.tables import Base
from adapters.persistence.types import ExactDecimal, UtcDateTime

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("timezone", "UTC")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types by name in generated migrations."""
    if type_ == "type" and isinstance(obj, ExactDecimal):
        return "ExactDecimal()"
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "UtcDateTime()"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Compare only our own tables (and never Alembic's version table)."""
    if type_ == "table":
        return name in Base.metadata.tables
    return True


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migrations found")
    return head


def known_revisions() -> set[str]:
    """Every revision shipped with the code."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _with_connection(connection: Connection) -> Config:
    config = alembic_config()
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database up to `revision` (head by default)."""
    async with (
        database_errors(redacted(engine.url), "upgrading the schema"),
        engine.begin() as connection,
    ):
        await connection.run_sync(lambda c: command.upgrade(_with_connection(c), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    """Migrate the database down to `revision` (empty by default)."""
    async with (
        database_errors(redacted(engine.url), "downgrading the schema"),
        engine.begin() as connection,
    ):
        await connection.run_sync(lambda c: command.downgrade(_with_connection(c), revision))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with (
        database_errors(redacted(engine.url), "reading the schema revision"),
        engine.connect() as connection,
    ):
        return await connection.run_sync(_current)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaStatus:
    """Where the database is against what the code needs."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """Whether the database is at head."""
        return self.current == self.head


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """The database's revision and the code's head."""
    return SchemaStatus(current=await current_revision(engine), head=head_revision())


async def ensure_schema_current(engine: AsyncEngine, *, auto_upgrade: bool = False) -> SchemaStatus:
    """Refuse to run against a database that is behind, or upgrade it when allowed (paper mode).

    Raises:
        SchemaBehind: the database is older than the code and `auto_upgrade` is off; the
            message names `treasury db upgrade`.
        SchemaUnknown: the database is at a revision this code does not ship.
    """
    status = await schema_status(engine)
    if status.up_to_date:
        return status
    if status.current is not None and status.current not in known_revisions():
        raise SchemaUnknown(status.current, status.head)
    if not auto_upgrade:
        raise SchemaBehind(status.current, status.head)
    await upgrade(engine)
    return await schema_status(engine)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": include_name, "render_item": render_item},
    )
    return list(compare_metadata(context, Base.metadata))


async def schema_drift(engine: AsyncEngine) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: none)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_diff)
