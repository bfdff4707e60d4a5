"""The one place that reads torch's private compile counters.

They move between versions: graph-break reasons sit under ``counters['unimplemented']`` on torch
2.13 and under ``counters['graph_break']`` on 2.14; there is no ``counters['recompiles']``; and
``torch._dynamo.utils.get_compilation_metrics()`` gives one record per compile with
``compile_id`` ("frame/attempt") and ``recompile_reason``. When a source is missing we raise
:class:`CompatError` (reported as a status), never return a silent 0. tests/test_torch_compat.py
fails loudly if torch moves them again.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class CompatError(RuntimeError):
    """torch no longer exposes a compile statistic where this layer expects it."""


def _torch_minor() -> tuple[int, int]:
    import torch

    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def _counters() -> Any:
    try:
        from torch._dynamo.utils import counters
    except ImportError as exc:
        raise CompatError(f"torch._dynamo.utils.counters is gone: {exc}") from None
    return counters


def graph_break_sources() -> tuple[str, ...]:
    """Counter groups holding graph-break reasons, newest layout first for this torch."""
    return ("graph_break", "unimplemented") if _torch_minor() >= (2, 14) else ("unimplemented", "graph_break")


def reset() -> None:
    """Forget counters and compile records (a worker measures exactly one case)."""
    _counters().clear()
    try:
        from torch._dynamo.utils import clear_compilation_metrics

        clear_compilation_metrics()
    except ImportError:  # older torch: records only accumulate; the worker is a fresh process anyway
        pass


def graph_breaks() -> dict[str, int]:
    """Graph-break reason -> number of times dynamo broke the graph for it while tracing."""
    counters = _counters()
    for group in graph_break_sources():
        found = counters.get(group)
        if found:
            # The reason's first line names it; the rest is hints and a source excerpt.
            merged: dict[str, int] = {}
            for reason, n in found.items():
                key = str(reason).split("\n", 1)[0].strip()
                merged[key] = merged.get(key, 0) + int(n)
            return merged
    return {}


def unique_graphs() -> int:
    return int(_counters().get("stats", {}).get("unique_graphs", 0))


def compilation_records() -> list[dict[str, Any]]:
    try:
        from torch._dynamo.utils import get_compilation_metrics
    except ImportError as exc:
        raise CompatError(f"torch._dynamo.utils.get_compilation_metrics is gone: {exc}") from None
    out = []
    for rec in get_compilation_metrics():
        d = dataclasses.asdict(rec) if dataclasses.is_dataclass(rec) else dict(vars(rec))
        if "compile_id" not in d:
            raise CompatError("compilation metrics records no longer carry compile_id")
        out.append(d)
    return out


def is_runtime(record: dict[str, Any]) -> bool:
    """A record of work done at run time (CUDA-graph recording, lazy autotuning), not a compile
    of a frame: seen on GPU, where such records repeat the frame's compile_id and would
    otherwise count as dozens of "recompilations"."""
    return bool(record.get("is_runtime"))


def compile_count() -> int:
    """Number of compilations so far (cheap; used to tell when warm-up is done)."""
    try:
        from torch._dynamo.utils import get_compilation_metrics
    except ImportError:
        return 0
    return len(get_compilation_metrics())


def is_recompile(record: dict[str, Any]) -> bool:
    """A compile of a frame that had been compiled before ("frame/attempt" with attempt > 0)."""
    cid = str(record.get("compile_id") or "")
    attempt = cid.split("/")[-1] if "/" in cid else ""
    if attempt.isdigit():
        return int(attempt) > 0
    return bool(record.get("recompile_reason"))


# Phase timings in a compilation record (seconds), by the name perfwatch stores them under.
PHASES = {
    "compile_time": "entire_frame_compile_time_s",  # dynamo's whole frame, backend included
    "compile_time_backend": "backend_compile_time_s",  # AOTAutograd + Inductor
    "compile_time_inductor": "inductor_compile_time_s",
    "compile_time_codegen": "code_gen_time_s",
}
