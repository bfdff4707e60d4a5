"""Compile behaviour of one case: compile time by phase and graph, CPU time of the compile,
cache hits, graphs, graph breaks, recompilations.

``compile_time`` is the sum of every compilation record the case left (issue 16): each forward
graph (one per graph break, one per recompile), each lazily compiled backward, and the runtime
records (lazy autotuning, CUDA-graph recording). Its exclusive phases (``torch_compat.PHASES``)
add up to it, and the details split it per graph kind (forward, backward, runtime).

``compile_cpu_time`` is the CPU time of this process and its descendants (Inductor's compile
workers, the C++ compiler) inside torch's compile windows (its start/end callbacks): the host's
scheduling and a neighbour's load move wall time a lot more than the work done.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from perfwatch.collectors import torch_compat as tc
from perfwatch.domain.results import LOWER, Metric

VALGRIND_ENV = "PERFWATCH_VALGRIND"  # set by the runner when the worker runs under callgrind


def _proc_tree_cpu() -> dict[int, float]:
    """CPU seconds (own + reaped children's) of every live descendant of this process (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        # utime, stime, cutime, cstime: a pool worker's reaped compilers land in its c-times
        cpu[pid] = sum(int(x) for x in fields[11:15]) / tick
    me = os.getpid()
    out, todo = {}, [me]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in out:
                out[child] = cpu[child]
                todo.append(child)
    return out


def process_tree_cpu() -> tuple[float, dict[int, float]]:
    """(CPU seconds of this process and its reaped children, live descendants' CPU by pid)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    own = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    try:
        live = _proc_tree_cpu() if os.path.isdir("/proc") else {}
    except OSError:
        live = {}
    return own, live


def cpu_between(a: tuple[float, dict[int, float]], b: tuple[float, dict[int, float]]) -> float:
    """CPU seconds spent between two ``process_tree_cpu`` snapshots: a child reaped in between
    moves from the live sum into the reaped one, so nothing is counted twice."""
    return (b[0] - a[0]) + sum(b[1].values()) - sum(a[1].values())


class CompileWindows:
    """CPU and wall time inside torch's compile windows (and callgrind's collection toggled
    around them when the worker runs under valgrind)."""

    def __init__(self, valgrind: bool = False) -> None:
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.windows = 0
        self.valgrind = valgrind
        self._start: tuple[float, tuple[float, dict[int, float]]] | None = None
        self._remove = None

    def open(self) -> bool:
        self._remove = tc.compile_callbacks(self._on_start, self._on_end)
        return self._remove is not None

    def close(self) -> None:
        if self._start is not None:  # a compile that raised: end its window here
            self._on_end()
        if self._remove:
            self._remove()
            self._remove = None

    def _on_start(self) -> None:
        if self._start is not None:
            return
        if self.valgrind:
            tc.valgrind_toggle()
        self._start = (time.perf_counter(), process_tree_cpu())

    def _on_end(self) -> None:
        if self._start is None:
            return
        t0, c0 = self._start
        self._start = None
        self.wall_s += time.perf_counter() - t0
        self.cpu_s += cpu_between(c0, process_tree_cpu())
        self.windows += 1
        if self.valgrind:
            tc.valgrind_toggle()


def summarize_records(everything: list[dict[str, Any]]) -> dict[str, Any]:
    """compile_time, its phases and its split per graph kind, from compilation records."""
    phases = dict.fromkeys(tc.PHASES, 0.0)
    by_kind: dict[str, dict[str, float]] = {}
    total = 0.0
    for r in everything:
        t = tc.record_total_s(r)
        total += t
        kind = tc.record_kind(r)
        k = by_kind.setdefault(kind, {"compile_time": 0.0, "records": 0, **dict.fromkeys(tc.PHASES, 0.0)})
        k["compile_time"] += t
        k["records"] += 1
        for name, v in tc.record_phases(r).items():
            phases[name] += v
            k[name] += v
    return {"compile_time": total, "phases": phases, "by_kind": by_kind}


class CompileWatch:
    """Wraps everything a compiled case does (first call, warm-up, timed steps)."""

    name = "compile"

    def __init__(self) -> None:
        self._metrics: list[Metric] = []
        self._details: dict[str, Any] = {}
        self._windows = CompileWindows(valgrind=os.environ.get(VALGRIND_ENV) == "1")

    def __enter__(self) -> "CompileWatch":
        tc.reset()
        self._windows_open = self._windows.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._windows.close()
        try:
            self._read()
        except tc.CompatError as err:
            self._details["compile_status"] = f"unavailable: {err}"
            self._metrics = []

    def _read(self) -> None:
        everything = tc.compilation_records()
        records = [r for r in everything if not tc.is_runtime(r)]
        runtime = [r for r in everything if tc.is_runtime(r)]
        breaks = tc.graph_breaks()
        recompiles = [r for r in records if tc.is_recompile(r)]
        summary = summarize_records(everything)
        m = [
            Metric("compilations", len(records), "count", LOWER),
            Metric("graph_count", tc.unique_graphs(), "count", LOWER),
            Metric("graph_breaks", sum(breaks.values()), "count", LOWER),
            Metric("graph_break_reasons", len(breaks), "count", LOWER),
            Metric("recompilations", len(recompiles), "count", LOWER),
        ]
        if everything:
            m.append(Metric("compile_time", summary["compile_time"], "s", LOWER))
            m += [Metric(name, v, "s", LOWER) for name, v in summary["phases"].items()]
        if self._windows_open and self._windows.windows:
            m.append(Metric("compile_cpu_time", self._windows.cpu_s, "s", LOWER))
        self._metrics = m
        r3 = {k: round(v, 4) if isinstance(v, float) else v for k, v in summary["phases"].items()}
        self._details = {
            "graph_break_reasons": breaks,
            "recompile_reasons": sorted({str(r.get("recompile_reason")) for r in recompiles if r.get("recompile_reason")}),
            "compiles": [
                {"compile_id": str(r.get("compile_id")), "co_name": r.get("co_name"), "kind": tc.record_kind(r),
                 "total_s": round(tc.record_total_s(r), 4),
                 **{k: round(v, 4) for k, v in tc.record_phases(r).items() if v}}
                for r in records[:50]
            ],
            "runtime_compile_events": len(runtime),
            # per graph kind: {"forward": {"compile_time": s, "records": n, <phase>: s}, "backward": ..., "runtime": ...}
            "compile_by_graph": {k: {n: round(v, 4) if isinstance(v, float) else v for n, v in d.items()}
                                 for k, d in summary["by_kind"].items()},
            "compile_phases": r3,
            # torch's own totals, summed apart from the phase split: compile_time must equal it
            "compile_records": {"count": len(everything),
                                "sum_s": round(sum((r.get("duration_us") or 0) for r in everything) / 1e6, 6)},
            "compile_cache": tc.cache_counters(),
            "compile_windows": {"count": self._windows.windows, "wall_s": round(self._windows.wall_s, 4),
                                "cpu_s": round(self._windows.cpu_s, 4)},
        }

    def metrics(self) -> list[Metric]:
        return list(self._metrics)

    def details(self) -> dict[str, Any]:
        return dict(self._details)
