"""Compile behaviour of one case: compile time by phase, graphs, graph breaks, recompilations."""

from __future__ import annotations

from typing import Any

from perfwatch.collectors import torch_compat as tc
from perfwatch.domain.results import LOWER, Metric


class CompileWatch:
    """Wraps everything a compiled case does (first call, warm-up, timed steps)."""

    name = "compile"

    def __init__(self) -> None:
        self._metrics: list[Metric] = []
        self._details: dict[str, Any] = {}

    def __enter__(self) -> "CompileWatch":
        tc.reset()
        return self

    def __exit__(self, *exc: object) -> None:
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
        m = [
            Metric("compilations", len(records), "count", LOWER),
            Metric("graph_count", tc.unique_graphs(), "count", LOWER),
            Metric("graph_breaks", sum(breaks.values()), "count", LOWER),
            Metric("graph_break_reasons", len(breaks), "count", LOWER),
            Metric("recompilations", len(recompiles), "count", LOWER),
        ]
        for name, field in tc.PHASES.items():
            vals = [r.get(field) for r in records if r.get(field) is not None]
            if vals:
                m.append(Metric(name, float(sum(vals)), "s", LOWER))
        if runtime:  # time spent compiling lazily inside steps (CUDA graphs, autotuning)
            secs = [r.get("duration_us") for r in runtime if r.get("duration_us") is not None]
            if secs:
                m.append(Metric("compile_time_runtime", sum(secs) / 1e6, "s", LOWER))
        self._metrics = m
        self._details = {
            "graph_break_reasons": breaks,
            "recompile_reasons": sorted({str(r.get("recompile_reason")) for r in recompiles if r.get("recompile_reason")}),
            "compiles": [
                {"compile_id": str(r.get("compile_id")), "co_name": r.get("co_name"),
                 **{k: r.get(f) for k, f in tc.PHASES.items() if r.get(f) is not None}}
                for r in records[:50]
            ],
            "runtime_compile_events": len(runtime),
        }

    def metrics(self) -> list[Metric]:
        return list(self._metrics)

    def details(self) -> dict[str, Any]:
        return dict(self._details)
