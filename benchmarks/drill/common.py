"""What every drill check shares: run the real CLI, classify what happened.

A check is a function ``check(work: Path) -> list[Result]`` registered in its module's ``CHECKS``
list. It injects one fault for real (a torn spool line, a full disk, kill -9, a dropped database, a
hostile input) into a scratch directory ``work`` and reports, per attempt, one of:

- ``clean``:     a clear message and a documented exit code (or success), nothing lost or leaked;
- ``traceback``: a Python traceback reached the user (or an undocumented exit code);
- ``lost``:      something already stored or measured is gone, or a run never ran;
- ``leaked``:    a secret was printed, a file written outside its directory, a process or
                 temporary directory left behind, a hostile string rendered live.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTCOMES = ("clean", "traceback", "lost", "leaked")
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 130}


@dataclass
class Result:
    item: int  # the fault's number in issue 20
    name: str
    outcome: str  # one of OUTCOMES
    detail: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")


@dataclass
class Cli:
    """The perfwatch command line as a user runs it, in a scratch home."""

    work: Path
    env: dict = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 300, cwd: Path | None = None,
                 extra_env: dict | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PERFWATCH_HOME": str(self.work / "home"), "PYTHONPATH": str(REPO),
               **self.env, **(extra_env or {})}
        env.pop("PERFWATCH_DB_URL", None) if "PERFWATCH_DB_URL" not in self.env else None
        return subprocess.run([sys.executable, "-m", "perfwatch", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=str(cwd or self.work), env=env)


def has_traceback(proc: subprocess.CompletedProcess) -> bool:
    return "Traceback (most recent call last)" in (proc.stderr or "") + (proc.stdout or "")


def judge(item: int, name: str, proc: subprocess.CompletedProcess, *, expect_codes=None,
          lost: bool = False, leaked: bool = False, detail: str = "") -> Result:
    """The usual verdict on one CLI call: traceback or undocumented code first, then lost, leaked."""
    codes = expect_codes if expect_codes is not None else DOCUMENTED_EXIT_CODES
    if has_traceback(proc) or proc.returncode not in codes:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
        return Result(item, name, "traceback", f"exit {proc.returncode}: {tail[0][:160]}")
    if lost:
        return Result(item, name, "lost", detail)
    if leaked:
        return Result(item, name, "leaked", detail)
    return Result(item, name, "clean", detail or f"exit {proc.returncode}")
