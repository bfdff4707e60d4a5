"""What machine and software a run happened on, a fingerprint of the machine, and a doctor.

``collect_environment()`` returns a plain JSON-serialisable dict. ``doctor()`` reads its facts
from that dict (plus a few injectable probes such as ``which``) so every check can be tested
with a synthetic dict on a machine without a GPU.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import perfwatch

_GIT_TIMEOUT_S = 5.0
# nvidia-smi can take a few seconds when persistence mode is off; never let it hang a run.
_NVIDIA_SMI_TIMEOUT_S = 5.0
_NVIDIA_PROC_VERSION = "/proc/driver/nvidia/version"
# Distributions that provide the ``triton`` module (upstream, PyTorch nightlies, ROCm, XPU).
_TRITON_DISTS = ("triton", "pytorch-triton", "pytorch-triton-rocm", "pytorch-triton-xpu")


# --------------------------------------------------------------------------------------------
# collection


def _run(cmd: list[str], timeout: float, cwd: str | None = None) -> str | None:
    """stdout of ``cmd`` stripped, or None when it is missing, fails or takes too long."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _cpu_model() -> str | None:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.lower().startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        # platform.processor() only says "arm"/"i386" on macOS; sysctl has the real name.
        brand = _run(["sysctl", "-n", "machdep.cpu.brand_string"], timeout=2.0)
        if brand:
            return brand
    # ARM Linux has no "model name" line; the architecture is better than nothing.
    return platform.processor() or platform.machine() or None


def _memory_total() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the name is unknown here
        pass
    if sys.platform == "darwin":
        out = _run(["sysctl", "-n", "hw.memsize"], timeout=2.0)
        if out and out.isdigit():
            return int(out)
    try:
        import psutil  # optional

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def _triton_version() -> str | None:
    # importlib.metadata only reads the dist-info; importing triton itself takes seconds.
    for dist in _TRITON_DISTS:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _nvidia_gpu_present() -> bool:
    """An NVIDIA driver is installed, whatever torch thinks (used to spot CPU-only wheels)."""
    return shutil.which("nvidia-smi") is not None or os.path.exists(_NVIDIA_PROC_VERSION)


def _nvidia_driver_version() -> str | None:
    if shutil.which("nvidia-smi"):
        out = _run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            timeout=_NVIDIA_SMI_TIMEOUT_S,
        )
        if out:
            return out.splitlines()[0].strip()  # one line per GPU, all the same driver
    # Without nvidia-smi the kernel module still reports its version, e.g.
    # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ...".
    try:
        with open(_NVIDIA_PROC_VERSION, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return None
    for word in first.split():
        if word[:1].isdigit() and "." in word:
            return word
    return None


def _git_info(cwd: str) -> dict[str, Any]:
    info: dict[str, Any] = {"git_sha": None, "git_branch": None, "git_dirty": None}
    out = _run(["git", "rev-parse", "HEAD", "--abbrev-ref", "HEAD"], _GIT_TIMEOUT_S, cwd=cwd)
    if not out or len(out.splitlines()) != 2:
        return info  # not a repository, no commit yet, or no git
    sha, branch = out.splitlines()
    info["git_sha"] = sha
    info["git_branch"] = None if branch == "HEAD" else branch  # "HEAD" means detached
    # --no-optional-locks: never take index.lock while others may be using the repository.
    # Untracked files do not make a checkout dirty: they do not change the code that ran.
    status = _run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
        _GIT_TIMEOUT_S,
        cwd=cwd,
    )
    info["git_dirty"] = None if status is None else bool(status)
    return info


def _torch_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "torch_version": None,
        "torch_cuda_version": None,
        "torch_hip_version": None,
        "cudnn_version": None,
        "torch_built_with_cuda": False,
        "torch_built_with_mps": False,
        "cuda_available": False,
        "mps_available": False,
        "gpu_count": 0,
        "gpus": [],
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch_version"] = torch.__version__
    info["torch_cuda_version"] = torch.version.cuda
    info["torch_hip_version"] = getattr(torch.version, "hip", None)
    info["torch_built_with_cuda"] = torch.backends.cuda.is_built()
    if torch.backends.cudnn.is_available():
        info["cudnn_version"] = torch.backends.cudnn.version()
    info["torch_built_with_mps"] = torch.backends.mps.is_built()
    info["mps_available"] = torch.backends.mps.is_available()

    # Only touch devices when CUDA is usable: get_device_properties initialises CUDA in this
    # process (after which a fork()ed child cannot use CUDA; workers should be spawned).
    if torch.cuda.is_available():
        info["cuda_available"] = True
        count = torch.cuda.device_count()
        info["gpu_count"] = count
        for index in range(count):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append(
                {
                    "name": props.name,
                    "total_memory_bytes": int(props.total_memory),
                    "compute_capability": f"{props.major}.{props.minor}",
                }
            )
    return info


