"""Applying the Alembic migrations of db/migrations/ (shipped in the wheel as perfwatch/_migrations)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from perfwatch.domain.errors import StoreError, StoreUnavailable

# Any constant: serializes concurrent `perfwatch run`s migrating one Postgres database.
_PG_LOCK_KEY = 0x70657266


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

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot reach the database: {exc.orig if hasattr(exc, 'orig') else exc}") from None


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; safe to call from several processes at once."""
    from alembic import command

    try:
        with engine.connect().execution_options(perfwatch_write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                command.upgrade(_alembic_config(conn), revision)
                conn.commit()
            finally:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                    conn.commit()
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot migrate the database: {getattr(exc, 'orig', exc)}") from None
    except ProgrammingError as exc:
        raise StoreError(f"migration failed: {getattr(exc, 'orig', exc)}") from None
    return current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """Migrate to head if the database is behind (a new database is created on first use)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
