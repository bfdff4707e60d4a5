"""The worker's passes, in order: what each measures, what it needs, what its failure means.

Passes never mix: each steps the case on its own, so one collector's cost (a sampling thread,
CUPTI, the profiler) never lands in another's figures. The order is part of the method:
  - build, then timing: the compile watch spans both (warm-up recompiles are counted);
  - memory, then unified memory before the profiler: Kineto takes CUPTI's activity callbacks
    over for good, and unified-memory counters stop arriving after it;
  - the profiler is the last pass that steps the timed build; then the build is dropped (unless
    the graph pass keeps it) and the CUDA cache emptied before the accuracy references are built;
  - the CUDA-graph replay last of the passes that measure the case as built: a failed capture can
    spoil the stream for the rest of the process;
  - the batch search (--batch-search) after everything: it rebuilds the case at many batches under
    a memory cap, and a figure of another pass must never be measured under that cap.
A timing-only spec (the repeat processes of ``--processes``) runs the passes marked ``repeats``;
a build-only spec (the warm-compile and instruction-count workers) runs the build pass alone.

Adding a pass: one collector (perfwatch/collectors/, the interface in ``base.py``) and one entry
here; its metrics go in the catalogue (perfwatch/domain/metrics.py) with ``produced_by`` = its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from perfwatch.collectors.accuracy import AccuracyCollector
from perfwatch.collectors.base import Collector
from perfwatch.collectors.batch import BatchCollector
from perfwatch.collectors.build import BuildCollector
from perfwatch.collectors.graphs import GraphCollector
from perfwatch.collectors.memory import MemoryCollector
from perfwatch.collectors.pipeline import PipelineCollector
from perfwatch.collectors.profiler import ProfileCollector
from perfwatch.collectors.timing import TimingCollector
from perfwatch.collectors.uvm import UvmCollector

# what a pass needs
BUILT = "built"  # steps the timed build (ctx.call)
FRESH = "fresh"  # builds models of its own: the timed build is released before the first such pass
CUDA = "cuda"  # runs on CUDA only

# what a collector's exception means
FAILS_CASE = "fails_case"  # the case's failure, its status from failure_status (oom, compile_error, error)
SECONDARY = "secondary"  # "<name>_status: failed: ..." in details; the case goes on with its other figures
ERROR = "error"  # the case ends as error with the traceback, as any unexpected exception


@dataclass(frozen=True)
class Pass:
    name: str  # the collector's name: <name>_status in details, produced_by in the catalogue
    collector: Callable[[], Collector]  # made fresh for each case
    needs: frozenset[str] = frozenset()
    on_failure: str = SECONDARY
    repeats: bool = False  # runs in a timing-only spec too
    spans: str | None = None  # the collector is stopped when this later pass ends (default: its own)


PASSES: tuple[Pass, ...] = (
    Pass("build", BuildCollector, on_failure=FAILS_CASE, repeats=True, spans="timing"),
    Pass("timing", TimingCollector, frozenset({BUILT}), on_failure=FAILS_CASE, repeats=True),
    # right after timing, on the warm timed build: the loader's wait share (workloads with input_stats)
    Pass("pipeline", PipelineCollector, frozenset({BUILT})),
    Pass("memory", MemoryCollector, frozenset({BUILT})),
    Pass("uvm", UvmCollector, frozenset({BUILT, CUDA})),
    Pass("profile", ProfileCollector, frozenset({BUILT})),
    Pass("accuracy", AccuracyCollector, frozenset({FRESH}), on_failure=ERROR),
    # the timed build in default mode (kept: GraphCollector.keeps_built), a fresh eager one in eager mode
    Pass("graph", GraphCollector, frozenset({FRESH, CUDA})),
    # --batch-search: fresh builds at many batches under a memory cap; after the graph pass, whose
    # kept build it drops (the cap is for the tries alone), and it sets the cap back when it ends
    Pass("batch", BatchCollector, frozenset({FRESH})),
)


def passes_for(timing_only: bool, build_only: bool = False) -> tuple[Pass, ...]:
    if build_only:  # the warm-compile worker (perfwatch/measure/compile_cache.py): the build alone
        return tuple(p for p in PASSES if p.name == "build")
    return tuple(p for p in PASSES if p.repeats) if timing_only else PASSES
