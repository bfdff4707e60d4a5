"""Helpers shared by the command modules: configuration, the store's engine, and how records
print (JSON, relative changes)."""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator, TextIO


def add_case_selection(p: argparse.ArgumentParser) -> None:
    """Which cases a command measures: suite, backend, modes, benchmarks, size, dtype (run, ab)."""
    from perfwatch.domain.vocab import MODES

    p.add_argument("--suite", required=True, help="suite name (see `perfwatch suites`) or path/to/suite.py")
    p.add_argument("--backend", default="auto", help="cpu, cuda, mps or auto (default: auto)")
    p.add_argument("--modes", default=",".join(MODES),
                   help="comma-separated: eager, default, reduce-overhead, max-autotune (default: all)")
    p.add_argument("--benchmarks", default="", help="comma-separated benchmark names (default: all in the suite)")
    p.add_argument("--size", default="auto", help="tiny, small, medium, large or auto (tiny on cpu, medium on cuda)")
    p.add_argument("--dtype", default="float32", help="parameter dtype (default float32; bf16 autocast on cuda)")


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: $PERFWATCH_DB_URL, then the SQLite file "
                   "under $PERFWATCH_HOME or ~/.local/share/perfwatch)")


def config(args: argparse.Namespace, **extra: Any):
    from perfwatch.domain.config import load_config

    return load_config({"db_url": getattr(args, "db", None), **extra})


def engine(cfg, write: bool = False):
    """A checked engine for the configured database.

    ``write=True`` (run, ab, import, demo-data, push): the commands that store results create
    the schema or migrate it to the current one. Every other command only reads (or updates
    rows that exist), so it never creates a table: a database without a perfwatch store, or with
    one at an older schema, is exit 2 with what to run; its SQLite file is not even created.
    """
    from perfwatch.store.engine import check_connection, make_engine, reject_in_memory
    from perfwatch.store.migrate import ensure_schema, require_schema

    url = cfg.resolved_db_url()
    if write:
        reject_in_memory(url)
    eng = make_engine(url, create=write)
    check_connection(eng)
    if write:
        ensure_schema(eng)
    else:
        require_schema(eng)
    return eng


@contextmanager
def open_output(path: str, newline: str | None = None) -> Iterator[TextIO]:
    """``path`` opened for writing text; a missing folder or no permission is exit 2 with the
    reason, never a traceback (report -o, export -o)."""
    from perfwatch.domain.errors import UsageError

    try:
        f = open(path, "w", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with f:
            yield f
    except OSError as exc:  # the disk filled up (on a write or the final flush)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def push_spool(eng, cfg, quiet: bool = False):
    """Push the spool; returns its ``PushResult`` (unpacks as ``sent, left``)."""
    from perfwatch.store import spool

    path = spool.spool_path(cfg.resolved_spool_dir(), cfg.resolved_db_url())
    result = spool.push(eng, path)
    sent, left = result
    for warning in result.warnings():  # torn lines skipped, a spool that could not be read or rewritten
        print(f"perfwatch: {warning}", file=sys.stderr)
    if sent and not quiet:
        print(f"pushed {sent} spooled result(s) to the database"
              + (f"; {left} still pending ({result.reason})" if left else ""), file=sys.stderr)
    return result


def print_json(obj: Any) -> None:
    import json

    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def jsonable(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` ready for JSON: datetimes as ISO text, infinite changes as "inf"/"-inf"."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, float) and not math.isfinite(v):
            v = "inf" if v > 0 else "-inf"
        out[k] = v
    return out


def fmt_change(x: float) -> str:
    """A relative change as a table shows it: +12.3%, or +inf/-inf from or to zero."""
    return ("+inf" if x > 0 else "-inf") if not math.isfinite(x) else f"{x * 100:+.1f}%"
