"""Results that could not reach the database wait here, one JSON line each, until pushed.

A spool file belongs to one database (named by a hash of its URL, password excluded), so
``perfwatch push --db URL`` sends each result where it was meant to go. Writes are idempotent,
so a crash during a push at worst sends a record twice, which the store ignores.

A spool is never a reason not to run:
- an append is all or nothing: a write that fails part-way (a full disk) is cut back to where the
  file ended, and an append after a torn tail (a process killed mid-write) starts on a new line,
  so a torn fragment never swallows the next record;
- a line that is not a whole record is skipped with a warning and moved to ``<spool>.torn`` (so
  nothing is dropped unseen); the good lines around it are pushed;
- a spool path that is not a regular file (a link to /dev/full, say) is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from perfwatch.domain.errors import StoreError
from perfwatch.domain.results import CaseResult, RunInfo
from perfwatch.store import writes
from perfwatch.store.engine import redact
from perfwatch.store.locks import file_lock


def spool_path(spool_dir: Path, url: str) -> Path:
    return spool_dir / (hashlib.sha256(redact(url).encode()).hexdigest()[:16] + ".jsonl")


def torn_path(path: Path) -> Path:
    """Where lines that are not whole records are kept, for a person to look at."""
    return path.with_name(path.name + ".torn")


def _locked(path: Path):
    """Appends and pushes of one spool file take turns (a runner may spool while `push` runs)."""
    return file_lock(str(path) + ".lock")


def case_record(run: RunInfo, case: CaseResult) -> dict[str, Any]:
    return {"kind": "case", "run": run.to_dict(), "case": case.to_dict()}


def finish_record(run: RunInfo, finished_at: str, total: int, failed: int, status: str) -> dict[str, Any]:
    return {"kind": "finish", "run": run.to_dict(), "finished_at": finished_at, "total": total, "failed": failed,
            "status": status}


def describe(rec: dict[str, Any]) -> str:
    """A record as a person names it: `benchmark [mode]` or `the end of run ID`."""
    if rec.get("kind") == "case":
        spec = rec["case"]["spec"]
        return f"{spec['benchmark']} [{spec['mode']}]"
    return f"the end of run {rec['run']['run_id']}"


def write_record(engine: Engine, rec: dict[str, Any]) -> None:
    """One record into the database (idempotent); StoreError (StoreUnavailable) when it cannot."""
    run = RunInfo.from_dict(rec["run"])
    if rec["kind"] == "case":
        writes.write_case(engine, run, CaseResult.from_dict(rec["case"]))
    else:
        writes.finish_run(engine, run, rec["finished_at"], rec["total"], rec["failed"], rec.get("status", "finished"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # a device that takes nothing and says nothing
            raise OSError(28, os.strerror(28))
        view = view[n:]


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Append whole lines or nothing; OSError (a full disk, a read-only folder) when nothing was kept."""
    if not records:
        return
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    with _locked(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            st = os.fstat(fd)
            regular = stat.S_ISREG(st.st_mode)
            size = st.st_size if regular else 0
            if size and _last_byte(path, size) != b"\n":
                data = b"\n" + data  # a torn tail stays a line of its own, skipped by push
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                if regular:  # cut back to whole lines; shrinking works on a full disk too
                    try:
                        os.ftruncate(fd, size)
                    except OSError:
                        pass
                raise
        finally:
            os.close(fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


def append(path: Path, record: dict[str, Any]) -> None:
    append_records(path, [record])


def spool_case(path: Path, run: RunInfo, case: CaseResult) -> None:
    append(path, case_record(run, case))


def spool_finish(path: Path, run: RunInfo, finished_at: str, total: int, failed: int, status: str) -> None:
    append(path, finish_record(run, finished_at, total, failed, status))


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def pending(path: Path) -> int:
    if not _is_file(path):
        return 0
    with open(path, errors="replace") as f:
        return sum(1 for line in f if line.strip())


def _decode(line: str) -> dict[str, Any] | None:
    """A whole record, or None for a torn or foreign line."""
    try:
        rec = json.loads(line)
        RunInfo.from_dict(rec["run"])
        if rec["kind"] == "case":
            CaseResult.from_dict(rec["case"])
        elif rec["kind"] == "finish":
            rec["finished_at"], rec["total"], rec["failed"]  # noqa: B018  (present, or the line is torn)
        else:
            return None
        return rec
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class PushResult(tuple):
    """``(sent, left)`` as callers always had it, with what else a user must hear as attributes:
    ``torn`` lines skipped and the ``torn_file`` they went to (None: left in the spool), the
    ``reason`` records are still pending, and ``problems`` (a spool not read or not rewritten)."""

    def __new__(cls, sent: int, left: int, torn: int = 0, torn_file: Path | None = None, reason: str | None = None,
                problems: tuple[str, ...] = ()) -> "PushResult":
        self = super().__new__(cls, (sent, left))
        self.torn, self.torn_file, self.reason, self.problems = torn, torn_file, reason, problems
        return self

    @property
    def sent(self) -> int:
        return self[0]

    @property
    def left(self) -> int:
        return self[1]

    def warnings(self) -> list[str]:
        out = list(self.problems)
        if self.torn:
            where = f"moved to {self.torn_file}" if self.torn_file else "left in the spool"
            out.append(f"skipped {self.torn} spool line(s) that are not whole records (a write cut short); {where}")
        return out


def push(engine: Engine, path: Path) -> PushResult:
    """Write spooled records; stops at the first that the database refuses (StoreError), and says why."""
    if not path.exists() and not path.is_symlink():
        return PushResult(0, 0)
    if not _is_file(path):
        return PushResult(0, 0, problems=(f"the spool {path} is not a regular file; not read",))
    with _locked(path):
        try:
            lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError as exc:
            return PushResult(0, 0, problems=(f"cannot read the spool {path}: {exc.strerror or exc}",))
        decoded = [(line, _decode(line)) for line in lines]
        bad = [line for line, rec in decoded if rec is None]
        good = [(line, rec) for line, rec in decoded if rec is not None]
        sent, reason = 0, None
        for _, rec in good:
            try:
                write_record(engine, rec)
            except StoreError as exc:
                reason = str(exc)
                break
            sent += 1
        rest = [line for line, _ in good[sent:]]
        torn_file = None
        if bad:
            try:
                with open(torn_path(path), "a") as f:
                    f.write("".join(line + "\n" for line in bad))
                torn_file = torn_path(path)
            except OSError:
                rest = bad + rest  # nowhere else to keep them: they stay, and are skipped again
        problems: tuple[str, ...] = ()
        try:
            if rest:
                tmp = path.with_name(path.name + ".tmp")
                try:
                    tmp.write_text("".join(line + "\n" for line in rest))
                    os.replace(tmp, path)
                except OSError:
                    tmp.unlink(missing_ok=True)
                    raise
            else:
                path.unlink()
        except OSError as exc:
            # The spool keeps every line it had: the next push sends the sent ones again, and the
            # store ignores them (writes are idempotent). Nothing is lost, only repeated.
            problems = (f"cannot rewrite the spool {path} ({exc.strerror or exc}); "
                        f"its {sent} pushed record(s) stay in it and are skipped when pushed again",)
        return PushResult(sent, len(good) - sent, len(bad), torn_file, reason, problems)
