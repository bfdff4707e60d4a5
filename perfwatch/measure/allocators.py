"""CUDA allocators a benchmark may declare (``Benchmark.allocator``), installed by the worker's build pass.

``install_allocator(kind)`` swaps torch's caching allocator for ``uvm_alloc.cpp`` (shipped beside
this file, built with nvcc at first use into ``~/.cache/perfwatch/uvm``, or ahead of time with
``python -m perfwatch.measure.allocators build``) through
``torch.cuda.memory.CUDAPluggableAllocator``. It must run before the process's first CUDA
allocation, so the build pass calls it first thing, in the worker's fresh process.
kinds (``perfwatch.suites.base.ALLOCATORS``): ``caching`` (torch's own, nothing installed),
``managed`` (cudaMallocManaged), ``managed_prefetch`` (managed + cudaMemAdvise preferred
location/accessed-by + prefetch).
Safety: the allocator never holds more managed memory than ``managed_cap_bytes`` of what the GPU
had free when it was installed (half, by default): beyond it a request fails as an out-of-memory
error instead of oversubscribing the card, which can hang a shared GPU.
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
from perfwatch.suites.base import ALLOCATORS

SOURCE = Path(__file__).with_name("uvm_alloc.cpp")
LIB_NAME = "libperfwatch_uvm.so"
MALLOC_FN, FREE_FN = "perfwatch_uvm_malloc", "perfwatch_uvm_free"
DEFAULT_FRACTION = 0.5  # of the free memory at install time
MIN_CAP_BYTES = 64 << 20  # below this, managed memory is refused altogether


class UvmUnavailable(PerfwatchError):
    """Managed memory cannot be set up here (no CUDA, no compiler, allocator already in use)."""



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


def main(argv: list[str]) -> int:  # python -m perfwatch.measure.allocators build
    if argv[1:2] == ["build"]:
        print(build_allocator())
        return 0
    print("usage: python -m perfwatch.measure.allocators build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