def collect_environment(cwd: str | None = None) -> dict[str, Any]:
    """Describe this machine and its software. ``cwd`` picks the git repository (default: .)."""
    env: dict[str, Any] = {
        "perfwatch_version": perfwatch.__version__,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "os": platform.system(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_total_bytes": _memory_total(),
        "triton_version": _triton_version(),
    }
    env.update(_torch_info())
    env["nvidia_gpu_present"] = _nvidia_gpu_present()
    env["nvidia_driver_version"] = _nvidia_driver_version() if env["nvidia_gpu_present"] else None
    env.update(_git_info(cwd or os.getcwd()))
    return env


def software_environment() -> dict[str, Any]:
    """The interpreter's own software: what differs between two Pythons on one machine
    (``perfwatch ab --base-python``): Python, torch (with its CUDA, cuDNN and devices), Triton."""
    return {"python_version": platform.python_version(), "python_implementation": platform.python_implementation(),
            "triton_version": _triton_version(), **_torch_info()}


def machine_fingerprint(env: Mapping[str, Any]) -> str:
    """Digest of what makes timings comparable: the same host with the same CPU and GPUs.

    Software (torch version, git sha, driver) is left out on purpose: it is what runs on the
    same machine are compared across.
    """
    gpus = env.get("gpus") or []
    key = {
        "hostname": env.get("hostname"),
        "cpu_model": env.get("cpu_model"),
        "cpu_count": env.get("cpu_count"),
        "gpu_names": [g.get("name") for g in gpus],
        "gpu_count": env.get("gpu_count", len(gpus)),
    }
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# doctor

OK = "ok"
WARNING = "warning"
ERROR = "error"


@dataclass(frozen=True)
class Finding:
    level: str  # "ok" | "warning" | "error"
    message: str
    hint: str | None = None


# Minimum Linux x86_64 driver per CUDA toolkit, from the NVIDIA CUDA Toolkit Release Notes
# (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/, Table 3 "CUDA Toolkit and
# Corresponding Driver Versions", GA releases) and, for the floors, Table 2 / the CUDA
# Compatibility guide (https://docs.nvidia.com/deploy/cuda-compatibility/, "Minor Version
# Compatibility"): since CUDA 11 a toolkit runs, with a limited feature set, on any driver of
# its major family at or above the floor.
_CUDA_MINOR_COMPAT_FLOOR = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
_CUDA_TOOLKIT_DRIVER = {
    "11.8": "520.61.05",
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_cuda(env: Mapping[str, Any], backend: str | None) -> list[Finding]:
    out: list[Finding] = []
    cuda = env.get("torch_cuda_version")
    nvidia = bool(env.get("nvidia_gpu_present"))
    wanted = backend == "cuda"
    if env.get("torch_hip_version"):
        out.append(Finding(OK, f"torch built for ROCm/HIP {env['torch_hip_version']}"))
        if not env.get("cuda_available") and wanted:
            out.append(
                Finding(
                    ERROR,
                    "torch is built for ROCm but no GPU is usable",
                    "Check that /dev/kfd and /dev/dri are accessible (user in the 'video' and"
                    " 'render' groups) and that HIP_VISIBLE_DEVICES is not empty.",
                )
            )
        return out

    if cuda is None:
        if nvidia:
            out.append(
                Finding(
                    ERROR if wanted else WARNING,
                    "torch is built without CUDA but this machine has an NVIDIA GPU",
                    "Install a CUDA build of torch, e.g. pip install torch --index-url "
                    "https://download.pytorch.org/whl/cu128 (pick the CUDA version your "
                    "driver supports, see https://pytorch.org/get-started/locally/).",
                )
            )
        elif wanted:
            out.append(
                Finding(
                    ERROR,
                    "backend 'cuda' asked for, but torch is built without CUDA and no NVIDIA "
                    "GPU was found",
                    "Run on a machine with an NVIDIA GPU, or choose --backend cpu.",
                )
            )
        else:
            out.append(Finding(OK, "CPU-only torch build; no NVIDIA GPU found"))
        return out

    out.append(Finding(OK, f"torch built with CUDA {cuda}"))
    if not nvidia and not env.get("cuda_available") and not wanted:
        # The default Linux wheel is a CUDA build; on a machine without a GPU that is fine.
        out.append(Finding(OK, "no NVIDIA GPU found; CUDA is unused on this machine"))
        return out
    out.extend(_check_driver(env, cuda))

    if env.get("cuda_available"):
        names = ", ".join(g.get("name", "?") for g in env.get("gpus") or []) or "?"
        out.append(Finding(OK, f"CUDA available: {env.get('gpu_count', 0)} GPU(s) ({names})"))
    else:
        out.append(
            Finding(
                ERROR,
                "torch is built with CUDA but torch.cuda.is_available() is False",
                "Check CUDA_VISIBLE_DEVICES (empty or wrong?), that nvidia-smi lists the GPU, "
                "that the driver is new enough for this CUDA, and in containers that the GPU "
                "is passed through (docker --gpus all).",
            )
        )
    return out


def _check_driver(env: Mapping[str, Any], cuda: str) -> list[Finding]:
    driver = env.get("nvidia_driver_version")
    if not driver:
        if env.get("nvidia_gpu_present"):
            return [
                Finding(
                    WARNING,
                    "NVIDIA driver version unknown",
                    "nvidia-smi did not answer; check the driver installation.",
                )
            ]
        return []
    if env.get("os") not in (None, "Linux"):
        # The tables hold Linux driver versions; Windows numbers differ.
        return [Finding(OK, f"NVIDIA driver {driver} (not checked against CUDA on this OS)")]
    cuda_v = _version_tuple(cuda)
    driver_v = _version_tuple(driver)
    floor = _CUDA_MINOR_COMPAT_FLOOR.get(cuda_v[0]) if cuda_v else None
    toolkit = _CUDA_TOOLKIT_DRIVER.get(".".join(map(str, cuda_v[:2])))
    upgrade = "Upgrade the NVIDIA driver, or install a torch wheel built for an older CUDA."
    if floor and driver_v < _version_tuple(floor):
        return [
            Finding(
                ERROR,
                f"NVIDIA driver {driver} is too old for CUDA {cuda} (needs >= {floor})",
                upgrade,
            )
        ]
    if toolkit and driver_v < _version_tuple(toolkit):
        return [
            Finding(
                WARNING,
                f"NVIDIA driver {driver} is older than CUDA {cuda}'s own driver ({toolkit}); "
                "it runs through minor version compatibility with a limited feature set",
                upgrade + " PTX JIT of newer code may fail ('unsupported toolchain').",
            )
        ]
    if floor is None and toolkit is None:
        return [Finding(OK, f"NVIDIA driver {driver} (CUDA {cuda} not in the driver table)")]
    return [Finding(OK, f"NVIDIA driver {driver} supports CUDA {cuda}")]


def _check_triton(env: Mapping[str, Any]) -> list[Finding]:
    if not env.get("cuda_available"):
        return []
    out: list[Finding] = []
    if env.get("triton_version"):
        out.append(Finding(OK, f"Triton {env['triton_version']} installed"))
    else:
        out.append(
            Finding(
                WARNING,
                "Triton is not installed: torch.compile (Inductor) cannot generate GPU kernels",
                "pip install triton (use the version your torch release pins; it comes with "
                "the torch wheels from download.pytorch.org).",
            )
        )
    if env.get("torch_hip_version"):
        return out
    # Triton (hence Inductor on GPU) needs compute capability 7.0 or newer.
    old = [
        g
        for g in env.get("gpus") or []
        if _version_tuple(g.get("compute_capability") or "0") < (7, 0)
    ]
    for g in old:
        out.append(
            Finding(
                WARNING,
                f"GPU {g.get('name')} has compute capability {g.get('compute_capability')}; "
                "Triton needs >= 7.0",
                "torch.compile on this GPU fails; run eager mode only, or use a newer GPU.",
            )
        )
    return out


def _check_compiler(
    env: Mapping[str, Any], which: Callable[[str], str | None], environ: Mapping[str, str]
) -> list[Finding]:
    # Mirrors torch._inductor.config.cpp.cxx: $CXX if set, else g++ (clang++ on macOS, cl on
    # Windows). Inductor does not look for other names, so a lone `c++` is not enough.
    system = env.get("os") or platform.system()
    default = {"Darwin": "clang++", "Windows": "cl"}.get(system, "g++")
    cxx = environ.get("CXX") or default
    found = which(cxx)
    if found:
        return [Finding(OK, f"C++ compiler for Inductor on CPU: {found}")]
    alternatives = [name for name in ("g++", "clang++", "c++") if name != cxx and which(name)]
    if alternatives:
        hint = f"Point Inductor at the compiler that exists: export CXX={alternatives[0]}"
    elif system == "Darwin":
        hint = "Install the command line tools: xcode-select --install"
    elif system == "Windows":
        hint = "Install MSVC Build Tools and run from a Developer Command Prompt."
    else:
        hint = "Install g++ (apt-get install g++ / dnf install gcc-c++) or set CXX."
    source = "$CXX" if environ.get("CXX") else "default"
    return [
        Finding(
            ERROR,
            f"no C++ compiler for torch.compile on CPU ({source} '{cxx}' not found on PATH)",
            hint,
        )
    ]


def _check_mps(env: Mapping[str, Any], backend: str | None) -> list[Finding]:
    if env.get("os") != "Darwin" and backend != "mps":
        return []
    if env.get("mps_available"):
        return [Finding(OK, "MPS available")]
    if env.get("torch_built_with_mps"):
        return [
            Finding(
                ERROR if backend == "mps" else WARNING,
                "torch is built with MPS but MPS is not available",
                "MPS needs macOS 12.3+ on Apple silicon or an AMD GPU, and a native arm64 "
                "Python (not x86_64 under Rosetta): check platform.machine() == 'arm64'.",
            )
        ]
    return [
        Finding(
            ERROR if backend == "mps" else WARNING,
            "torch is built without MPS",
            "Install the standard macOS arm64 torch wheel: pip install torch.",
        )
    ]


def doctor(
    env: Mapping[str, Any],
    backend: str | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    environ: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Check the set-up for what commonly breaks benchmarks; one Finding per check.

    ``backend`` ("cpu", "cuda", "mps" or None for all) limits the checks to what that backend
    needs and turns problems with it into errors. ``which`` and ``environ`` are the only
    probes of the live machine (for the compiler check); everything else comes from ``env``.
    """
    environ = os.environ if environ is None else environ
    findings: list[Finding] = []
    if env.get("torch_version"):
        findings.append(Finding(OK, f"torch {env['torch_version']} importable"))
    else:
        findings.append(Finding(ERROR, "torch is not importable", "pip install torch"))
        return findings
    if backend in (None, "cuda"):
        findings += _check_cuda(env, backend)
        findings += _check_triton(env)
    if backend in (None, "cpu"):
        findings += _check_compiler(env, which, environ)
    if backend in (None, "mps"):
        findings += _check_mps(env, backend)
    return findings


# --------------------------------------------------------------------------------------------
# text


def _human_bytes(n: int | None) -> str | None:
    if n is None:
        return None
    return f"{n / 2**30:.1f} GiB"


def _joined(main: Any, extra: Any) -> str | None:
    """"main (extra)", or whichever of the two is known."""
    if main is None:
        return None if extra is None else str(extra)
    return f"{main} ({extra})" if extra is not None else str(main)


def _can_print(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def format_environment(
    env: Mapping[str, Any], findings: list[Finding] | None = None, *, unicode: bool | None = None
) -> str:
    """Aligned ``key: value`` lines, then the findings as a checklist."""
    gpus = env.get("gpus") or []
    git = env.get("git_sha")
    if git:
        git = f"{git[:12]} ({env.get('git_branch') or 'detached'}"
        git += ", dirty)" if env.get("git_dirty") else ")"
    cores = env.get("cpu_count")
    rows: list[tuple[str, Any]] = [
        ("perfwatch", env.get("perfwatch_version")),
        ("python", _joined(env.get("python_version"), env.get("python_implementation"))),
        ("platform", env.get("platform")),
        ("hostname", env.get("hostname")),
        ("cpu", _joined(env.get("cpu_model"), cores and f"{cores} logical cores")),
        ("memory", _human_bytes(env.get("memory_total_bytes"))),
        ("torch", env.get("torch_version")),
        ("cuda (torch)", env.get("torch_cuda_version")),
        ("hip (torch)", env.get("torch_hip_version")),
        ("cudnn", env.get("cudnn_version")),
        ("triton", env.get("triton_version")),
        ("cuda available", env.get("cuda_available")),
        ("mps available", env.get("mps_available")),
        ("nvidia driver", env.get("nvidia_driver_version")),
    ]
    for i, g in enumerate(gpus):
        detail = f"{g.get('name')}, {_human_bytes(g.get('total_memory_bytes'))}"
        detail += f", compute capability {g.get('compute_capability')}"
        rows.append((f"gpu {i}", detail))
    rows += [("git", git), ("fingerprint", machine_fingerprint(env))]
    rows = [(k, v) for k, v in rows if v is not None]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k + ':':<{width + 1}} {v}" for k, v in rows]

    if findings:
        if unicode is None:
            unicode = _can_print("✓✗")
        marks = {OK: "✓", WARNING: "!", ERROR: "✗"}
        if not unicode:
            marks = {OK: "ok", WARNING: "!!", ERROR: "XX"}
        mark_width = max(len(m) for m in marks.values())
        lines.append("")
        for f in findings:
            lines.append(f"{marks.get(f.level, '?'):<{mark_width}} {f.message}")
            if f.hint and f.level != OK:
                lines.append(f"{'':<{mark_width}}   -> {f.hint}")
    return "\n".join(lines)


if __name__ == "__main__":  # `python -m perfwatch.collectors.environment`: that interpreter's software as JSON
    print(json.dumps(software_environment(), default=str))
