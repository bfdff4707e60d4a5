"""The metric catalogue: every figure perfwatch records, in one place.

Each entry says the metric's unit, which way is better, whether it is an exact counter (any
persisting change is real) or a measurement (judged against its noise), the label people read,
the group it is shown in, and the pass that produces it. The worker, the summary table, compare,
report, the dashboard's frames, asv export and alerts all read this table; adding a metric is
one entry here plus the collector that measures it.

Metrics that are not listed (a user suite's own, asv imports) still work: ``spec(name, unit)``
derives a sensible entry from the unit.
"""

from __future__ import annotations

from dataclasses import dataclass

LOWER = "lower_is_better"
HIGHER = "higher_is_better"
DIRECTIONS = (LOWER, HIGHER)

# kinds: how a metric's changes are judged
EXACT = "exact"  # integer facts of the build (graph breaks, recompilations, accuracy pass): any change is real
NOISY = "noisy"  # measurements, counts included (page faults): judged against their run-to-run noise

# groups: figures that move together for one cause, and the dashboard view that shows them
TIME, COMPILE, MEMORY, UVM, ACCURACY = "time", "compile", "memory", "uvm", "accuracy"
BATCH = "batch"  # the batch search (--batch-search): the largest batch that fits, throughput by batch


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    direction: str = LOWER
    kind: str = NOISY
    label: str = ""
    group: str = TIME
    produced_by: str = ""  # the worker pass (perfwatch.measure.passes) that records it
    headline: bool = False  # shown by default in compare and report
    vs_baseline: bool = False  # set against the baseline run, per case, in `perfwatch report`
    # smallest absolute change the gate flags: one wall-clock interval per run (a first call, a
    # compile) carries the host's scheduling jitter, milliseconds on a shared runner, whatever
    # its relative noise looked like in a few runs
    min_abs: float = 0.0
    # the definition's version: a new version is a new series (perfwatch.domain.series), so a
    # history measured under the old definition is never compared with the new one. 2 = issue 16
    # (compile time counts every record, backward included, over cold per-case caches).
    version: int = 1

    @property
    def exact(self) -> bool:
        return self.kind == EXACT

    @property
    def display(self) -> str:
        return self.label or self.name.replace("_", " ")


def _m(name, unit, direction=LOWER, kind=NOISY, label="", group=TIME, produced_by="", headline=False,
       vs_baseline=False, min_abs=0.0, version=1):
    return MetricSpec(name, unit, direction, kind, label, group, produced_by, headline, vs_baseline, min_abs, version)


JITTER_S = 0.01  # 10 ms: the min_abs of single wall-clock intervals (first call, compile phases)
# Compile wall time follows the host's load (the compiler subprocesses wait for a core): 37% CV
# run to run on the shared 2-core CPU machine, where its CPU time scattered 7%
# (benchmarks/compile_noise.py, docs/measurement.md). Instruction counts are exact-ish (about 1% in
# PyTorch's pr_time_benchmarks; not measured here).
COMPILE_JITTER_S = 0.25
COMPILE_CPU_JITTER_S = 0.1
COMPILE_V = 2  # issue 16's definitions of the compile figures
# Smallest data-wait changes the gate flags (issue 19): 2 points of the step, 0.05 ms per step.
PIPELINE_JITTER_FRACTION = 0.02
PIPELINE_JITTER_MS = 0.05

# The exclusive phases of compile_time, in order: they add up to it (perfwatch/collectors/torch_compat.py).
COMPILE_PHASES = ("compile_time_dynamo", "compile_time_aot", "compile_time_inductor", "compile_time_codegen",
                  "compile_time_autotune", "compile_time_runtime")


