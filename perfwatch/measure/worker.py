"""One case in one fresh process: ``python -m perfwatch.measure.worker SPEC.json RESULT.json``.

The runner starts this with a timeout. Whatever happens here ends as a result file (a
``WorkerResult``) with a status (ok, compile_error, oom, accuracy_fail, unsupported, error); a
crash or hang leaves no file and the runner records crash or timeout. The worker walks the table
of passes (perfwatch/measure/passes.py), each a collector (perfwatch/collectors/base.py), in order:
  1. build: the benchmark's allocator, its build, the first call timed cold, the outputs of the
     first steps kept; the compile watch spans passes 1-2;
  2. timing: warm-up until compilation settles, then the timed samples; 2b. the input pipeline's
     wait for its next batch (workloads with a data loader: data_wait_fraction);
  3. memory; 3b. unified-memory counters (benchmarks with uvm_counters, on CUDA; CUPTI), before
     any profiler session; 3c. a torch.profiler window (--profile), the last pass to step the build;
  4. accuracy references (fresh eager and float64 builds; the timed build is dropped first and
     the CUDA cache emptied);
  5. on CUDA: one step captured into a CUDA graph, its replays timed (graph_time): a fresh build
     in eager mode, the timed compiled build (kept) in default mode; not in reduce-overhead and
     max-autotune, whose compiled steps are CUDA-graph replays already;
  6. with --batch-search, train benchmarks: the largest batch that fits under a memory cap and
     the throughput at the batches tried (fresh builds, the last pass).
A build or timing failure is the case's (its status from ``failure_status``); a failed memory,
unified-memory, profiler or graph pass records ``<name>_status`` and the case goes on. A
timing-only spec (the repeat processes of ``--processes``) stops after pass 2; a build-only spec
(the warm-compile worker over the cold one's caches, perfwatch/measure/compile_cache.py) runs
pass 1 alone, warming up until compilation settles. Compile caches are wherever the runner's
environment points them (a fresh directory per compiled case: TORCHINDUCTOR_CACHE_DIR,
TRITON_CACHE_DIR), set before this process imports torch.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import (
    STATUS_COMPILE_ERROR,
    STATUS_ERROR,
    STATUS_OOM,
    STATUS_UNSUPPORTED,
    CaseSpec,
    Metric,
    WorkerResult,
)
from perfwatch.measure.passes import CUDA, FAILS_CASE, FRESH, SECONDARY, Pass, passes_for


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


def open_case(spec: CaseSpec) -> CaseContext:
    """The case's benchmark, checked runnable; torch's threads set before anything is built."""
    import torch

    from perfwatch.suites import load_suite

    bench = load_suite(spec.suite_source or spec.suite).get(spec.benchmark)
    reason = bench.unsupported_reason(spec.backend, spec.mode)
    if reason:
        raise CaseFailed(STATUS_UNSUPPORTED, reason)
    if spec.threads:  # before anything is built or compiled: Inductor's C++ kernels read it at compile time
        torch.set_num_threads(spec.threads)
    return CaseContext(spec, bench)


def measure_case(spec: CaseSpec, passes: tuple[Pass, ...] | None = None) -> WorkerResult:
    """Every pass of the table for ``spec`` in this process; raises CaseFailed for a failed case."""
    import torch

    ctx = open_case(spec)
    table = passes if passes is not None else passes_for(spec.timing_only, spec.build_only)
    collectors = [(p, p.collector()) for p in table]
    details: dict[str, Any] = {"threads": torch.get_num_threads()}  # intra-op threads this case ran with
    open_: list[tuple[Pass, Collector]] = []  # started, not yet stopped (a span reaches a later pass)
    done: list[Collector] = []
    released = False
    for i, (p, collector) in enumerate(collectors):
        if FRESH in p.needs and not released:  # the timed build goes before the first fresh build
            ctx.release_built(keep_call=any(c.keeps_built(ctx) for _, c in collectors[i:]))
            released = True
        if (CUDA in p.needs and spec.backend != "cuda") or collector.applies(ctx) is not None:
            continue
        open_.append((p, collector))
        try:
            collector.start(ctx)
            collector.run(ctx)
        except Exception as exc:
            if p.on_failure != SECONDARY:
                _stop(open_, exc)
                if p.on_failure == FAILS_CASE:
                    phase = collector.phase
                    raise CaseFailed(failure_status(exc, phase), f"{phase}: {type(exc).__name__}: {exc}") from exc
                raise
            _stop(open_[-1:], exc)  # its figures go, the other passes' stay
            open_.pop()
            details[f"{p.name}_status"] = f"failed: {type(exc).__name__}: {exc}"  # keep the rest, say why
            continue
        ending = [(q, c) for q, c in open_ if (q.spans or q.name) == p.name]
        _stop(ending, None)
        open_ = [pc for pc in open_ if pc not in ending]
        done += [c for _, c in ending]
    _stop(open_, None)  # a span whose last pass was skipped ends with the table
    done += [c for _, c in open_]
    order = {id(c): i for i, (_, c) in enumerate(collectors)}
    metrics: list[Metric] = []
    for c in sorted(done, key=lambda c: order[id(c)]):  # table order, whatever order the spans closed in
        metrics += c.metrics()
        details.update(c.details())
    return WorkerResult(ctx.status, ctx.error, tuple(metrics), details)


def _stop(started: list[tuple[Pass, Collector]], exc: BaseException | None) -> None:
    """Stop started collectors, the last started first (as nested ``with`` blocks would)."""
    for _, c in reversed(started):
        c.stop(exc)


def main(argv: list[str]) -> int:
    spec_path, result_path = argv[1], argv[2]
    with open(spec_path) as f:
        spec = CaseSpec.from_dict(json.load(f))
    try:
        result = measure_case(spec)
    except CaseFailed as exc:
        cause = exc.__cause__
        tb = "".join(traceback.format_exception(cause)) if cause else ""
        result = WorkerResult(exc.status, str(exc), details={"traceback": tb[-8000:]} if tb else {})
    except Exception as exc:  # anything else is this case's error, never the run's
        result = WorkerResult(STATUS_ERROR, f"{type(exc).__name__}: {exc}",
                              details={"traceback": traceback.format_exc()[-8000:]})
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result.to_dict(), f, default=str)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
