"""The input-pipeline pass: the share of a step spent waiting for its next batch.

Applies to workloads that keep wait accounting (``Workload.input_stats``: cumulative seconds spent
in ``next()`` on the loader plus issuing the host-to-device copy, and steps; the ``pipeline`` suite).
It steps the timed build for a fixed window, in blocks of steps, and reads the accounting at each
block's ends; over the whole window:

    data_wait_fraction = total wait / total wall time       (0: the loader keeps up; near 1: starved)
    data_wait_time     = total wait / steps, in ms

Sums, not a median over blocks: per-step waits are lumpy (two workers finish their batches
together, so one step waits for both and the next finds one ready; seen on an H200, where a
median of one-step blocks read 19 ms against a 116 ms step). The blocks give the spread and a
95% CI (the between-block standard error, with block values as the samples). The
block's wall time is bracketed by device synchronization (perf_counter, as the CPU timing does):
on CUDA the host runs ahead of the GPU inside a block, so a loader that keeps up is waited on
only while the GPU is still busy, which is not starvation and is not counted.

Why a pass of its own rather than part of timing: the timing pass's step time already includes
the wait; this figure says *why* a step got slower, and a change that makes the loader the
bottleneck regresses it by itself even where step time is too noisy to gate.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable, Mapping

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import LOWER, Metric
from perfwatch.domain.sampling import summarize
from perfwatch.measure.backends import synchronize

BLOCKS = 10  # blocks the window is cut into (calibrated from the timing pass's step time)
MIN_BLOCKS = 5  # fewer say nothing about the spread
MIN_WINDOW_S, MAX_WINDOW_S = 0.2, 2.0  # the window: --min-time, within these bounds
# steps before the window, beyond the batches the loader says it may hold ready ("prefetch" in
# its stats): those refill while the worker is between passes, and would make the window look fed
WARMUP_STEPS = 2
MIN_STEPS = 10  # fewer steps than this would weigh one lumpy wait too much


def measure_wait(call: Callable[[], Any], stats: Callable[[], Mapping[str, float]], device: str, window_s: float,
                 step_ms: float | None) -> list[tuple[float, float, int]]:
    """(wait s, wall s, steps) of each block over about ``window_s``."""
    per_block = 1
    if step_ms and step_ms > 0:
        per_block = max(1, int(window_s / BLOCKS / (step_ms / 1e3)))
    for _ in range(WARMUP_STEPS + int(stats().get("prefetch", 0))):
        call()
    blocks: list[tuple[float, float, int]] = []
    steps_done = 0
    deadline = time.perf_counter() + max(30.0, 20 * window_s)  # a bound on a step far slower than timed
    spent = 0.0
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as in timing: a collection would land in one block's wait or compute
    try:
        while ((spent < window_s or len(blocks) < MIN_BLOCKS or steps_done < MIN_STEPS)
               and time.perf_counter() < deadline):
            synchronize(device)
            before, t0 = stats(), time.perf_counter()
            for _ in range(per_block):
                call()
            synchronize(device)
            wall, after = time.perf_counter() - t0, stats()
            wait, steps = after["wait_s"] - before["wait_s"], after["steps"] - before["steps"]
            spent += wall
            steps_done += int(steps)
            if wall > 0 and steps > 0:
                blocks.append((wait, wall, int(steps)))
    finally:
        if gc_was_enabled:
            gc.enable()
    return blocks


def _metric(name: str, value: float, samples: list[float], unit: str, upper: float | None = None) -> Metric:
    """``value`` (a ratio of sums) with the blocks' IQR and a normal CI from their standard error."""
    s = summarize(samples)
    half = 1.96 * s.stdev / len(samples) ** 0.5
    high = value + half if upper is None else min(upper, value + half)
    return Metric(name, value, unit, LOWER, spread=s.iqr, ci_low=max(0.0, value - half), ci_high=high, n=s.n,
                  samples=tuple(samples))


def wait_metrics(blocks: list[tuple[float, float, int]]) -> list[Metric]:
    wait = sum(b[0] for b in blocks)
    wall = sum(b[1] for b in blocks)
    steps = sum(b[2] for b in blocks)
    return [_metric("data_wait_fraction", min(1.0, wait / wall), [min(1.0, w / t) for w, t, _ in blocks], "ratio", 1.0),
            _metric("data_wait_time", wait / steps * 1e3, [w / n * 1e3 for w, _, n in blocks], "ms")]


class PipelineCollector(Collector):
    """The worker's pipeline pass, after timing, on the timed build (its loader already warm)."""

    name = "pipeline"
    produces = ("data_wait_fraction", "data_wait_time")

    def applies(self, ctx: CaseContext) -> str | None:
        if ctx.workload is None or getattr(ctx.workload, "input_stats", None) is None:
            return "the workload keeps no input-pipeline accounting (Workload.input_stats)"
        return None

    def run(self, ctx: CaseContext) -> None:
        window = min(MAX_WINDOW_S, max(MIN_WINDOW_S, ctx.spec.min_time_s))
        blocks = measure_wait(ctx.call, ctx.workload.input_stats, ctx.spec.backend, window, ctx.step_ms)
        if not blocks:  # never a silent zero
            self._details = {"pipeline_status": "no block completed within the deadline"}
            return
        self._metrics = wait_metrics(blocks)
        self._details = {"pipeline": {"blocks": len(blocks), "steps": sum(b[2] for b in blocks), "window_s": window,
                                      "wall_s": round(sum(b[1] for b in blocks), 3)}}
