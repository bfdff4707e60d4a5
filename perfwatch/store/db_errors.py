"""The store's one mapping from database errors to perfwatch's (StoreUnavailable, StoreError).

Every read, write, migration and connection check of the store goes through ``store_errors`` (or
``translate`` where the caller decides first, as the write retry does for lock conflicts), so a
user sees the same one-line reason whichever command hit the database, and no layer above the
store ever sees an SQLAlchemy exception.

- unreachable (OperationalError, InterfaceError: refused, timed out, dropped, locked too long)
  -> StoreUnavailable: ``perfwatch run`` spools on it, the CLI exits 2;
- not a perfwatch store at the expected schema (ProgrammingError on Postgres; on SQLite an
  OperationalError saying "no such table" or "no such column") -> StoreError.

Other driver errors (IntegrityError, DataError) are left alone: every write is idempotent and
typed, so one of those is a bug in perfwatch, and its traceback is what a report needs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

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


TRANSLATED = (OperationalError, InterfaceError, ProgrammingError)


def translate(exc: OperationalError | InterfaceError | ProgrammingError, unreachable: str = UNREACHABLE,
              invalid: str = NOT_A_STORE) -> StoreError:
    """perfwatch's error for a database error; ``unreachable`` and ``invalid`` say what was being done."""
    if isinstance(exc, ProgrammingError) or _missing_schema(exc):
        return StoreError(f"{invalid}: {first_line(exc)}")
    return StoreUnavailable(f"{unreachable}: {first_line(exc)}")


@contextmanager
def store_errors(unreachable: str = UNREACHABLE, invalid: str = NOT_A_STORE) -> Iterator[None]:
    """Translate database errors raised inside the block (or, as ``@store_errors()``, the function)."""
    try:
        yield
    except TRANSLATED as exc:
        # from None: the SQLAlchemy chain (statement, parameters, a link) is noise to a user.
        raise translate(exc, unreachable, invalid) from None
