"""The one lock helper: serialize processes that share a database or a file.

``db_lock(engine, name)``: on Postgres a session advisory lock whose key is derived from
``name`` (so each use — migrations, notifiers — has its own lock, and no key constant can clash
with another); on SQLite a lock file ``<file>.<name>-lock`` beside the database (one SQLite file
lives on one host, so a file lock serializes everyone who can open it).
``file_lock(path)``: an exclusive ``flock`` on ``path`` (created if missing).

The lock lives on its own connection and is taken outside any transaction, so holding it while
talking to Slack or running Alembic on another connection leaves no transaction open.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

from perfwatch.store.db_errors import store_errors

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent processes on one SQLite file or spool are rare there
    fcntl = None


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock(bigint), the same in every process."""
    return int.from_bytes(hashlib.sha256(f"perfwatch:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        if fcntl is None:
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def db_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the database-wide lock ``name`` for the duration of the block."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, advisory_key(name)):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":  # a private database: nobody to wait for
        yield
        return
    with file_lock(Path(database).with_name(f"{Path(database).name}.{name}-lock")):
        yield


@contextlib.contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    with store_errors("database unreachable"):
        conn = engine.connect()
    with conn:
        with store_errors("database unreachable"):
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()  # a session lock: no transaction stays open while the block runs
        try:
            yield
        finally:
            # If the connection died the server has dropped the lock with the session already.
            with store_errors("database unreachable"):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
