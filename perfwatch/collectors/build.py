"""The build pass: the benchmark's allocator, its build, the first call timed cold, compile counters.

Order, in the worker's fresh process: the compile watch starts (its counters are reset), the
allocator the benchmark declares is installed (before the first CUDA allocation), the benchmark
is built for the case's mode, and its first ``ACCURACY_STEPS`` steps are called and kept (the
accuracy pass compares them): the first one timed cold, compilation included. The compile watch
stays open through the timing pass (the table's ``spans``): warm-up recompiles count too.

A build-only spec (the warm-compile worker, perfwatch/measure/compile_cache.py) warms up here
instead, until compilation settles, so it compiles what the full worker compiled; it loads the
portable cache artifacts the cold worker saved first, where torch has them.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.collectors import torch_compat as tc
from perfwatch.collectors.compile import CompileWatch
from perfwatch.collectors.torch_compat import PHASES
from perfwatch.domain.results import LOWER, CaseSpec, Metric
from perfwatch.measure.backends import synchronize

ACCURACY_STEPS = 2  # first steps kept for the accuracy pass
# set by the runner (perfwatch/measure/compile_cache.py): where the cold worker saves torch's
# portable compile artifacts, and where the warm worker loads them from
SAVE_ARTIFACTS_ENV = "PERFWATCH_SAVE_CACHE_ARTIFACTS"
LOAD_ARTIFACTS_ENV = "PERFWATCH_LOAD_CACHE_ARTIFACTS"


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
                "recompilations", "compile_time", *PHASES, "compile_cpu_time")

    def __init__(self) -> None:
        super().__init__()
        self._watch: CompileWatch | None = None
        self._artifacts: dict[str, Any] = {}
        self._warmup_calls: int | None = None

    def start(self, ctx: CaseContext) -> None:
        if ctx.compiled:
            load = os.environ.get(LOAD_ARTIFACTS_ENV)
            if load:  # before the watch: loading is not compiling
                try:
                    self._artifacts = {"loaded": tc.load_cache_artifacts(load)}
                except Exception as exc:  # a stale or foreign artifact: compile without it, say so
                    self._artifacts = {"loaded": False, "load_error": f"{type(exc).__name__}: {exc}"[:300]}
            self._watch = CompileWatch()
            self._watch.__enter__()

    def stop(self, exc: BaseException | None) -> None:
        if self._watch:
            self._watch.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
            save = os.environ.get(SAVE_ARTIFACTS_ENV)
            if save and exc is None:  # after the span: warm-up recompiles are in the artifacts too
                try:
                    self._artifacts = {"saved": tc.save_cache_artifacts(save)}
                except Exception as err:  # the warm pass then runs over the cache dirs alone
                    self._artifacts = {"saved": False, "save_error": f"{type(err).__name__}: {err}"[:300]}

    def run(self, ctx: CaseContext) -> None:
        self.phase = "build"
        install_declared_allocator(ctx)
        ctx.workload = ctx.build(ctx.spec.mode)
        ctx.call = caller(ctx.workload.step, ctx.spec)
        self.phase = "compile" if ctx.compiled else "first call"
        ctx.outs, first_s = first_outputs(ctx.call, ctx.spec.backend, ACCURACY_STEPS)
        self._metrics = [Metric("first_call_time", first_s, "s", LOWER)]
        if ctx.compiled and getattr(ctx.spec, "build_only", False):
            from perfwatch.collectors.timing import warm_up

            calls, _ = warm_up(ctx.call, ctx.spec.backend, tc.compile_count)
            self._warmup_calls = calls

    def metrics(self) -> list[Metric]:
        return self._metrics + (self._watch.metrics() if self._watch else [])

    def details(self) -> dict[str, Any]:
        out = self._watch.details() if self._watch else {}
        if self._artifacts:
            out["cache_artifacts"] = dict(self._artifacts)
        if self._warmup_calls is not None:
            out["build_warmup_calls"] = self._warmup_calls
        return out
