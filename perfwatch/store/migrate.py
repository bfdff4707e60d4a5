"""Applying the Alembic migrations of db/migrations/ (shipped in the wheel as perfwatch/_migrations)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from perfwatch.domain.errors import StoreError
from perfwatch.store.db_errors import store_errors
from perfwatch.store.engine import no_store, redact
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


def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    return _script().get_current_head()


def known_revision(revision: str) -> bool:
    """Whether this perfwatch's migrations know ``revision`` (not: another application's
    alembic_version table, or a store written by a newer perfwatch)."""
    return revision in {r.revision for r in _script().walk_revisions()}


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


def _where(engine: Engine) -> str:
    return redact(engine.url.render_as_string(hide_password=True))


def _check_known(engine: Engine, current: str) -> None:
    if not known_revision(current):
        raise StoreError(f"the database {_where(engine)} is at schema revision {current!r}, which this perfwatch does "
                         f"not know (its newest is {head_revision()}): a newer perfwatch wrote it, or it is another "
                         "application's database")


def foreign_tables(engine: Engine) -> list[str]:
    """Tables in the database that are not perfwatch's (another application's, a shared server's)."""
    from sqlalchemy import inspect

    from perfwatch.store.models import Base

    ours = set(Base.metadata.tables) | {"alembic_version"}
    with store_errors("cannot reach the database"), engine.connect() as conn:
        return sorted(set(inspect(conn).get_table_names()) - ours)


def check_not_foreign(engine: Engine) -> None:
    """Refuse to create perfwatch's tables beside another application's: a typo in --db (the team's
    shared Postgres database instead of perfwatch's own) must not scatter eight tables into it."""
    others = foreign_tables(engine)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise StoreError(f"the database {_where(engine)} holds tables that are not perfwatch's ({shown}) and no "
                         "perfwatch store: perfwatch will not add its tables there unless told to. Point --db at "
                         "a database of its own, or run `perfwatch db upgrade --into-existing` once to share it")


def ensure_schema(engine: Engine) -> None:
    """Migrate to head if the database is behind (a new database is created on first use, never
    inside another application's database). Only the commands that store results call this."""
    current = current_revision(engine)
    if current is not None:
        _check_known(engine, current)
    else:
        check_not_foreign(engine)
    if current != head_revision():
        upgrade(engine)


def require_schema(engine: Engine) -> None:
    """For the commands that only read: the store must exist at the current schema. Neither
    is fixed here (a read never creates tables, say in a server's maintenance database)."""
    current = current_revision(engine)
    if current is None:
        raise StoreError(no_store(_where(engine)))
    _check_known(engine, current)
    head = head_revision()
    if current != head:
        raise StoreError(f"the perfwatch store at {_where(engine)} is at schema {current}, this perfwatch needs "
                         f"{head}: run `perfwatch db upgrade` (or any `perfwatch run`) to migrate it")
