"""Where a run's finished cases go: the database; the spool file while the database cannot take
them; memory while neither can (a full disk), retried with every later record and at the end.

The sink never raises for a record it could not keep: the run goes on measuring, and what could
not be kept anywhere is listed in ``lost`` with the reasons (``db_error``, ``spool_error``) for
the command to report (and exit on) at the end.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perfwatch.domain.errors import StoreError
from perfwatch.domain.results import CaseResult, RunInfo


class StoreSink:
    """Where finished cases go: the database, or the spool file when it cannot be reached."""

    def __init__(self, engine, spool_file: Path) -> None:
        self.engine = engine
        self.spool_file = spool_file
        self.spooled = 0
        self.held: list[dict[str, Any]] = []  # records neither the database nor the spool took, in order
        self.db_error: str | None = None  # the last reason the database refused a record
        self.spool_error: str | None = None  # the last reason the spool refused
        self.lost: list[dict[str, Any]] = []  # after run_finished: what could be kept nowhere

    def run_started(self, run: RunInfo) -> None:
        from perfwatch.store import writes

        try:
            writes.write_run(self.engine, run)
        except StoreError as exc:
            self.db_error = str(exc)  # the run row travels with every spooled case

    def case(self, run: RunInfo, case: CaseResult) -> None:
        from perfwatch.store import spool

        self._keep(spool.case_record(run, case))

    def run_finished(self, run: RunInfo, total: int, failed: int, status: str) -> None:
        from perfwatch.store import spool

        now = datetime.now(timezone.utc).isoformat()
        self._keep(spool.finish_record(run, now, total, failed, status))
        # What is still held had its last chance: the database, then the spool, just now.
        self.lost = list(self.held)

    def lost_names(self) -> list[str]:
        from perfwatch.store import spool

        return [spool.describe(r) for r in self.lost]

    def _keep(self, rec: dict[str, Any]) -> None:
        """Held records first (order kept), then ``rec``: the database, else the spool, else memory."""
        from perfwatch.store import spool

        self.held.append(rec)
        while self.held:
            try:
                spool.write_record(self.engine, self.held[0])
            except StoreError as exc:
                self.db_error = str(exc)
                break
            self.held.pop(0)
        if not self.held:
            return
        try:
            spool.append_records(self.spool_file, self.held)
        except OSError as exc:  # a full or read-only disk: keep them in memory, try again later
            self.spool_error = f"{self.spool_file}: {exc.strerror or exc}"
            return
        self.spooled += len(self.held)
        self.held.clear()
