"""The one place that reads torch's private compile counters.

They move between versions: graph-break reasons sit under ``counters['unimplemented']`` on torch
2.13 and under ``counters['graph_break']`` on 2.14; there is no ``counters['recompiles']``; and
``torch._dynamo.utils.get_compilation_metrics()`` gives one record per compile with
``compile_id`` ("frame/attempt") and ``recompile_reason``. When a source is missing we raise
:class:`CompatError` (reported as a status), never return a silent 0. tests/test_torch_compat.py
fails loudly if torch moves them again.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Any


class CompatError(RuntimeError):
    """torch no longer exposes a compile statistic where this layer expects it."""


def _torch_minor() -> tuple[int, int]:
    import torch

    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def _counters() -> Any:
    try:
        from torch._dynamo.utils import counters
    except ImportError as exc:
        raise CompatError(f"torch._dynamo.utils.counters is gone: {exc}") from None
    return counters


def graph_break_sources() -> tuple[str, ...]:
    """Counter groups holding graph-break reasons, newest layout first for this torch."""
    return ("graph_break", "unimplemented") if _torch_minor() >= (2, 14) else ("unimplemented", "graph_break")


def reset() -> None:
    """Forget counters and compile records (a worker measures exactly one case), and keep every
    record from now on: torch keeps them in a deque of 64, and under reduce-overhead the CUDA-graph
    recordings (runtime records) pushed a case's compile records out (issue 16: ``compiles: []``)."""
    _counters().clear()
    try:
        from torch._dynamo import utils as dynamo_utils
    except ImportError as exc:
        raise CompatError(f"torch._dynamo.utils is gone: {exc}") from None
    if hasattr(dynamo_utils, "clear_compilation_metrics"):
        dynamo_utils.clear_compilation_metrics()
    keep_every_record(dynamo_utils)


RECORDS_LIMIT = 1_000_000  # a case makes tens of records; a bound only against a runaway loop


def keep_every_record(dynamo_utils: Any = None) -> None:
    if dynamo_utils is None:
        from torch._dynamo import utils as dynamo_utils
    if hasattr(dynamo_utils, "set_compilation_metrics_limit"):
        dynamo_utils.set_compilation_metrics_limit(RECORDS_LIMIT)
        return
    store = getattr(dynamo_utils, "_compilation_metrics", None)
    if isinstance(store, collections.deque) and store.maxlen is not None:  # older torch: swap the deque
        dynamo_utils._compilation_metrics = collections.deque(store, maxlen=RECORDS_LIMIT)


def graph_breaks() -> dict[str, int]:
    """Graph-break reason -> number of times dynamo broke the graph for it while tracing."""
    counters = _counters()
    for group in graph_break_sources():
        found = counters.get(group)
        if found:
            # The reason's first line names it; the rest is hints and a source excerpt.
            merged: dict[str, int] = {}
            for reason, n in found.items():
                key = str(reason).split("\n", 1)[0].strip()
                merged[key] = merged.get(key, 0) + int(n)
            return merged
    return {}


def unique_graphs() -> int:
    return int(_counters().get("stats", {}).get("unique_graphs", 0))


def compilation_records() -> list[dict[str, Any]]:
    try:
        from torch._dynamo.utils import get_compilation_metrics
    except ImportError as exc:
        raise CompatError(f"torch._dynamo.utils.get_compilation_metrics is gone: {exc}") from None
    out = []
    for rec in get_compilation_metrics():
        d = dataclasses.asdict(rec) if dataclasses.is_dataclass(rec) else dict(vars(rec))
        if "compile_id" not in d:
            raise CompatError("compilation metrics records no longer carry compile_id")
        out.append(d)
    return out


def is_runtime(record: dict[str, Any]) -> bool:
    """A record of work done at run time (CUDA-graph recording, lazy autotuning), not a compile
    of a frame: seen on GPU, where such records repeat the frame's compile_id and would
    otherwise count as dozens of "recompilations"."""
    return bool(record.get("is_runtime"))


def compile_count() -> int:
    """Number of compilations so far (cheap; used to tell when warm-up is done)."""
    try:
        from torch._dynamo.utils import get_compilation_metrics
    except ImportError:
        return 0
    return len(get_compilation_metrics())


def is_recompile(record: dict[str, Any]) -> bool:
    """A compile of a frame that had been compiled before ("frame/attempt" with attempt > 0)."""
    cid = str(record.get("compile_id") or "")
    attempt = cid.split("/")[-1] if "/" in cid else ""
    if attempt.isdigit():
        return int(attempt) > 0
    return bool(record.get("recompile_reason"))


# --- what one record cost, and in which phase -----------------------------------------------
#
# A record is one compilation of one graph: the forward of a frame (dynamo traced it: frame time,
# nested backend = AOTAutograd ⊃ Inductor ⊃ codegen), the backward of that frame (compiled lazily
# at the first backward call: no frame or backend time, only its own total and Inductor's), or a
# runtime record (CUDA-graph recording, lazy Triton autotuning). ``duration_us`` is every record's
# outermost total; the frame time was the only one summed before issue 16, which left the
# backward (130 s of Inductor for llm train under max-autotune) out of ``compile_time``.

FORWARD, BACKWARD, RUNTIME = "forward", "backward", "runtime"

