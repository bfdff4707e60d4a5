"""perfwatch's public Python API: what user suites and scripts may import.

Everything else in the package is internal and may change between releases.

Writing a suite (a file passed to ``perfwatch run --suite my_suite.py``, or an entry point in the
``perfwatch.suites`` group):

    from perfwatch.api import Benchmark, BenchContext, Suite, Tolerance, Workload

    def build(ctx: BenchContext) -> Workload:
        ...
    SUITE = Suite("mine", (Benchmark("step", build, tolerance=Tolerance(atol=1e-3)),))

Measuring from a script, as the worker does (one case, in this process):

    from perfwatch import api

    spec = api.case_spec("ops:matmul:default:small", backend="cuda", compile_options={"fullgraph": True})
    call = api.build_case(spec)          # built exactly as the worker builds it
    api.warm_up(call, spec)              # until compilation settles
    timing = api.time_call(call, spec)   # perfwatch's timing method: timing.samples_ms, .host_ms, ...
    result = api.measure_case(spec)      # or every pass of the worker: a WorkerResult

and a whole suite run through the runner without a database: ``api.run_suite(RunRequest(...))``.
``install_allocator(kind)`` puts a benchmark allocator (``managed``, ``managed_prefetch``) in place
in this process, before its first CUDA allocation, as the worker does for a benchmark declaring it.
"""

from __future__ import annotations

from typing import Any, Callable

from perfwatch.collectors.graphs import capture as capture_graph
from perfwatch.collectors.graphs import graph_pass
from perfwatch.collectors.graphs import time_replays
from perfwatch.collectors.timing import TimingResult
from perfwatch.domain.config import Config
from perfwatch.domain.metrics import METRICS, MetricSpec
from perfwatch.domain.results import CaseResult, CaseSpec, Metric, WorkerResult
from perfwatch.measure.allocators import install_allocator
from perfwatch.measure.backends import synchronize
from perfwatch.measure.runner import RunOutcome, RunRequest
from perfwatch.suites import load_suite
from perfwatch.suites.base import BenchContext, Benchmark, Suite, Tolerance, Workload

__all__ = [
    "BenchContext", "Benchmark", "CaseResult", "CaseSpec", "Config", "METRICS", "Metric", "MetricSpec",
    "RunOutcome", "RunRequest", "Suite", "TimingResult", "Tolerance", "WorkerResult", "Workload",
    "build_case", "capture_graph", "case_spec", "graph_pass", "install_allocator", "load_suite", "measure_case",
    "run_suite",
    "synchronize", "time_call", "time_replays", "warm_up",
]


def case_spec(case: str, backend: str = "cpu", **settings: Any) -> CaseSpec:
    """The CaseSpec of ``"SUITE:BENCHMARK:MODE:SIZE"`` with the benchmark's own parameters, as
    ``perfwatch run`` plans it; ``settings`` set any other CaseSpec field (min_time_s, ...)."""
    parts = case.split(":")
    if len(parts) != 4:
        raise ValueError(f"expected SUITE:BENCHMARK:MODE:SIZE, got {case!r}")
    suite_name, bench_name, mode, size = parts
    bench = load_suite(suite_name).get(bench_name)
    return CaseSpec(suite=suite_name, benchmark=bench_name, mode=mode, backend=backend, size=size,
                    params=dict(bench.params), **settings)


def build_case(spec: CaseSpec) -> Callable[[], Any]:
    """The case's step as every pass of the worker calls it: threads set, the benchmark's allocator
    installed, built for the spec's mode (and compile_options), with CUDA graphs' step marker in
    reduce-overhead. Raises the worker's CaseFailed (status ``unsupported``) for a case that
    cannot run; the first call compiles."""
    from perfwatch.collectors.build import caller, install_declared_allocator
    from perfwatch.measure.worker import open_case

    ctx = open_case(spec)
    install_declared_allocator(ctx)
    return caller(ctx.build(spec.mode).step, spec)


def _compiles(spec: CaseSpec) -> Callable[[], int]:
    from perfwatch.collectors import torch_compat

    return torch_compat.compile_count if spec.mode != "eager" else (lambda: 0)


def warm_up(call: Callable[[], Any], spec: CaseSpec) -> tuple[int, float]:
    """Call until compilation settles, as the timing pass does; (calls made, seconds spent)."""
    from perfwatch.collectors.timing import warm_up as _warm_up

    return _warm_up(call, spec.backend, _compiles(spec))


def time_call(call: Callable[[], Any], spec: CaseSpec, **overrides: Any) -> TimingResult:
    """perfwatch's timing method on ``call`` (warm-up included) with the spec's settings;
    ``overrides`` are keywords of the method (min_time_s, max_time_s, min_samples, max_samples,
    precision, target_sample_s)."""
    from perfwatch.collectors.timing import measure

    settings = dict(min_time_s=spec.min_time_s, min_samples=spec.min_samples, max_samples=spec.max_samples,
                    max_time_s=spec.max_time_s, precision=spec.precision)
    settings.update(overrides)
    return measure(call, spec.backend, _compiles(spec), **settings)


def measure_case(spec: CaseSpec) -> WorkerResult:
    """Every pass of the worker for ``spec``, in this process (perfwatch runs each case in a fresh
    one: a compiled case leaves caches behind). A failed case raises the worker's CaseFailed."""
    from perfwatch.measure.worker import measure_case as _measure_case

    return _measure_case(spec)


class _NoStore:
    """A runner sink that keeps nothing: the outcome is the caller's to read."""

    spooled = 0

    def run_started(self, run) -> None:
        pass

    def case(self, run, case) -> None:
        pass

    def run_finished(self, run, total, failed, status) -> None:
        pass


def run_suite(request: RunRequest, config: Config | None = None, timeout_s: float = 600.0, processes: int = 1,
              interleave: bool = False) -> RunOutcome:
    """Plan and run ``request`` as ``perfwatch run`` does (a fresh worker process per case,
    ``processes`` per case, ``interleave``d or not), storing nothing; the cases are in the outcome."""
    from perfwatch.measure import runner

    plan = runner.plan(request, config or Config())
    return runner.execute(plan, runner.new_run_info(plan, request), _NoStore(), timeout_s, processes=processes,
                          interleave=interleave)
