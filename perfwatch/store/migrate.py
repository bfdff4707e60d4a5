"""Applying the Alembic migrations of db/migrations/ (shipped in the wheel as perfwatch/_migrations)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from perfwatch.domain.errors import StoreError
from perfwatch.store.db_errors import store_errors
from perfwatch.store.locks import db_lock


def migrations_dir() -> Path:
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg / "_migrations", pkg.parent / "db" / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError("perfwatch's database migrations are missing from this installation")


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store_errors("cannot reach the database"), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; safe to call from several processes at once."""
    from alembic import command

    # Concurrent `perfwatch run`s on a new database: one migrates, the others then find it current.
    with (db_lock(engine, "migrate"), store_errors("cannot migrate the database", invalid="migration failed"),
          engine.connect().execution_options(perfwatch_write=True) as conn):
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()
    return current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """Migrate to head if the database is behind (a new database is created on first use)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
