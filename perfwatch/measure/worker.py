"""One case in one fresh process: ``python -m perfwatch.measure.worker SPEC.json RESULT.json``.

The runner starts this with a timeout. Whatever happens here ends as a result file with a
status (ok, compile_error, oom, accuracy_fail, error); a crash or hang leaves no file and the
runner records crash or timeout. Passes, in order, never mixed:
  1. compiled (or eager) build; first call timed cold; outputs of the first steps kept;
  2. warm-up until compilation settles, then the timed samples (compile counters watch 1-2);
  3. a memory pass; 3b. unified-memory counters (benchmarks with uvm_counters, on CUDA; CUPTI);
  3c. a torch.profiler window (--profile); 4. the accuracy references (eager and float64 builds);
  5. on CUDA: one step captured into a CUDA graph, its replays timed (graph_time): a fresh build
     in eager mode, the timed compiled build in default mode; not in reduce-overhead and
     max-autotune, whose compiled steps are CUDA-graph replays already.
A timing-only spec (the repeat processes of ``--processes``) stops after pass 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from typing import Any

from perfwatch.domain.results import (
    LOWER,
    STATUS_ACCURACY,
    STATUS_COMPILE_ERROR,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_OOM,
    STATUS_UNSUPPORTED,
    CaseSpec,
    Metric,
)

ACCURACY_STEPS = 2
UVM_STEPS = 5  # steps counted by the unified-memory pass


class CaseFailed(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def failure_status(exc: BaseException, phase: str) -> str:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t)
    if (oom_types and isinstance(exc, oom_types)) or "out of memory" in str(exc).lower():
        return STATUS_OOM
    module = type(exc).__module__ or ""
    if module.startswith(("torch._dynamo", "torch._inductor")) or phase == "compile":
        return STATUS_COMPILE_ERROR
    return STATUS_ERROR


def _context(spec: CaseSpec, bench: Any, mode: str, dtype: Any = None, amp: bool | None = None):
    import torch

    from perfwatch.suites.base import BenchContext

    return BenchContext(
        device=spec.backend,
        size=spec.size,
        dtype=dtype if dtype is not None else getattr(torch, spec.dtype),
        amp=(spec.backend == "cuda" and bench.amp_on_cuda) if amp is None else amp,
        mode=mode,
        params=dict(spec.params),
        seed=0,
    )


def _caller(step, spec: CaseSpec):
    """The step as called in every pass; CUDA graphs need a step marker per iteration."""
    if spec.mode == "reduce-overhead" and spec.backend == "cuda":
        import torch

        def call():
            torch.compiler.cudagraph_mark_step_begin()
            return step()

        return call
    return step


def graph_pass(spec: CaseSpec) -> str | None:
    """Which build pass 5 captures: "fresh" (eager), "timed" (compiled), or None."""
    if spec.backend != "cuda" or spec.mode in ("reduce-overhead", "max-autotune"):
        return None  # these modes capture CUDA graphs themselves: no graph inside a graph
    return "fresh" if spec.mode == "eager" else "timed"


def _first_outputs(call, device: str, n: int) -> tuple[list, float]:
    from perfwatch.measure.backends import synchronize
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


def measure_case(spec: CaseSpec) -> dict[str, Any]:
    import torch

    from perfwatch.collectors import torch_compat
    from perfwatch.collectors.accuracy import accuracy_metrics, judge
    from perfwatch.collectors.compile import CompileWatch
    from perfwatch.collectors.memory import MemoryWatch
    from perfwatch.collectors.timing import measure, timing_metrics
    from perfwatch.suites import load_suite

    suite = load_suite(spec.suite_source or spec.suite)
    bench = suite.get(spec.benchmark)
    reason = bench.unsupported_reason(spec.backend, spec.mode)
    if reason:
        raise CaseFailed(STATUS_UNSUPPORTED, reason)
    if spec.threads:  # before anything is built or compiled: Inductor's C++ kernels read it at compile time
        torch.set_num_threads(spec.threads)
    compiled = spec.mode != "eager"
    metrics: list[Metric] = []
    details: dict[str, Any] = {"threads": torch.get_num_threads()}  # intra-op threads this case ran with

    # Passes 1-2: build, first call (cold compile), warm-up and timed samples.
    watch = CompileWatch() if compiled else None
    phase = "build"
    try:
        with watch or contextlib.nullcontext():
            workload = bench.build(_context(spec, bench, spec.mode))
            call = _caller(workload.step, spec)
            phase = "compile" if compiled else "first call"
            outs, first_s = _first_outputs(call, spec.backend, ACCURACY_STEPS)
            metrics.append(Metric("first_call_time", first_s, "s", LOWER))
            phase = "timing"
            timing = measure(call, spec.backend, torch_compat.compile_count if compiled else (lambda: 0),
                             min_time_s=spec.min_time_s, min_samples=spec.min_samples, max_samples=spec.max_samples,
                             max_time_s=spec.max_time_s, precision=spec.precision)
    except Exception as exc:
        raise CaseFailed(failure_status(exc, phase), f"{phase}: {type(exc).__name__}: {exc}") from exc
    metrics += timing_metrics(timing, workload.items_per_step, workload.item_unit)
    details["timing"] = {"method": timing.method, "inner_loops": timing.inner, "warmup_calls": timing.warmup_calls,
                         "warmup_s": round(timing.warmup_s, 3), "timed_s": round(timing.timed_s, 3),
                         "precision": round(timing.rel_ci, 5) if timing.rel_ci is not None else None}
    step_ms = next(m.value for m in metrics if m.name == "step_time")
    if timing.host_ms is not None and step_ms > 0:
        # Host time to issue a step over the step time: near 1 means launch-bound.
        details["timing"]["host_fraction"] = round(timing.host_ms / step_ms, 3)
    if watch:
        metrics += watch.metrics()
        details.update(watch.details())
    if spec.timing_only:
        return {"status": STATUS_OK, "error": None, "metrics": [m.to_dict() for m in metrics], "details": details}

    # Pass 3: memory, apart from timing (sampling perturbs it).
    try:
        with MemoryWatch(spec.backend) as mem:
            for _ in range(3):
                call()
        metrics += mem.metrics()
        details.update(mem.details())
    except Exception as exc:  # memory figures are secondary: keep the timing, say why
        details["memory_status"] = f"failed: {type(exc).__name__}: {exc}"

    # Pass 3b: unified-memory counters (CUPTI), for benchmarks that ask for them. Before any
    # profiler session: Kineto takes CUPTI's activity callbacks over for good.
    if spec.backend == "cuda" and bench.uvm_counters:
        from perfwatch.collectors.uvm import UvmWatch

        try:
            with UvmWatch(spec.backend) as uvm:
                for _ in range(UVM_STEPS):
                    call()
            metrics += uvm.metrics()
            details.update(uvm.details())
        except Exception as exc:  # secondary figures: keep the rest, say why
            details["uvm_status"] = f"failed: {type(exc).__name__}: {exc}"

    # Pass 3c (--profile): a short torch.profiler window, the last pass that steps this build
    # (the accuracy references below build fresh eager models and use no CUPTI).
    if spec.profile_dir:
        from perfwatch.collectors.profiler import ProfileWatch, worker_name

        try:
            with ProfileWatch(spec.profile_dir, worker_name(spec.suite, spec.benchmark, spec.mode), spec.backend) as prof:
                for _ in range(prof.steps):
                    call()
                    prof.step()
            details.update(prof.details())
        except Exception as exc:
            details["profile_status"] = f"failed: {type(exc).__name__}: {exc}"
    # A compiled build is kept for pass 5: its captured replays time Inductor's kernels without
    # the launch overhead that sets a small compiled step's time (and its 15-20% scatter).
    # A benchmark that cannot serve CUDA graphs at all (managed memory) is not captured, and its
    # build is not kept through the accuracy pass for nothing.
    pass5 = graph_pass(spec)
    no_graphs = bench.unsupported_reason(spec.backend, "reduce-overhead") if pass5 else None
    graph_call = call if pass5 == "timed" and not no_graphs else None
    del workload, call
    if spec.backend == "cuda":
        torch.cuda.empty_cache()

    # Pass 4: accuracy references.
    status, error = STATUS_OK, None
    if spec.accuracy:
        eager_outs = None
        if compiled:
            eager_outs, _ = _first_outputs(bench.build(_context(spec, bench, "eager")).step, spec.backend, ACCURACY_STEPS)
        fp64_outs = None
        if bench.fp64_reference and spec.backend != "mps":  # MPS has no float64
            try:
                fp64_outs, _ = _first_outputs(bench.build(_context(spec, bench, "eager", dtype=torch.float64, amp=False)).step,
                                              spec.backend, ACCURACY_STEPS)
            except Exception as exc:
                details["fp64_reference"] = f"unavailable: {type(exc).__name__}: {exc}"
        verdict = judge(outs, eager_outs, fp64_outs, bench.tolerance)
        metrics += accuracy_metrics(verdict, compiled)
        details["accuracy"] = verdict.reason
        if not verdict.passed:
            status, error = STATUS_ACCURACY, verdict.reason

    # Pass 5: CUDA-graph replay of one step, last: a failed capture can spoil the stream.
    if pass5 and no_graphs:
        details["graph_status"] = f"not captured: {no_graphs}"
    elif pass5:
        from perfwatch.collectors.graphs import graph_metrics

        try:
            graph_step = graph_call or bench.build(_context(spec, bench, "eager")).step
            more, info = graph_metrics(graph_step, step_ms)
            metrics += more
            details.update(info)
        except Exception as exc:
            details["graph_status"] = f"failed: {type(exc).__name__}: {exc}"
    return {"status": status, "error": error, "metrics": [m.to_dict() for m in metrics], "details": details}


def main(argv: list[str]) -> int:
    spec_path, result_path = argv[1], argv[2]
    with open(spec_path) as f:
        spec = CaseSpec.from_dict(json.load(f))
    try:
        result = measure_case(spec)
    except CaseFailed as exc:
        cause = exc.__cause__
        tb = "".join(traceback.format_exception(cause)) if cause else ""
        result = {"status": exc.status, "error": str(exc), "metrics": [], "details": {"traceback": tb[-8000:]} if tb else {}}
    except Exception as exc:  # anything else is this case's error, never the run's
        result = {"status": STATUS_ERROR, "error": f"{type(exc).__name__}: {exc}", "metrics": [],
                  "details": {"traceback": traceback.format_exc()[-8000:]}}
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
