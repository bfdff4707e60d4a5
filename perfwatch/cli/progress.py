"""Progress on stderr while a run goes: a bar on a terminal, one line per case in logs."""

from __future__ import annotations

import sys
import time
from typing import Sequence, TextIO

from perfwatch.domain.results import CaseResult, CaseSpec


def fmt_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, specs: Sequence[CaseSpec] | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.specs = list(specs or [])
        self.took: dict[str, list[float]] = {}  # mode -> durations of finished cases

    def eta(self, done: int) -> float | None:
        """Seconds left: each remaining case costs what finished cases of its mode took on average
        (a compiled case costs several eager ones), or what any case took when its mode has none yet."""
        if not self.took or len(self.specs) != self.total:
            return None
        every = [d for ds in self.took.values() for d in ds]
        overall = sum(every) / len(every)
        left = 0.0
        for spec in self.specs[done:]:
            ds = self.took.get(spec.mode)
            left += sum(ds) / len(ds) if ds else overall
        return left

    def _eta_text(self, done: int) -> str:
        left = self.eta(done)
        return f", about {fmt_eta(left)} left" if left is not None and done < self.total else ""

    def _bar(self, done: int, width: int = 24) -> str:
        filled = int(width * done / max(self.total, 1))
        return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{self.total}"

    def start(self, i: int, spec: CaseSpec) -> None:
        if self.tty:
            elapsed = time.monotonic() - self.t0
            self.stream.write(f"\r\x1b[K{self._bar(i)} {spec.benchmark} [{spec.mode}] running… "
                              f"({elapsed:.0f}s{self._eta_text(i)})")
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
        self.took.setdefault(case.spec.mode, []).append(case.duration_s or 0.0)
        line = self._line(case)
        if self.tty:
            self.stream.write(f"\r\x1b[K  {line}\n{self._bar(i + 1)}")
            if i + 1 == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{i + 1}/{self.total}] {line}{self._eta_text(i + 1)}\n")
        self.stream.flush()
