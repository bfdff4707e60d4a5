"""Where a run's finished cases go: the database, or the spool file while it cannot be reached."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from perfwatch.domain.errors import StoreUnavailable
from perfwatch.domain.results import CaseResult, RunInfo


class StoreSink:
    """Where finished cases go: the database, or the spool file when it cannot be reached."""

    def __init__(self, engine, spool_file: Path) -> None:
        self.engine = engine
        self.spool_file = spool_file
        self.spooled = 0

    def run_started(self, run: RunInfo) -> None:
        from perfwatch.store import writes

        try:
            writes.write_run(self.engine, run)
        except StoreUnavailable:
            pass  # the run row travels with every spooled case

    def case(self, run: RunInfo, case: CaseResult) -> None:
        from perfwatch.store import spool, writes

        try:
            writes.write_case(self.engine, run, case)
        except StoreUnavailable:
            spool.spool_case(self.spool_file, run, case)
            self.spooled += 1

    def run_finished(self, run: RunInfo, total: int, failed: int, status: str) -> None:
        from perfwatch.store import spool, writes

        now = datetime.now(timezone.utc).isoformat()
        try:
            writes.finish_run(self.engine, run, now, total, failed, status)
        except StoreUnavailable:
            spool.spool_finish(self.spool_file, run, now, total, failed, status)
            self.spooled += 1