CATALOGUE: tuple[MetricSpec, ...] = (
    # timing pass
    _m("step_time", "ms", label="step time", produced_by="timing", headline=True, vs_baseline=True),
    _m("step_time_mad", "ms", label="step time MAD", produced_by="timing"),
    _m("host_time", "ms", label="host time per step", produced_by="timing"),
    _m("throughput", "items/s", HIGHER, label="throughput", produced_by="timing", headline=True),
    _m("speedup_vs_eager", "x", HIGHER, label="speedup vs eager", produced_by="runner"),
    # graph_time: the GPU's share of a launch-bound step, steady where step time is not
    _m("graph_time", "ms", label="CUDA-graph replay time", produced_by="graph", headline=True, vs_baseline=True),
    # pipeline pass (workloads with a data loader): the step's share spent waiting for its batch,
    # and that wait per step. min_abs: a loader that keeps up waits a few percent of a tiny step,
    # and doubling that is not starvation; the gate wants a move of whole percentage points / 0.05 ms
    _m("data_wait_fraction", "ratio", label="data wait fraction", produced_by="pipeline", headline=True,
       min_abs=PIPELINE_JITTER_FRACTION),
    _m("data_wait_time", "ms", label="data wait per step", produced_by="pipeline", min_abs=PIPELINE_JITTER_MS),
    # build pass: first call and compilation
    _m("first_call_time", "s", label="first call (cold)", group=COMPILE, produced_by="build", min_abs=JITTER_S,
       version=COMPILE_V),
    # every compilation record of the case (forward, backward, each graph of a break, recompiles,
    # autotuning, runtime records), cold caches; the phases below add up to it
    _m("compile_time", "s", label="compile time (cold)", group=COMPILE, produced_by="build", headline=True,
       min_abs=COMPILE_JITTER_S, version=COMPILE_V),
    _m("compile_time_dynamo", "s", label="compile: Dynamo", group=COMPILE, produced_by="build", min_abs=JITTER_S,
       version=COMPILE_V),
    _m("compile_time_aot", "s", label="compile: AOTAutograd", group=COMPILE, produced_by="build", min_abs=JITTER_S,
       version=COMPILE_V),
    _m("compile_time_inductor", "s", label="compile: Inductor (less codegen)", group=COMPILE, produced_by="build",
       min_abs=JITTER_S, version=COMPILE_V),
    _m("compile_time_codegen", "s", label="compile: codegen", group=COMPILE, produced_by="build", min_abs=JITTER_S,
       version=COMPILE_V),
    _m("compile_time_autotune", "s", label="compile: autotuning", group=COMPILE, produced_by="build",
       min_abs=JITTER_S, version=COMPILE_V),
    _m("compile_time_runtime", "s", label="compile: at runtime", group=COMPILE, produced_by="build", min_abs=JITTER_S,
       version=COMPILE_V),
    # before issue 16 only: AOT + Inductor nested (no longer recorded; kept so old histories read)
    _m("compile_time_backend", "s", label="compile: AOT + Inductor (old)", group=COMPILE, min_abs=JITTER_S),
    # CPU time of the process and its compile workers inside torch's compile windows: the work, not
    # the wait; the quietest compile figure measured in every case (gate on this one)
    _m("compile_cpu_time", "s", label="compile CPU time (cold)", group=COMPILE, produced_by="build",
       min_abs=COMPILE_CPU_JITTER_S, version=COMPILE_V),
    # the warm-compile worker over the cold one's caches (perfwatch/measure/compile_cache.py)
    _m("compile_time_warm", "s", label="compile time (warm)", group=COMPILE, produced_by="runner",
       min_abs=COMPILE_JITTER_S, version=COMPILE_V),
    _m("first_call_time_warm", "s", label="first call (warm)", group=COMPILE, produced_by="runner",
       min_abs=JITTER_S, version=COMPILE_V),
    _m("compile_cpu_time_warm", "s", label="compile CPU time (warm)", group=COMPILE, produced_by="runner",
       min_abs=COMPILE_CPU_JITTER_S, version=COMPILE_V),
    _m("compile_cache_hits_warm", "count", HIGHER, kind=EXACT, label="cache hits (warm)", group=COMPILE,
       produced_by="runner", version=COMPILE_V),
    _m("compile_cache_misses_warm", "count", kind=EXACT, label="cache misses (warm)", group=COMPILE,
       produced_by="runner", version=COMPILE_V),
    # --compile-instructions: a cold build under callgrind, the worker process only; exact-ish
    _m("compile_instructions", "count", label="compile instructions", group=COMPILE, produced_by="runner",
       version=COMPILE_V),
    _m("compilations", "count", kind=EXACT, label="compilations", group=COMPILE, produced_by="build"),
    _m("graph_count", "count", kind=EXACT, label="graphs", group=COMPILE, produced_by="build"),
    _m("graph_breaks", "count", kind=EXACT, label="graph breaks", group=COMPILE, produced_by="build", headline=True),
    _m("graph_break_reasons", "count", kind=EXACT, label="graph-break reasons", group=COMPILE, produced_by="build"),
    _m("recompilations", "count", kind=EXACT, label="recompilations", group=COMPILE, produced_by="build",
       headline=True),
    # memory pass
    _m("peak_memory_allocated", "bytes", label="peak allocated (CUDA)", group=MEMORY, produced_by="memory",
       headline=True),
    _m("peak_memory_reserved", "bytes", label="peak reserved (CUDA)", group=MEMORY, produced_by="memory"),
    _m("peak_rss", "bytes", label="peak RSS", group=MEMORY, produced_by="memory", headline=True),
    _m("rss_increase", "bytes", label="RSS increase", group=MEMORY, produced_by="memory"),
    _m("peak_mps_driver_allocated", "bytes", label="peak MPS driver", group=MEMORY, produced_by="memory",
       headline=True),
    _m("peak_mps_allocated", "bytes", label="peak MPS allocated", group=MEMORY, produced_by="memory"),
    # unified-memory pass: measured counts vary run to run, so they are noisy, not exact
    _m("uvm_gpu_page_faults", "count", label="GPU page faults", group=UVM, produced_by="uvm"),
    _m("uvm_cpu_page_faults", "count", label="CPU page faults", group=UVM, produced_by="uvm"),
    _m("uvm_bytes_htod", "bytes", label="bytes host to device", group=UVM, produced_by="uvm"),
    _m("uvm_bytes_dtoh", "bytes", label="bytes device to host", group=UVM, produced_by="uvm"),
    _m("uvm_thrashing", "count", label="thrashing events", group=UVM, produced_by="uvm"),
    # accuracy pass
    _m("accuracy_pass", "bool", HIGHER, kind=EXACT, label="accuracy pass", group=ACCURACY, produced_by="accuracy",
       headline=True),
    _m("accuracy_max_abs_error", "abs", label="max abs error vs eager", group=ACCURACY, produced_by="accuracy"),
    _m("accuracy_max_rel_error", "ratio", label="max rel error vs eager", group=ACCURACY, produced_by="accuracy"),
    _m("accuracy_fp64_max_abs_error", "abs", label="max abs error vs float64", group=ACCURACY,
       produced_by="accuracy"),
    # batch pass (--batch-search): the search is deterministic under a given cap (the same code
    # allocates the same bytes; each try is a fresh build over an emptied allocator), so any
    # change is real: exact, and a drop is an out-of-memory in someone's job. Its series carry the cap.
    _m("max_batch", "count", HIGHER, kind=EXACT, label="largest batch that fits", group=BATCH, produced_by="batch",
       headline=True),
)

