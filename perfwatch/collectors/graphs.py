"""CUDA-graph replay time of a step: what the GPU needs when the host is out of the way.

Applies to eager steps and to steps compiled in the default mode (Inductor's Triton kernels,
launched from Python like eager's); reduce-overhead and max-autotune replay CUDA graphs already.
A launch-bound step is timed as fast as the host can issue its kernels (``step_time``,
with ``host_time`` the host's own cost). Capturing one step into a CUDA graph and timing its
replays gives the third figure, ``graph_time``: the kernels alone, back to back. Read together:
step ≈ host ≫ graph means the step is launch-bound and CUDA graphs (reduce-overhead) would pay;
step ≈ graph means the GPU is the limit. Replay timing is also nearly free of the host's noise.

It applies where a step can be captured: no host synchronization inside (``.item()``, printing
a tensor), no CPU-side work that depends on GPU values, optimizers built with
``capturable=True``. Where capture fails the case records why (``graph_status``), never a figure.
Replaying re-runs the step's side effects (an optimizer update) on the captured tensors, which
is harmless for timing. This pass runs after every other pass that steps the build: a failed
capture can leave the stream unusable for the rest of the process.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import LOWER, CaseSpec, Metric
from perfwatch.domain.sampling import summarize

WARMUP_CALLS = 3  # on a side stream, as torch.cuda.graphs recommends before capture


def capture(call: Callable[[], Any]):
    """Warm ``call`` up on a side stream, capture one call into a CUDA graph; (graph, seconds)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP_CALLS):
            call()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    t0 = time.perf_counter()
    with torch.cuda.graph(graph):
        call()
    torch.cuda.synchronize()
    return graph, time.perf_counter() - t0


def time_replays(graph, min_time_s: float = 0.2, max_samples: int = 500) -> list[float]:
    """Per-replay ms, CUDA_CHUNK replays back to back per host synchronization (as step timing)."""
    import torch

    from perfwatch.collectors.timing import CUDA_CHUNK, _cuda_chunk

    graph.replay()
    torch.cuda.synchronize()
    samples: list[float] = []
    while sum(samples) / 1e3 < min_time_s and len(samples) < max_samples:
        samples += _cuda_chunk(graph.replay, CUDA_CHUNK)
    return samples


def replay_time(call: Callable[[], Any], min_time_s: float = 0.2) -> tuple[list[float], float]:
    """Capture ``call`` once and time replays; returns (per-replay ms samples, capture seconds)."""
    graph, capture_s = capture(call)
    return time_replays(graph, min_time_s), capture_s


def graph_metrics(call: Callable[[], Any], step_ms: float | None, min_time_s: float = 0.2) -> tuple[list[Metric], dict]:
    """The graph_time metric and details, or no metric and the reason in ``graph_status``."""
    try:
        samples, capture_s = replay_time(call, min_time_s)
    except Exception as exc:  # most often: a host sync or a non-capturable optimizer inside the step
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return [], {"graph_status": f"not capturable: {type(exc).__name__}: {first}"}
    s = summarize(samples)
    details: dict[str, Any] = {"graph_status": "ok", "graph_capture_s": round(capture_s, 3)}
    if step_ms:
        details["graph_fraction"] = round(s.median / step_ms, 3)  # GPU time / step time: low = launch-bound
    # Samples, spread and CI stored like step_time's: `compare` tests them and the detector weighs them.
    return [Metric("graph_time", s.median, "ms", LOWER, spread=s.iqr, ci_low=s.ci_low, ci_high=s.ci_high, n=s.n,
                   samples=tuple(samples))], details


def graph_pass(spec: CaseSpec) -> str | None:
    """Which build the graph pass captures: "fresh" (eager), "timed" (compiled), or None."""
    if spec.backend != "cuda" or spec.mode in ("reduce-overhead", "max-autotune"):
        return None  # these modes capture CUDA graphs themselves: no graph inside a graph
    return "fresh" if spec.mode == "eager" else "timed"


class GraphCollector(Collector):
    """The worker's graph pass, last: one step captured into a CUDA graph, its replays timed.

    Eager mode captures a fresh build; default mode the timed compiled build, kept for this pass
    (its captured replays time Inductor's kernels without the launch overhead that sets a small
    compiled step's time, and recompiling would cost the compile again). A benchmark that cannot
    serve CUDA graphs at all (managed memory) is not captured, and its build is not kept.
    """

    name = "graph"
    produces = ("graph_time",)

    def applies(self, ctx: CaseContext) -> str | None:
        return None if graph_pass(ctx.spec) else "CUDA graphs are captured on CUDA, in eager and default mode"

    def _no_graphs(self, ctx: CaseContext) -> str | None:
        return ctx.bench.unsupported_reason(ctx.spec.backend, "reduce-overhead")

    def keeps_built(self, ctx: CaseContext) -> bool:
        return graph_pass(ctx.spec) == "timed" and not self._no_graphs(ctx)

    def run(self, ctx: CaseContext) -> None:
        no_graphs = self._no_graphs(ctx)
        if no_graphs:
            self._details = {"graph_status": f"not captured: {no_graphs}"}
            return
        step = ctx.call if self.keeps_built(ctx) else ctx.build("eager").step
        self._metrics, self._details = graph_metrics(step, ctx.step_ms)
