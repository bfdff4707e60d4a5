"""Results that could not reach the database wait here, one JSON line each, until pushed.

A spool file belongs to one database (named by a hash of its URL, password excluded), so
``perfwatch push --db URL`` sends each result where it was meant to go. Writes are idempotent,
so a crash during a push at worst sends a record twice, which the store ignores.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from perfwatch.domain.errors import StoreUnavailable
from perfwatch.domain.results import CaseResult, RunInfo
from perfwatch.store import writes
from perfwatch.store.engine import redact
from perfwatch.store.locks import file_lock


def spool_path(spool_dir: Path, url: str) -> Path:
    return spool_dir / (hashlib.sha256(redact(url).encode()).hexdigest()[:16] + ".jsonl")


def _locked(path: Path):
    """Appends and pushes of one spool file take turns (a runner may spool while `push` runs)."""
    return file_lock(str(path) + ".lock")


def append(path: Path, record: dict[str, Any]) -> None:
    with _locked(path):
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


def spool_case(path: Path, run: RunInfo, case: CaseResult) -> None:
    append(path, {"kind": "case", "run": run.to_dict(), "case": case.to_dict()})


def spool_finish(path: Path, run: RunInfo, finished_at: str, total: int, failed: int, status: str) -> None:
    append(path, {"kind": "finish", "run": run.to_dict(), "finished_at": finished_at, "total": total, "failed": failed,
                  "status": status})


def pending(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def push(engine: Engine, path: Path) -> tuple[int, int]:
    """Write spooled records; returns (sent, still pending). Stops at the first unreachable error."""
    if not path.exists():
        return 0, 0
    with _locked(path):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        sent = 0
        try:
            for line in lines:
                rec = json.loads(line)
                run = RunInfo.from_dict(rec["run"])
                if rec["kind"] == "case":
                    writes.write_case(engine, run, CaseResult.from_dict(rec["case"]))
                else:
                    writes.finish_run(engine, run, rec["finished_at"], rec["total"], rec["failed"], rec.get("status", "finished"))
                sent += 1
        except StoreUnavailable:
            pass
        rest = lines[sent:]
        if rest:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in rest))
            os.replace(tmp, path)
        else:
            path.unlink()
        return sent, len(rest)
