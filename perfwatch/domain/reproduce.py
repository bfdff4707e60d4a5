"""The `perfwatch run` line that runs cases again — one place for alerts, dashboard and reports."""

from __future__ import annotations

import shlex
from typing import Iterable

from perfwatch.domain.vocab import MODES, is_suite_file



def suite_argument(suite: str, run_command: str | None = None) -> str:
    """What to pass as --suite: the file the run was given when it was a suite file (a suite's
    name alone does not find a file), else the suite's name."""
    try:
        args = shlex.split(run_command or "")
    except ValueError:
        return suite
    for i, a in enumerate(args):
        value = args[i + 1] if a == "--suite" and i + 1 < len(args) else a[8:] if a.startswith("--suite=") else None
        if value and is_suite_file(value):
            return value
    return suite


def run_command(suite: str, benchmarks: Iterable[str], modes: Iterable[str], backend: str, size: str | None = None,
                dtype: str | None = None, source_command: str | None = None) -> str:
    modes = sorted(set(modes), key=lambda m: (MODES.index(m) if m in MODES else 99, m))
    args = ["perfwatch", "run", "--suite", suite_argument(suite, source_command), "--benchmarks",
            ",".join(sorted(set(benchmarks))), "--modes", ",".join(modes), "--backend", backend]
    if size:
        args += ["--size", size]
    if dtype and dtype != "float32":
        args += ["--dtype", dtype]
    return " ".join(shlex.quote(str(a)) for a in args)
