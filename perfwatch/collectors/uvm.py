"""CUDA unified memory: a managed-memory allocator for torch, and page-fault counts via CUPTI.

Two parts, both CUDA-only and both optional:

- ``install_allocator(kind)`` swaps torch's caching allocator for ``uvm_alloc.cpp`` (shipped
  beside this file, built with nvcc at first use into ``~/.cache/perfwatch/uvm``) through
  ``torch.cuda.memory.CUDAPluggableAllocator``. It must run before the process's first CUDA
  allocation: the ``uvm`` suite calls it first thing in its build, in the worker's fresh process.
  kinds: ``caching`` (torch's own, nothing installed), ``managed`` (cudaMallocManaged),
  ``managed_prefetch`` (managed + cudaMemAdvise preferred location/accessed-by + prefetch).
  Safety: the allocator never holds more managed memory than ``managed_cap_bytes`` of what the
  GPU had free when it was installed (half, by default): beyond it a request fails as an
  out-of-memory error instead of oversubscribing the card, which can hang a shared GPU.
- ``UvmWatch`` counts unified-memory events of a region through CUPTI (PyPI ``cupti-python``,
  the ``uvm`` extra, imported lazily): GPU page faults, CPU page faults, bytes moved host to
  device and back, thrashing events. It configures the counters only once CUDA is initialized
  (before that CUPTI answers ERROR_NOT_READY) and runs in a pass of its own: never in the timed
  pass, and before any torch.profiler session (Kineto takes over CUPTI's activity callbacks).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from perfwatch.domain.errors import PerfwatchError
from perfwatch.domain.results import LOWER, Metric

ALLOCATORS = ("caching", "managed", "managed_prefetch")
SOURCE = Path(__file__).with_name("uvm_alloc.cpp")
LIB_NAME = "libperfwatch_uvm.so"
MALLOC_FN, FREE_FN = "perfwatch_uvm_malloc", "perfwatch_uvm_free"
DEFAULT_FRACTION = 0.5  # of the free memory at install time
MIN_CAP_BYTES = 64 << 20  # below this, managed memory is refused altogether

METRICS = (  # name, unit
    ("uvm_gpu_page_faults", "count"),
    ("uvm_cpu_page_faults", "count"),
    ("uvm_bytes_htod", "bytes"),
    ("uvm_bytes_dtoh", "bytes"),
    ("uvm_thrashing", "count"),
)


class UvmUnavailable(PerfwatchError):
    """Managed memory cannot be set up here (no CUDA, no compiler, allocator already in use)."""


# -- the managed-memory allocator ---------------------------------------------------------


def managed_cap_bytes(free_bytes: int, total_bytes: int, fraction: float | None = None,
                      limit: int | None = None) -> int:
    """The most managed memory the allocator may hold: ``fraction`` of what is free now.

    ``fraction`` defaults to ``PERFWATCH_UVM_FRACTION`` or 0.5 and is clamped to (0, 0.9];
    ``limit`` (or ``PERFWATCH_UVM_LIMIT_BYTES``) lowers the cap further, never raises it. A cap
    below 64 MiB is 0: managed memory is then refused rather than squeezed onto a full card.
    """
    if fraction is None:
        fraction = float(os.environ.get("PERFWATCH_UVM_FRACTION", DEFAULT_FRACTION))
    fraction = min(max(fraction, 0.0), 0.9)
    if limit is None and os.environ.get("PERFWATCH_UVM_LIMIT_BYTES"):
        limit = int(os.environ["PERFWATCH_UVM_LIMIT_BYTES"])
    free_bytes = max(0, min(int(free_bytes), int(total_bytes)))
    cap = int(free_bytes * fraction)
    if limit is not None:
        cap = min(cap, max(0, int(limit)))
    return cap if cap >= MIN_CAP_BYTES else 0


def _cache_dir() -> Path:
    if os.environ.get("PERFWATCH_CACHE_DIR"):
        return Path(os.environ["PERFWATCH_CACHE_DIR"]) / "uvm"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perfwatch" / "uvm"


def _cuda_home() -> Path | None:
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            return Path(os.environ[env])
    nvcc = shutil.which("nvcc")
    if nvcc:
        return Path(nvcc).resolve().parent.parent
    for guess in ("/usr/local/cuda",):
        if Path(guess).is_dir():
            return Path(guess)
    return None


def _compile_command(out: Path) -> list[str]:
    home = _cuda_home()
    nvcc = shutil.which("nvcc") or (str(home / "bin" / "nvcc") if home and (home / "bin" / "nvcc").exists() else None)
    if nvcc:
        return [nvcc, "-O2", "-shared", "-Xcompiler", "-fPIC", "--cudart", "shared", "-o", str(out), str(SOURCE)]
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx and home and (home / "include" / "cuda_runtime_api.h").exists():
        return [cxx, "-O2", "-shared", "-fPIC", f"-I{home / 'include'}", "-o", str(out), str(SOURCE),
                f"-L{home / 'lib64'}", "-lcudart"]
    raise UvmUnavailable("no nvcc, and no C++ compiler with the CUDA headers (set CUDA_HOME): "
                         "cannot build the managed-memory allocator")


def build_allocator(cache_dir: Path | None = None) -> Path:
    """Compile uvm_alloc.cpp once per source version into the cache; return the .so path."""
    if not SOURCE.is_file():
        raise UvmUnavailable(f"allocator source missing: {SOURCE}")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    folder = (cache_dir or _cache_dir()) / digest
    lib = folder / LIB_NAME
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{LIB_NAME}.{os.getpid()}"
    cmd = _compile_command(tmp)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UvmUnavailable(f"building the allocator failed ({' '.join(cmd)}): {proc.stderr.strip()[-2000:]}")
    os.replace(tmp, lib)  # atomic: concurrent workers never load a half-written library
    return lib


_installed: dict[str, Any] | None = None


def installed_allocator() -> dict[str, Any] | None:
    """What ``install_allocator`` set up in this process (None: torch's caching allocator)."""
    return dict(_installed) if _installed else None


def install_allocator(kind: str, device: int = 0, fraction: float | None = None) -> dict[str, Any]:
    """Make torch allocate CUDA memory with ``kind``; returns facts for the case's details.

    Idempotent for the same kind (a benchmark built twice in one worker); asking for another
    managed kind, or for one after torch's allocator was used, raises UvmUnavailable.
    """
    global _installed
    if kind not in ALLOCATORS:
        raise UvmUnavailable(f"unknown allocator {kind!r}; valid: {', '.join(ALLOCATORS)}")
    if kind == "caching":
        if _installed:
            raise UvmUnavailable(f"this process already uses the {_installed['allocator']} allocator")
        return {"allocator": "caching"}
    if _installed:
        if _installed["allocator"] == kind:
            return dict(_installed)
        raise UvmUnavailable(f"this process already uses the {_installed['allocator']} allocator")
    import torch

    if not torch.cuda.is_available():
        raise UvmUnavailable("CUDA is not available: no managed memory")
    lib_path = build_allocator()
    lib = ctypes.CDLL(str(lib_path))
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    err = lib.perfwatch_uvm_mem_info(ctypes.c_int(device), ctypes.byref(free), ctypes.byref(total))
    if err != 0:
        raise UvmUnavailable(f"cudaMemGetInfo failed with CUDA error {err}")
    cap = managed_cap_bytes(free.value, total.value, fraction)
    if cap <= 0:
        raise UvmUnavailable(f"too little free GPU memory for managed memory ({free.value} bytes free)")
    # Read by the library at its first allocation.
    os.environ["PERFWATCH_UVM_MODE"] = kind
    os.environ["PERFWATCH_UVM_CAP_BYTES"] = str(cap)
    try:
        alloc = torch.cuda.memory.CUDAPluggableAllocator(str(lib_path), MALLOC_FN, FREE_FN)
        torch.cuda.memory.change_current_allocator(alloc)
    except RuntimeError as exc:  # "Can't swap an already initialized allocator"
        raise UvmUnavailable(f"cannot install the managed allocator: {exc}") from exc
    _installed = {"allocator": kind, "library": str(lib_path), "uvm_cap_bytes": cap,
                  "gpu_free_bytes_at_install": free.value, "gpu_total_bytes": total.value,
                  "_lib": lib, "_alloc": alloc}
    return installed_allocator_details()


def installed_allocator_details() -> dict[str, Any]:
    if not _installed:
        return {"allocator": "caching"}
    out = {k: v for k, v in _installed.items() if not k.startswith("_")}
    lib = _installed["_lib"]
    lib.perfwatch_uvm_peak_bytes.restype = ctypes.c_longlong
    lib.perfwatch_uvm_refused.restype = ctypes.c_longlong
    out["uvm_peak_managed_bytes"] = int(lib.perfwatch_uvm_peak_bytes())
    out["uvm_refused_allocations"] = int(lib.perfwatch_uvm_refused())
    return out


# -- CUPTI unified-memory counters ---------------------------------------------------------


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
            from cupti import cupti
        except Exception as exc:
            self._status(f"unavailable: cupti-python is not installed ({type(exc).__name__}: {exc}); "
                         "pip install 'perfwatch[uvm]'")
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
        if _installed:
            out["uvm_allocator"] = installed_allocator_details()
        return out


def _main(argv: list[str]) -> int:  # python -m perfwatch.collectors.uvm build
    if argv[1:2] == ["build"]:
        print(build_allocator())
        return 0
    print("usage: python -m perfwatch.collectors.uvm build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
