"""Step timing: warm up until compilation is done, then time many synchronized repeats.

Method (docs/measurement.md):
- warm-up runs until ``quiet_calls`` consecutive calls trigger no new compilation (and at least
  ``min_warmup`` calls), so autotuning and recompiles for every input shape are behind us;
- a step shorter than ``target_sample_s`` is timed in batches of ``inner`` steps per sample so the
  timer and the synchronization do not dominate (pyperf's "loops");
- on CUDA, samples are timed with events recorded on the stream, ``CUDA_CHUNK`` samples back to
  back with no host synchronization between them (the GPU queue stays fed, as in a real
  training loop; the first sample after each synchronization is dropped); the host's own time
  to issue a step is measured apart (``host_time``: near the step time means launch-bound);
- elsewhere each sample is bracketed by device synchronization and timed with perf_counter;
- samples are collected until both ``min_time_s`` of timed work and ``min_samples`` are reached,
  and then on, up to ``max_time_s``, while the step time is less precise than ``precision``: the
  95% CI half-width of the median over consecutive blocks of samples (batch medians), relative to
  the median. Blocks, not single samples, because a launch-bound step's noise comes in phases of
  the host that last a good part of a second (benchmarks/noise.py probe): neighbouring samples are
  alike, so the spread between blocks is the honest measure of how well the median is known, and
  a noisy case earns more time where a steady one stops at ``min_time_s``;
- Python's cyclic garbage collector is off while samples are taken (as ``timeit`` does): a
  collection lands in whichever sample it falls into and turns a launch-bound step into an outlier.
  A workload that relies on cycles being collected mid-run still runs; its memory just waits.
- several processes per case (``perfwatch run --processes N``) are combined in
  ``perfwatch/measure/repeats.py``: the reported step time is the median of the processes' medians.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import HIGHER, LOWER, Metric
from perfwatch.measure.backends import synchronize
from perfwatch.domain.sampling import summarize


@dataclass(frozen=True)
class TimingResult:
    samples_ms: tuple[float, ...]  # per-step time of each sample
    inner: int  # steps per sample
    warmup_calls: int
    warmup_s: float
    method: str
    host_ms: float | None = None  # host time to issue one step (CUDA), queue empty
    rel_ci: float | None = None  # block-based 95% CI half-width of the median / median, at the end
    timed_s: float = 0.0  # seconds of timed steps


CUDA_CHUNK = 20  # samples recorded back to back between two host synchronizations
BLOCK = 20  # samples per block for the precision estimate (one CUDA chunk)
MIN_BLOCKS = 5  # fewer blocks than this say nothing about precision


def block_precision(samples_ms: list[float] | tuple[float, ...]) -> float | None:
    """Relative 95% CI half-width of the median, from the medians of consecutive blocks.

    Blocks are BLOCK samples long, shorter when there are too few samples for MIN_BLOCKS of
    them. None when even single samples make fewer than MIN_BLOCKS blocks.
    """
    n = len(samples_ms)
    b = max(1, min(BLOCK, n // MIN_BLOCKS))
    blocks = [statistics.median(samples_ms[i:i + b]) for i in range(0, n - b + 1, b)]
    if len(blocks) < MIN_BLOCKS:
        return None
    med = statistics.median(samples_ms)
    if med <= 0:
        return None
    return 1.96 * statistics.stdev(blocks) / len(blocks) ** 0.5 / med


def warm_up(call: Callable[[], Any], device: str, compiles: Callable[[], int], min_warmup: int = 3,
            quiet_calls: int = 5, max_calls: int = 200, max_s: float = 600.0) -> tuple[int, float]:
    """Call until compilation settles; returns (calls made, seconds spent)."""
    start = time.perf_counter()
    calls = 0
    quiet = 0
    last = compiles()
    while calls < max_calls and time.perf_counter() - start < max_s:
        call()
        synchronize(device)
        calls += 1
        now = compiles()
        quiet = quiet + 1 if now == last else 0
        last = now
        if calls >= min_warmup and quiet >= quiet_calls:
            break
    return calls, time.perf_counter() - start


def _timer(device: str):
    if device == "cuda":
        import torch

        def timed(run: Callable[[], None]) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            run()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)  # ms

        return timed, "cuda-events"

    def timed_wall(run: Callable[[], None]) -> float:
        synchronize(device)
        t0 = time.perf_counter()
        run()
        synchronize(device)
        return (time.perf_counter() - t0) * 1e3

    return timed_wall, "perf_counter+sync"


def measure(call: Callable[[], Any], device: str, compiles: Callable[[], int], min_time_s: float = 1.0,
            min_samples: int = 10, max_samples: int = 1000, target_sample_s: float = 0.002,
            max_time_s: float | None = None, precision: float = 0.01) -> TimingResult:
    warm_calls, warm_s = warm_up(call, device, compiles)
    timed, method = _timer(device)

    # Calibrate: how many steps per sample make a sample last target_sample_s.
    one_ms = timed(call)
    inner = 1
    if one_ms > 0 and one_ms / 1e3 < target_sample_s:
        inner = min(1000, max(1, int(target_sample_s / (one_ms / 1e3))))

    def batch() -> None:
        for _ in range(inner):
            call()

    samples: list[float] = []
    spent = 0.0
    max_time_s = max(min_time_s, max_time_s if max_time_s is not None else 5 * min_time_s)
    deadline = time.perf_counter() + max(60.0, 20 * max_time_s)  # a bound on slow steps
    host_ms = None
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        if device == "cuda":
            host_ms = _host_time(batch) / inner
            method = "cuda-events-pipelined"
        while len(samples) < max_samples:
            if device == "cuda":
                chunk = _cuda_chunk(batch, min(CUDA_CHUNK, max_samples - len(samples)))
            else:
                chunk = [timed(batch)]
            samples += [ms / inner for ms in chunk]
            spent += sum(chunk) / 1e3
            if len(samples) < min_samples:
                continue
            if spent >= max_time_s or time.perf_counter() > deadline:
                break
            if spent < min_time_s or (device != "cuda" and len(samples) % 10):
                continue  # not yet min_time; single CPU samples are judged every 10th (a sort each)
            rel = block_precision(samples)
            if rel is not None and rel <= precision:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return TimingResult(tuple(samples), inner, warm_calls, warm_s, method, host_ms, block_precision(samples), spent)


def _cuda_chunk(batch: Callable[[], None], n: int) -> list[float]:
    """``n`` samples (ms) timed back to back with stream events and one synchronization at the
    end. One extra leading sample absorbs the empty queue left by the last sync; it is dropped."""
    import torch

    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n + 1)]
    torch.cuda.synchronize()
    for start, end in events:
        start.record()
        batch()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in events[1:]]


def _host_time(batch: Callable[[], None], reps: int = 5) -> float:
    """Median host time (ms) to issue ``batch`` onto an empty GPU queue, without waiting for it."""
    import torch

    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        batch()
        times.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return sorted(times)[len(times) // 2]


def timing_metrics(result: TimingResult, items_per_step: float, item_unit: str) -> list[Metric]:
    s = summarize(result.samples_ms)
    ci_low, ci_high = s.ci_low, s.ci_high
    if result.rel_ci is not None:  # neighbouring samples are alike: the block CI is the honest one when wider
        ci_low, ci_high = max(0.0, min(ci_low, s.median * (1 - result.rel_ci))), max(ci_high, s.median * (1 + result.rel_ci))
    out = [
        Metric("step_time", s.median, "ms", LOWER, spread=s.iqr, ci_low=ci_low, ci_high=ci_high, n=s.n,
               samples=result.samples_ms),
        Metric("step_time_mad", s.mad, "ms", LOWER),
    ]
    if result.host_ms is not None:
        out.append(Metric("host_time", result.host_ms, "ms", LOWER))
    if s.median > 0 and items_per_step:
        out.append(throughput_metric(items_per_step, f"{item_unit}/s", s.median, ci_low, ci_high, s.n))
    return out


def throughput_metric(items_per_step: float, unit: str, median_ms: float, ci_low_ms: float, ci_high_ms: float,
                      n: int) -> Metric:
    """Items per second at the median step time; its CI is the step time's CI, inverted."""
    return Metric("throughput", items_per_step / (median_ms / 1e3), unit, HIGHER,
                  ci_low=items_per_step / (ci_high_ms / 1e3) if ci_high_ms > 0 else None,
                  ci_high=items_per_step / (ci_low_ms / 1e3) if ci_low_ms > 0 else None, n=n)


