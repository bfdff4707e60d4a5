"""One collector interface for every pass of the worker (pyperf's hooks are the model).

A collector is made fresh for each case. The worker (perfwatch/measure/worker.py) walks the
table of passes (perfwatch/measure/passes.py) and, for each pass's collector:

    reason = collector.applies(ctx)     # None: run it; a text: why this case skips it
    collector.start(ctx)                # a hook around the pass, or around later passes too
    collector.run(ctx)                  #   (the table's ``spans``: the compile watch of the build
    collector.stop(exc or None)         #   pass stays open through the timing pass)
    collector.metrics(), .details()

``metrics()`` returns :class:`~perfwatch.domain.results.Metric` objects, each named in
``produces`` and in the catalogue (perfwatch/domain/metrics.py, ``produced_by`` = the pass's
name). ``details()`` returns what is worth keeping that is not a number (reasons, paths). A
collector that cannot measure here raises nothing: it says so in ``details()['<name>_status']``
and records no metric, never a silent zero. A collector that raises has failed: the table says
whether that fails the case or only sets ``<name>_status``.

The measuring itself is done by watches, context managers around the stepped region
(``MemoryWatch``, ``UvmWatch``, ``CompileWatch``, ``ProfileWatch``) that scripts may use alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from perfwatch.domain.results import STATUS_OK, CaseSpec, Metric
from perfwatch.suites.base import BenchContext, Benchmark, Workload


@dataclass
class CaseContext:
    """What the passes of one case share; passes fill it in as they go (the worker owns it)."""

    spec: CaseSpec
    bench: Benchmark
    call: Callable[[], Any] | None = None  # the timed build's step as every pass calls it (build pass)
    workload: Workload | None = None  # the timed build (build pass); dropped before fresh builds
    outs: list = field(default_factory=list)  # snapshots of the timed build's first steps (build pass)
    step_ms: float | None = None  # the median step time (timing pass)
    status: str = STATUS_OK  # a verdict on the case that keeps its figures (accuracy_fail)
    error: str | None = None

    @property
    def compiled(self) -> bool:
        return self.spec.mode != "eager"

    def bench_context(self, mode: str | None = None, dtype: Any = None, amp: bool | None = None,
                      device: str | None = None) -> BenchContext:
        """The BenchContext the benchmark is built with: the spec's, or a reference's mode/dtype/device
        (the float64 reference on the CPU: --reference cpu)."""
        import torch

        spec, bench = self.spec, self.bench
        return BenchContext(
            device=device or spec.backend,
            size=spec.size,
            dtype=dtype if dtype is not None else getattr(torch, spec.dtype),
            amp=(spec.backend == "cuda" and bench.amp_on_cuda) if amp is None else amp,
            mode=mode or spec.mode,
            params=dict(spec.params),
            seed=0,
            compile_options=dict(spec.compile_options),
        )

    def build(self, mode: str, dtype: Any = None, amp: bool | None = None, device: str | None = None) -> Workload:
        """A fresh build of the benchmark (the accuracy references, the eager graph capture)."""
        return self.bench.build(self.bench_context(mode, dtype, amp, device))

    def release_built(self, keep_call: bool) -> None:
        """Drop the timed build before fresh ones are made (keep its call for a later pass that
        steps it) and hand the CUDA allocator's cached blocks back."""
        self.workload = None
        if not keep_call:
            self.call = None
        if self.spec.backend == "cuda":
            import torch

            torch.cuda.empty_cache()


class Collector:
    """The interface of a pass's collector; the defaults suit a collector that only runs steps.

    ``name`` is the pass's name (``<name>_status`` in details, ``produced_by`` in the catalogue);
    ``produces`` every metric name ``metrics()`` may return. ``phase`` names what the collector
    was doing, for a failure that fails the case (``failure_status``: "compile" means a compile error).
    """

    name: str = ""
    produces: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._metrics: list[Metric] = []
        self._details: dict[str, Any] = {}
        self.phase = self.name

    def applies(self, ctx: CaseContext) -> str | None:
        """None when this pass runs for the case; else why it does not (nothing is recorded)."""
        return None

    def keeps_built(self, ctx: CaseContext) -> bool:
        """Whether this pass steps the timed build after the fresh builds began (ctx.call is kept)."""
        return False

    def start(self, ctx: CaseContext) -> None:
        """Called just before ``run``: the start of a region the collector watches."""

    def stop(self, exc: BaseException | None) -> None:
        """Called when the pass (or the last pass it spans) ends; ``exc`` if that one raised."""

    def run(self, ctx: CaseContext) -> None:
        raise NotImplementedError

    def metrics(self) -> list[Metric]:
        return list(self._metrics)

    def details(self) -> dict[str, Any]:
        return dict(self._details)
