"""Progress on stderr while a run goes: a bar on a terminal, one line per case in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from perfwatch.domain.results import CaseResult, CaseSpec


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()

    def _bar(self, done: int, width: int = 24) -> str:
        filled = int(width * done / max(self.total, 1))
        return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{self.total}"

    def start(self, i: int, spec: CaseSpec) -> None:
        if self.tty:
            elapsed = time.monotonic() - self.t0
            self.stream.write(f"\r\x1b[K{self._bar(i)} {spec.benchmark} [{spec.mode}] running… ({elapsed:.0f}s)")
            self.stream.flush()

    @staticmethod
    def _line(case: CaseResult) -> str:
        st = case.metric("step_time")
        figure = f"{st.value:.4g} ms" if st else (case.error or "").splitlines()[0][:100] if case.error else ""
        return f"{case.spec.benchmark} [{case.spec.mode}] {case.status} {figure} ({case.duration_s or 0:.1f}s)"

    def repeat(self, rnd: int, rounds: int, case: CaseResult) -> None:
        """A repeat process of an interleaved run (rounds 2..N): one plain line, no bar."""
        self.stream.write(f"round {rnd}/{rounds}: {self._line(case)}\n")
        self.stream.flush()

    def end(self, i: int, case: CaseResult) -> None:
        line = self._line(case)
        if self.tty:
            self.stream.write(f"\r\x1b[K  {line}\n{self._bar(i + 1)}")
            if i + 1 == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{i + 1}/{self.total}] {line}\n")
        self.stream.flush()