class TimingCollector(Collector):
    """The worker's timing pass: warm-up until compilation settles, then the timed samples of the
    timed build; ``ctx.step_ms`` is the median step time (the graph pass compares with it)."""

    name = "timing"
    produces = ("step_time", "step_time_mad", "host_time", "throughput")

    def run(self, ctx: CaseContext) -> None:
        from perfwatch.collectors import torch_compat

        spec = ctx.spec
        timing = measure(ctx.call, spec.backend, torch_compat.compile_count if ctx.compiled else (lambda: 0),
                         min_time_s=spec.min_time_s, min_samples=spec.min_samples, max_samples=spec.max_samples,
                         max_time_s=spec.max_time_s, precision=spec.precision)
        self._metrics = timing_metrics(timing, ctx.workload.items_per_step, ctx.workload.item_unit)
        details = {"method": timing.method, "inner_loops": timing.inner, "warmup_calls": timing.warmup_calls,
                   "warmup_s": round(timing.warmup_s, 3), "timed_s": round(timing.timed_s, 3),
                   "precision": round(timing.rel_ci, 5) if timing.rel_ci is not None else None,
                   # the target and whether it was met: a case that missed it cannot raise a
                   # confident timing regression (perfwatch.analysis.gate)
                   "precision_target": spec.precision,
                   "precision_met": timing.rel_ci is not None and timing.rel_ci <= spec.precision}
        ctx.step_ms = next(m.value for m in self._metrics if m.name == "step_time")
        if timing.host_ms is not None and ctx.step_ms > 0:
            # Host time to issue a step over the step time: near 1 means launch-bound.
            details["host_fraction"] = round(timing.host_ms / ctx.step_ms, 3)
        self._details = {"timing": details}