METRICS: dict[str, MetricSpec] = {m.name: m for m in CATALOGUE}

# Families: one metric per number, ``<prefix><N>``, each N its own series. The batch pass's
# throughput curve: throughput at each power-of-two batch the search tried and that fitted.
FAMILIES: tuple[MetricSpec, ...] = (
    _m("throughput_at_batch_", "items/s", HIGHER, label="throughput at batch ", group=BATCH, produced_by="batch"),
)


def family(name: str) -> MetricSpec | None:
    """The entry of a family member (``throughput_at_batch_64``), named and labelled for it."""
    for f in FAMILIES:
        if name.startswith(f.name) and name[len(f.name):].isdigit():
            return MetricSpec(name, f.unit, f.direction, f.kind, f.label + name[len(f.name):], f.group,
                              f.produced_by, f.headline, f.vs_baseline, f.min_abs, f.version)
    return None

# Peak memory as one figure per backend (asv's single "peak_memory" track, the run table's column).
PEAK_MEMORY_BY_BACKEND = {"cpu": "peak_rss", "cuda": "peak_memory_allocated", "mps": "peak_mps_driver_allocated"}


def spec(name: str, unit: str | None = None, direction: str | None = None) -> MetricSpec:
    """The catalogue's entry for ``name``; for a metric it does not list, one derived from its unit
    (a user suite's figure or an asv import): ``bool`` is exact, everything else a measurement."""
    known = METRICS.get(name) or family(name)
    if known is not None:
        return known
    return MetricSpec(name, unit or "", direction or LOWER, EXACT if unit == "bool" else NOISY, group=TIME)


def is_exact(name: str, unit: str | None = None) -> bool:
    return spec(name, unit).exact


def names(group: str | None = None, *, headline: bool | None = None,
          vs_baseline: bool | None = None) -> tuple[str, ...]:
    return tuple(m.name for m in CATALOGUE if (group is None or m.group == group)
                 and (headline is None or m.headline == headline)
                 and (vs_baseline is None or m.vs_baseline == vs_baseline))


def compile_phases() -> tuple[str, ...]:
    """The exclusive phases of ``compile_time`` (they add up to it)."""
    return COMPILE_PHASES


def version(name: str) -> int:
    """The definition version of a metric (1 for one the catalogue does not list)."""
    known = METRICS.get(name)
    return known.version if known is not None else 1


def importance(name: str, unit: str | None = None) -> float:
    """How much a regression of this metric matters, for ranking findings (perfwatch.analysis.findings):
    a wrong result first, then what users wait for — the step (time, throughput), then peak memory
    (an out-of-memory next week), then the headline compile figures (compile time, graph breaks,
    recompilations: they cost at start-up, or explain a slower step that ranks on its own) — then
    the supporting figures (phases, MAD, page-fault counts)."""
    m = spec(name, unit)
    if m.group == ACCURACY:
        return 10.0 if m.exact else 2.0
    if not m.headline:
        return 1.0
    return {TIME: 5.0, MEMORY: 3.0}.get(m.group, 1.5)
