"""From a database URL to a configured SQLAlchemy engine.

SQLite: a file in WAL mode with a busy timeout, and write transactions that take the write lock
up front (BEGIN IMMEDIATE) so concurrent runners queue instead of failing on a lock upgrade.
Postgres: ``postgresql+psycopg://`` (psycopg 3, the ``postgres`` extra); a bare
``postgresql://`` is taken to mean the same.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

from perfwatch.domain.config import redact  # noqa: F401  (re-exported)
from perfwatch.domain.errors import ConfigError, StoreError
from perfwatch.store.db_errors import first_line, store_errors

SQLITE_BUSY_MS = 60_000


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def no_store(url: str) -> str:
    """What a read-only command says about a database that holds no perfwatch store."""
    return (f"no perfwatch store at {redact(url)}; run `perfwatch run` or `perfwatch db upgrade` first "
            "(commands that only read never create one)")


def _parse(url: str):
    if "\x00" in url:
        raise ConfigError("invalid database URL: it contains a NUL byte")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"invalid database URL {redact(url)!r}; expected sqlite:///path/to/file.db or postgresql+psycopg://user@host/db") from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ConfigError(f"invalid database URL {redact(url)!r}: the port must be a number") from None
    if parsed.host and "@" in parsed.host:
        # SQLAlchemy splits user:password@host at the first '@': the rest of the password would be
        # taken for the host (and shown in the driver's "cannot resolve host" message)
        raise ConfigError(f"invalid database URL {redact(url)!r}: an '@' in the password must be written %40")
    return parsed


def describe(url: str) -> str:
    """The URL as a run's header shows it (password hidden); a relative SQLite path is spelled out,
    since sqlite:///data/perf.db (three slashes: relative) is a common slip for sqlite:////data/perf.db."""
    shown = redact(url)
    try:
        parsed = _parse(normalize_url(url))
    except ConfigError:
        return shown
    db = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and db and not _is_memory(parsed) and not Path(db).expanduser().is_absolute():
        return f"{shown} (relative: {Path(db).expanduser().resolve()})"
    return shown


def _is_memory(parsed) -> bool:
    db = parsed.database or ""
    return (parsed.get_backend_name() == "sqlite"
            and (db in ("", ":memory:") or db.startswith("file::memory:") or parsed.query.get("mode") == "memory"))


def reject_in_memory(url: str) -> None:
    """A command that stores refuses an in-memory SQLite database: it would exit 0 having kept nothing."""
    if _is_memory(_parse(normalize_url(url))):
        raise ConfigError(f"{redact(url)} is an in-memory SQLite database: whatever is stored there is gone when "
                          "perfwatch exits; give a file, e.g. sqlite:///perfwatch.db")


def make_engine(url: str, create: bool = True) -> Engine:
    """The engine for ``url``. ``create=False`` (read-only commands): a SQLite file that does not
    exist is not created (nor its folder); it is a StoreError saying there is no store."""
    url = normalize_url(url)
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {backend!r} in {redact(url)!r}; perfwatch stores in SQLite or Postgres")
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed, create, url)
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ConfigError(f"invalid database URL {redact(url)!r}: port {parsed.port} is out of range")
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except NoSuchModuleError:
        raise ConfigError(f"no driver for {redact(url)!r}") from None
    except ModuleNotFoundError as exc:
        from perfwatch.domain.optional import install_hint
        from perfwatch.domain.errors import MissingExtra

        raise MissingExtra(f"the database driver is missing ({exc.name}); install it with: {install_hint('postgres')}") from None


def _sqlite_engine(parsed, create: bool = True, url: str = "") -> Engine:
    db = parsed.database
    if db and not _is_memory(parsed):
        path = Path(db).expanduser()
        if not create and not path.is_file():
            raise StoreError(no_store(url or str(parsed)))
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create the directory for {path}: {exc}") from None
        parsed = parsed.set(database=str(path))
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE is possible.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get("perfwatch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def check_connection(engine: Engine) -> None:
    """Fail early and clearly when the database cannot be reached."""
    where = redact(str(engine.url.render_as_string(hide_password=True)))
    try:
        with store_errors(f"cannot reach the database {where}"), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DatabaseError as exc:  # what store_errors leaves: SQLite's "file is not a database"
        hint = " (is it an SQLite database file?)" if engine.dialect.name == "sqlite" else ""
        raise StoreError(f"cannot open the database {where}: {first_line(exc)}{hint}") from None