# Exclusive phases, by the name perfwatch stores them under: they add up to ``compile_time``.
PHASES = {
    "compile_time_dynamo": "Dynamo: tracing, guards, bytecode (the frame less its backend)",
    "compile_time_aot": "AOTAutograd: joint graph, partition, wrappers (the backend less Inductor)",
    "compile_time_inductor": "Inductor less codegen and autotuning: lowering, passes, scheduling",
    "compile_time_codegen": "Inductor codegen less autotuning (kernels written and compiled, cache loads)",
    "compile_time_autotune": "autotuning, at compile time and lazily at run time",
    "compile_time_runtime": "other lazy work at run time (CUDA-graph recording)",
}


def _s(record: dict[str, Any], field: str, us: bool = False) -> float:
    v = record.get(field)
    return 0.0 if v is None else float(v) / (1e6 if us else 1.0)


def record_kind(record: dict[str, Any]) -> str:
    if is_runtime(record):
        return RUNTIME
    return BACKWARD if record.get("is_forward") is False else FORWARD


def record_total_s(record: dict[str, Any]) -> float:
    """Seconds one record cost: its outermost timed total (``duration_us``), else what older
    torch records carry (the frame's time, the backward's cumulative time)."""
    if record.get("duration_us") is not None:
        return _s(record, "duration_us", us=True)
    for field, us in (("entire_frame_compile_time_s", False), ("backward_cumulative_compile_time_us", True)):
        if record.get(field) is not None:
            return _s(record, field, us)
    if is_runtime(record):
        return _s(record, "runtime_triton_autotune_time_us", True) + _s(record, "runtime_cudagraphify_time_us", True)
    return 0.0


def record_phases(record: dict[str, Any]) -> dict[str, float]:
    """The record's total split into the exclusive PHASES (they sum to ``record_total_s``).

    Each nested time is clamped to its parent so rounding (torch stores µs and s) never makes a
    phase negative; what no finer phase claims stays with the outer one (Dynamo for a forward,
    AOTAutograd for a backward, "runtime" for a runtime record)."""
    total = record_total_s(record)
    out = dict.fromkeys(PHASES, 0.0)
    kind = record_kind(record)
    if kind == RUNTIME:
        tune = min(total, _s(record, "runtime_triton_autotune_time_us", True))
        out["compile_time_autotune"] = tune
        out["compile_time_runtime"] = total - tune
        return out
    if kind == FORWARD:
        backend = min(total, _s(record, "backend_compile_time_s") or _s(record, "aot_autograd_cumulative_compile_time_us", True))
    else:  # the lazy backward is AOTAutograd's own call into Inductor
        backend = total
    inductor = min(backend, _s(record, "inductor_compile_time_s") or _s(record, "inductor_cumulative_compile_time_us", True))
    codegen = min(inductor, _s(record, "code_gen_time_s") or _s(record, "inductor_code_gen_cumulative_compile_time_us", True))
    # compile-time autotuning runs inside Inductor: in lowering (select_algorithm) or in the
    # scheduler (codegen) depending on the version; take it from lowering first, then codegen
    tune = min(inductor, _s(record, "compile_time_autotune_time_us", True))
    lowering = inductor - codegen
    from_lowering = min(tune, lowering)
    out["compile_time_autotune"] = tune
    out["compile_time_inductor"] = lowering - from_lowering
    out["compile_time_codegen"] = codegen - (tune - from_lowering)
    out["compile_time_aot"] = backend - inductor
    out["compile_time_dynamo"] = total - backend
    return out


# --- compile windows: torch's own start/end callbacks around every compilation --------------

def compile_callbacks(on_start, on_end) -> Any:
    """Call ``on_start()``/``on_end()`` around each compilation torch reports (a frame, a lazy
    backward, a CUDA-graph recording; nested ones once); returns a remover, or None where this
    torch has no callback handler."""
    try:
        from torch._dynamo.callback import callback_handler
    except ImportError:
        return None

    def start(_args: Any) -> None:
        on_start()

    def end(_args: Any) -> None:
        on_end()

    callback_handler.register_start_callback(start)
    callback_handler.register_end_callback(end)

    def remove() -> None:
        callback_handler.remove_start_callback(start)
        callback_handler.remove_end_callback(end)

    return remove


def cache_counters() -> dict[str, int]:
    """Compile-cache hits and misses so far: Inductor's FX-graph cache and AOTAutograd's cache."""
    c = _counters()
    ind, aot = c.get("inductor", {}), c.get("aot_autograd", {})
    return {"fxgraph_cache_hit": int(ind.get("fxgraph_cache_hit", 0)),
            "fxgraph_cache_miss": int(ind.get("fxgraph_cache_miss", 0)),
            "aotautograd_cache_hit": int(aot.get("autograd_cache_hit", 0)),
            "aotautograd_cache_miss": int(aot.get("autograd_cache_miss", 0))}


# --- portable cache artifacts (torch.compiler.save_cache_artifacts, "mega-cache") ------------

def save_cache_artifacts(path: str) -> bool:
    """Write this process's compile artifacts to ``path``; False where torch cannot."""
    import torch

    save = getattr(torch.compiler, "save_cache_artifacts", None)
    if save is None:
        return False
    got = save()
    if not got:
        return False
    with open(path, "wb") as f:
        f.write(got[0])
    return True


def load_cache_artifacts(path: str) -> bool:
    import torch

    load = getattr(torch.compiler, "load_cache_artifacts", None)
    if load is None or not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        load(f.read())
    return True


def valgrind_toggle() -> None:
    """Start or stop callgrind's collection (``--collect-atstart=no``), as PyTorch's
    pr_time_benchmarks do around the compile they count."""
    import torch

    torch._C._valgrind_toggle()
