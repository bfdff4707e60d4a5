"""The store's one mapping from database errors to perfwatch's (StoreUnavailable, StoreError).

Every read, write, migration and connection check of the store goes through ``store_errors`` (or
``translate`` where the caller decides first, as the write retry does for lock conflicts), so a
user sees the same one-line reason whichever command hit the database, and no layer above the
store ever sees an SQLAlchemy exception.

- unreachable (OperationalError, InterfaceError: refused, timed out, dropped, locked too long)
  -> StoreUnavailable: ``perfwatch run`` spools on it, the CLI exits 2;
- not a perfwatch store at the expected schema (ProgrammingError on Postgres; on SQLite an
  OperationalError saying "no such table" or "no such column") -> StoreError;
- a disk that refuses the write (SQLite's disk I/O error, "database or disk is full", a read-only
  file; Postgres's disk full) -> StoreUnavailable too (a run spools on it), but the message says
  the disk refused the write and why, in the OS's words ("No space left on device"), never
  "unreachable": SQLite reports a full disk as a bare "disk I/O error", so a hook on every
  engine (``_note_disk_trouble``) looks at the database's folder while the error is fresh.

Other driver errors (IntegrityError, DataError) are left alone: every write is idempotent and
typed, so one of those is a bug in perfwatch, and its traceback is what a report needs.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from perfwatch.domain.errors import StoreError, StoreUnavailable

UNREACHABLE = "cannot read the database"
NOT_A_STORE = "the database is not a perfwatch store at the current schema"


def first_line(exc: BaseException) -> str:
    """The driver's message (not SQLAlchemy's wrapper with the statement and a link), first line only."""
    msg = str(getattr(exc, "orig", None) or exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """A lock conflict that is worth retrying: SQLite's busy lock, a Postgres deadlock or
    serialization failure."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in text or "deadlock" in text or "could not serialize" in text


def _missing_schema(exc: BaseException) -> bool:
    # SQLite reports a missing table as an OperationalError, where Postgres has a ProgrammingError.
    return first_line(exc).startswith(("no such table", "no such column"))


# SQLite's result codes (Python 3.11+: sqlite_errorname) and messages of a file it cannot write.
_SQLITE_DISK_CODES = ("SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN")
_SQLITE_DISK_TEXT = ("disk i/o error", "database or disk is full", "attempt to write a readonly database",
                     "unable to open database file")
_PG_DISK_FULL = "53100"  # SQLSTATE disk_full


def _sqlite_disk_error(orig: BaseException) -> bool:
    name = getattr(orig, "sqlite_errorname", None) or ""
    return name.startswith(_SQLITE_DISK_CODES) or str(orig).strip().lower().startswith(_SQLITE_DISK_TEXT)


def disk_reason(folder: Path) -> str | None:
    """Why files in ``folder`` cannot be written, in the OS's words, or None when nothing is found.

    A real probe write (64 KiB, fsynced) answers for a full disk, a quota, a read-only mount or a
    file size limit alike; free space and ``ulimit -f`` explain what the probe alone cannot."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError) as exc:  # AttributeError: no statvfs (Windows)
        return getattr(exc, "strerror", None)
    free = st.f_bavail * st.f_frsize
    where = f"{free} bytes free in {folder}"
    if st.f_flag & getattr(os, "ST_RDONLY", 1):
        return f"read-only file system ({folder})"
    if st.f_files and st.f_favail == 0:
        return f"no free inodes ({where})"
    name = None
    try:
        fd, name = tempfile.mkstemp(prefix=".perfwatch-probe-", dir=folder)
        try:
            block = b"\0" * 65536
            if os.write(fd, block) < len(block):
                return f"No space left on device ({where})"
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return f"{exc.strerror or exc} ({where})"
    finally:
        if name:
            try:
                os.unlink(name)
            except OSError:
                pass
    if free < 1 << 20:
        return f"the disk is nearly full ({where})"
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY:
            return f"the file size limit (ulimit -f) is {soft} bytes"
    except (ImportError, OSError, ValueError):
        pass
    return None


@event.listens_for(Engine, "handle_error")
def _note_disk_trouble(ctx) -> None:  # noqa: ANN001
    """While a SQLite disk error is fresh, note the database file and the OS's reason on it
    (the driver's exception carries neither); ``translate`` words the message from them."""
    orig = ctx.original_exception
    if ctx.dialect is None or ctx.dialect.name != "sqlite" or not _sqlite_disk_error(orig):
        return
    database = ctx.engine.url.database if ctx.engine is not None else None
    if not database or database == ":memory:":
        return
    path = Path(database)
    try:
        orig.perfwatch_disk = (str(path), disk_reason(path.parent))
    except AttributeError:  # an exception type that takes no attributes: the plain message it is
        pass


def _disk_message(exc: BaseException) -> str | None:
    """The message for a disk that refused the write, or None for any other error."""
    orig = getattr(exc, "orig", None) or exc
    if str(getattr(orig, "sqlstate", "") or "") == _PG_DISK_FULL or "no space left on device" in str(orig).lower():
        return f"the database server's disk is full: {first_line(exc)}"
    if not _sqlite_disk_error(orig):
        return None
    path, reason = getattr(orig, "perfwatch_disk", (None, None))
    driver = first_line(exc) + (f", {orig.sqlite_errorname}" if getattr(orig, "sqlite_errorname", None) else "")
    target = f"the database file {path}" if path else "the database file"
    if reason:
        return f"cannot write {target}: {reason} (SQLite: {driver})"
    if "full" in driver.lower():
        return f"cannot write {target}: the disk is full (SQLite: {driver})"
    return None  # no OS reason found (a missing folder, say): the usual wording


TRANSLATED = (OperationalError, InterfaceError, ProgrammingError)


def translate(exc: OperationalError | InterfaceError | ProgrammingError, unreachable: str = UNREACHABLE,
              invalid: str = NOT_A_STORE) -> StoreError:
    """perfwatch's error for a database error; ``unreachable`` and ``invalid`` say what was being done."""
    if isinstance(exc, ProgrammingError) or _missing_schema(exc):
        return StoreError(f"{invalid}: {first_line(exc)}")
    disk = _disk_message(exc)
    if disk:  # the database is there; its disk refused the write: say so, not "unreachable"
        return StoreUnavailable(disk)
    return StoreUnavailable(f"{unreachable}: {first_line(exc)}")


@contextmanager
def store_errors(unreachable: str = UNREACHABLE, invalid: str = NOT_A_STORE) -> Iterator[None]:
    """Translate database errors raised inside the block (or, as ``@store_errors()``, the function)."""
    try:
        yield
    except TRANSLATED as exc:
        # from None: the SQLAlchemy chain (statement, parameters, a link) is noise to a user.
        raise translate(exc, unreachable, invalid) from None
