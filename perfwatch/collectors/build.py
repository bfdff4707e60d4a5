"""The build pass: the benchmark's allocator, its build, the first call timed cold, compile counters.

Order, in the worker's fresh process: the compile watch starts (its counters are reset), the
allocator the benchmark declares is installed (before the first CUDA allocation), the benchmark
is built for the case's mode, and its first ``ACCURACY_STEPS`` steps are called and kept (the
accuracy pass compares them): the first one timed cold, compilation included. The compile watch
stays open through the timing pass (the table's ``spans``): warm-up recompiles count too.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.collectors.compile import CompileWatch
from perfwatch.collectors.torch_compat import PHASES
from perfwatch.domain.results import LOWER, CaseSpec, Metric
from perfwatch.measure.backends import synchronize

ACCURACY_STEPS = 2  # first steps kept for the accuracy pass


def caller(step: Callable[[], Any], spec: CaseSpec) -> Callable[[], Any]:
    """The step as called in every pass; CUDA graphs need a step marker per iteration."""
    if spec.mode == "reduce-overhead" and spec.backend == "cuda":
        import torch

        def call():
            torch.compiler.cudagraph_mark_step_begin()
            return step()

        return call
    return step


def first_outputs(call: Callable[[], Any], device: str, n: int) -> tuple[list, float]:
    """Snapshots of ``n`` calls' outputs, and the seconds the first one took."""
    from perfwatch.collectors.accuracy import snapshot

    outs = []
    synchronize(device)
    t0 = time.perf_counter()
    outs.append(snapshot(call()))
    synchronize(device)
    first = time.perf_counter() - t0
    for _ in range(n - 1):
        outs.append(snapshot(call()))
    return outs, first


def install_declared_allocator(ctx: CaseContext) -> None:
    """The benchmark's allocator, on CUDA, before anything is allocated there."""
    if ctx.spec.backend.startswith("cuda") and ctx.bench.allocator != "caching":
        from perfwatch.measure.allocators import install_allocator

        install_allocator(ctx.bench.allocator)


class BuildCollector(Collector):
    name = "build"
    produces = ("first_call_time", "compilations", "graph_count", "graph_breaks", "graph_break_reasons",
                "recompilations", *PHASES, "compile_time_runtime")

    def __init__(self) -> None:
        super().__init__()
        self._watch: CompileWatch | None = None

    def start(self, ctx: CaseContext) -> None:
        if ctx.compiled:
            self._watch = CompileWatch()
            self._watch.__enter__()

    def stop(self, exc: BaseException | None) -> None:
        if self._watch:
            self._watch.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def run(self, ctx: CaseContext) -> None:
        self.phase = "build"
        install_declared_allocator(ctx)
        ctx.workload = ctx.build(ctx.spec.mode)
        ctx.call = caller(ctx.workload.step, ctx.spec)
        self.phase = "compile" if ctx.compiled else "first call"
        ctx.outs, first_s = first_outputs(ctx.call, ctx.spec.backend, ACCURACY_STEPS)
        self._metrics = [Metric("first_call_time", first_s, "s", LOWER)]

    def metrics(self) -> list[Metric]:
        return self._metrics + (self._watch.metrics() if self._watch else [])

    def details(self) -> dict[str, Any]:
        return self._watch.details() if self._watch else {}
