"""CUDA unified-memory counters through CUPTI: page faults and migrated bytes of a region.

``UvmWatch`` counts unified-memory events while its ``with`` block runs (PyPI ``cupti-python``,
the ``uvm`` extra, imported lazily): GPU page faults, CPU page faults, bytes moved host to device
and back, thrashing events. It configures the counters only once CUDA is initialized (before that
CUPTI answers ERROR_NOT_READY) and runs in a pass of its own (``UvmCollector``): never in the
timed pass, and before any torch.profiler session (Kineto takes over CUPTI's activity callbacks).
The managed-memory allocator these counters are most often read for is installed by the build
pass (perfwatch/measure/allocators.py), as the benchmark declares it.
"""

from __future__ import annotations

from typing import Any

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.errors import MissingExtra
from perfwatch.domain.optional import require
from perfwatch.domain.results import LOWER, Metric
from perfwatch.measure import allocators

METRICS = (  # name, unit
    ("uvm_gpu_page_faults", "count"),
    ("uvm_cpu_page_faults", "count"),
    ("uvm_bytes_htod", "bytes"),
    ("uvm_bytes_dtoh", "bytes"),
    ("uvm_thrashing", "count"),
)
STEPS = 5  # steps counted by the unified-memory pass


class _Tally:
    """Receives CUPTI activity buffers (process-wide: CUPTI keeps one pair of callbacks)."""

    def __init__(self) -> None:
        self.active = False
        self.reset()

    def reset(self) -> None:
        self.gpu_faults = 0
        self.cpu_fault_records = 0
        self.htod = 0
        self.dtoh = 0
        self.thrashing = 0
        self.records = 0

    def add(self, activities: list, kinds: Any) -> None:
        if not self.active:
            return
        for a in activities:
            if getattr(a, "counter_kind", None) is None:
                continue
            self.records += 1
            k = a.counter_kind
            if k == kinds.GPU_PAGE_FAULT:
                self.gpu_faults += int(a.value)  # a record groups faults: value is their count
            elif k == kinds.CPU_PAGE_FAULT_COUNT:
                self.cpu_fault_records += 1  # value is not a count here (summing gave 6.7e15)
            elif k == kinds.BYTES_TRANSFER_HTOD:
                self.htod += int(a.value)
            elif k == kinds.BYTES_TRANSFER_DTOH:
                self.dtoh += int(a.value)
            elif k == kinds.THRASHING:
                self.thrashing += 1  # value holds flags, not a count


_tally = _Tally()
_callbacks_registered = False


def cupti_importable() -> bool:
    try:
        import cupti  # noqa: F401
    except Exception:  # ImportError, or a broken install (missing libcupti)
        return False
    return True


class UvmWatch:
    """Unified-memory events while the ``with`` block runs (CUDA only).

    Metrics (lower is better): ``uvm_gpu_page_faults``, ``uvm_cpu_page_faults`` (count),
    ``uvm_bytes_htod``, ``uvm_bytes_dtoh`` (bytes), ``uvm_thrashing`` (count). When CUPTI, CUDA
    or unified-memory counters are not available, ``details()['uvm_status']`` says why and no
    metric is recorded: never zeros.
    """

    name = "uvm"

    def __init__(self, device: str = "cuda") -> None:
        self.device = device
        self._metrics: list[Metric] = []
        self._details: dict[str, Any] = {}
        self._active = False
        self._cupti = None

    def _status(self, text: str) -> None:
        self._details["uvm_status"] = text
        self._active = False

    def __enter__(self) -> "UvmWatch":
        global _callbacks_registered
        self._metrics, self._details, self._active = [], {}, False
        if not self.device.startswith("cuda"):
            self._status(f"unavailable: unified memory is CUDA-only (device {self.device})")
            return self
        try:
            require("cupti", extra="uvm", what="cupti-python")
            from cupti import cupti
        except MissingExtra as exc:
            self._status(f"unavailable: {exc}")
            return self
        except Exception as exc:  # a broken install (libcupti missing): counters unavailable, never a failed case
            self._status(f"unavailable: cupti-python does not load ({type(exc).__name__}: {exc})")
            return self
        import torch

        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            self._status("unavailable: CUDA is not initialized (CUPTI's counters need a CUDA context)")
            return self
        kinds = cupti.ActivityUnifiedMemoryCounterKind
        wanted = [kinds.BYTES_TRANSFER_HTOD, kinds.BYTES_TRANSFER_DTOH, kinds.CPU_PAGE_FAULT_COUNT,
                  kinds.GPU_PAGE_FAULT, kinds.THRASHING]
        try:
            configs = cupti.ActivityUnifiedMemoryCounterConfig(len(wanted))
            configs.scope = 1  # PROCESS_SINGLE_DEVICE
            configs.device_id = torch.cuda.current_device()
            configs.enable = 1
            for i, k in enumerate(wanted):
                configs[i].kind = k
            cupti.activity_configure_unified_memory_counter(configs.ptr, len(wanted))
            if not _callbacks_registered:
                cupti.activity_register_callbacks(lambda: (8 << 20, 0), lambda acts: _tally.add(acts, kinds))
                _callbacks_registered = True
            torch.cuda.synchronize()
            _tally.reset()
            _tally.active = True
            cupti.activity_enable(cupti.ActivityKind.UNIFIED_MEMORY_COUNTER)
        except Exception as exc:  # cuptiError: NOT_READY, UM_PROFILING_NOT_SUPPORTED, ...
            _tally.active = False
            self._status(f"unavailable: CUPTI refused unified-memory counters ({type(exc).__name__}: {exc})")
            return self
        self._cupti = cupti
        self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            return
        import torch

        cupti = self._cupti
        try:
            if exc[0] is None:
                torch.cuda.synchronize()
            cupti.activity_flush_all(1)
            cupti.activity_disable(cupti.ActivityKind.UNIFIED_MEMORY_COUNTER)
            cupti.activity_flush_all(1)
        except Exception as e:
            _tally.active = False
            self._status(f"failed: flushing CUPTI raised {type(e).__name__}: {e}")
            return
        _tally.active = False
        t = _tally
        for (name, unit), value in zip(METRICS, (t.gpu_faults, t.cpu_fault_records, t.htod, t.dtoh, t.thrashing)):
            self._metrics.append(Metric(name, float(value), unit, LOWER))
        self._details["uvm_records"] = t.records
        self._details["uvm_status"] = "ok: CUPTI unified-memory counters"

    def metrics(self) -> list[Metric]:
        return list(self._metrics)

    def details(self) -> dict[str, Any]:
        out = dict(self._details)
        if allocators.installed_allocator():
            out["uvm_allocator"] = allocators.installed_allocator_details()
        return out


class UvmCollector(Collector):
    """The worker's unified-memory pass: ``STEPS`` steps of the timed build inside a ``UvmWatch``,
    for benchmarks that ask for the counters (``uvm_counters``)."""

    name = "uvm"
    produces = tuple(name for name, _ in METRICS)

    def applies(self, ctx: CaseContext) -> str | None:
        return None if ctx.bench.uvm_counters else f"{ctx.bench.name} counts no unified-memory events"

    def run(self, ctx: CaseContext) -> None:
        with UvmWatch(ctx.spec.backend) as watch:
            for _ in range(STEPS):
                ctx.call()
        self._metrics, self._details = watch.metrics(), watch.details()
