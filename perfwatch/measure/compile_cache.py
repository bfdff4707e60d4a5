"""Cold and warm compiles: every compiled case compiles over its own empty caches (issue 16).

Inductor's on-disk caches decided the number before: the same case read 11.3 s on its first run
and 2.0-2.8 s afterwards. So each compiled case gets a fresh temporary directory, and its worker
environment points torch's caches into it before torch is imported:

  - ``TORCHINDUCTOR_CACHE_DIR``: Inductor's FX-graph cache, AOTAutograd's cache, the C++ and
    kernel builds, PGO state - all live under it;
  - ``TRITON_CACHE_DIR``: compiled Triton kernels (GPU).

The case's worker compiles cold (``compile_time``, ``first_call_time``) and saves torch's
portable cache artifacts (``torch.compiler.save_cache_artifacts``) where torch has them. Then, for
compiled modes unless ``--no-warm-compile``, a build-only worker builds the case again over the
caches the cold one left (loading the artifacts too): ``compile_time_warm``,
``first_call_time_warm``, ``compile_cpu_time_warm`` and the cache hits and misses it saw - what a
user's second start costs. With ``--compile-instructions`` one more cold build-only worker, with
caches of its own, runs under callgrind, collecting only inside torch's compile windows:
``compile_instructions``. The directory is removed when the case ends.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import replace
from typing import Any, Callable, Iterator
from contextlib import contextmanager

from perfwatch.collectors.build import LOAD_ARTIFACTS_ENV, SAVE_ARTIFACTS_ENV
from perfwatch.collectors.compile import VALGRIND_ENV
from perfwatch.domain.results import LOWER, STATUS_OK, CaseResult, CaseSpec, Metric

CACHE_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
ARTIFACTS = "cache_artifacts.bin"
# a persistent compile cache shared by every compiled case (the module docstring): unset or empty,
# each case compiles cold over caches of its own
SHARED_ENV = "PERFWATCH_COMPILE_CACHE"
SHARED_DETAIL = "compile_cache_shared"  # the case's details: the shared directory its compile used

# the warm worker's figures, under the names the case stores them
WARM_NAMES = {"compile_time": "compile_time_warm", "first_call_time": "first_call_time_warm",
              "compile_cpu_time": "compile_cpu_time_warm"}


class CaseCaches:
    """One compiled case's cache directories: a fresh temporary folder (``root``), removed with
    the case, where the caches live too unless ``shared`` names a persistent directory for them."""

    def __init__(self, root: str, shared: str | None = None) -> None:
        self.root = root
        self.shared = shared
        self.caches = shared or root
        self.artifacts = os.path.join(root, ARTIFACTS)

    def env(self, save: bool = False, load: bool = False) -> tuple[tuple[str, str], ...]:
        out = [("TORCHINDUCTOR_CACHE_DIR", os.path.join(self.caches, "inductor")),
               ("TRITON_CACHE_DIR", os.path.join(self.caches, "triton"))]
        if save:
            out.append((SAVE_ARTIFACTS_ENV, self.artifacts))
        if load:
            out.append((LOAD_ARTIFACTS_ENV, self.artifacts))
        return tuple(out)


def shared_dir() -> str | None:
    """The persistent compile cache every compiled case shares ($PERFWATCH_COMPILE_CACHE), made
    absolute and created; None (the default) when unset: each case compiles cold."""
    path = os.environ.get(SHARED_ENV, "").strip()
    if not path:
        return None
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(path, exist_ok=True)
    return path


@contextmanager
def case_caches(spec: CaseSpec, isolated: bool = False) -> Iterator[CaseCaches | None]:
    """Cache directories for a compiled case (None for eager): fresh ones removed afterwards, or
    the shared persistent directory where $PERFWATCH_COMPILE_CACHE sets one and not ``isolated``."""
    if spec.mode == "eager":
        yield None
        return
    # named as the runner's case folders (runner.CASE_DIR_PREFIX + its pid): if the runner is
    # killed, the next one's sweep_case_dirs removes these too
    root = tempfile.mkdtemp(prefix=f"perfwatch-case-{os.getpid()}-cache-")
    try:
        yield CaseCaches(root, None if isolated else shared_dir())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def with_shared(case: CaseResult, caches: CaseCaches | None) -> CaseResult:
    """The case marked as compiled over the shared cache (its compile figures are not cold)."""
    if caches is None or not caches.shared:
        return case
    return replace(case, details={**case.details, SHARED_DETAIL: caches.shared})


def launch(caches: CaseCaches | None, **kw: Any):
    from perfwatch.measure.runner import Launch

    return Launch(env=caches.env(**kw)) if caches else None


def build_spec(spec: CaseSpec) -> CaseSpec:
    """A build-only worker's spec: the build pass and its warm-up, nothing else."""
    return replace(spec, build_only=True, timing_only=False, accuracy=False, profile_dir=None,
                   warm_compile=False, compile_instructions=False)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def with_warm(case: CaseResult, warm: CaseResult) -> CaseResult:
    """The case with the warm worker's figures added (or why there are none)."""
    details = dict(case.details)
    if warm.status != STATUS_OK:
        details["compile_warm_status"] = f"failed: {warm.status}: {_first_line(warm.error)}"[:500]
        return replace(case, details=details)
    metrics = [Metric(WARM_NAMES[m.name], m.value, m.unit, LOWER) for m in warm.metrics if m.name in WARM_NAMES]
    cache = warm.details.get("compile_cache") or {}
    if cache:
        metrics.append(Metric("compile_cache_hits_warm",
                              cache.get("fxgraph_cache_hit", 0) + cache.get("aotautograd_cache_hit", 0), "count", LOWER))
        metrics.append(Metric("compile_cache_misses_warm",
                              cache.get("fxgraph_cache_miss", 0) + cache.get("aotautograd_cache_miss", 0), "count", LOWER))
    details["compile_warm"] = {k: warm.details[k] for k in ("compile_phases", "compile_by_graph", "compile_cache",
                                                            "cache_artifacts", "compile_windows", "build_warmup_calls")
                               if k in warm.details}
    details["compile_warm"]["duration_s"] = round(warm.duration_s or 0.0, 3)
    return replace(case, metrics=case.metrics + tuple(metrics), details=details)


def callgrind_total(path: str) -> int | None:
    """Instructions callgrind counted (its ``totals:``/``summary:`` line), summed over the files
    it wrote (one per thread or process part)."""
    total, found = 0, False
    folder, base = os.path.split(path)
    for name in sorted(os.listdir(folder or ".")):
        if not name.startswith(base):
            continue
        with open(os.path.join(folder, name), errors="replace") as f:
            text = f.read()
        m = re.search(r"^totals:\s*(\d+)", text, re.M) or re.search(r"^summary:\s*(\d+)", text, re.M)
        if m:
            total += int(m.group(1))
            found = True
    return total if found else None


def measure_instructions(spec: CaseSpec, run_id: str, timeout_s: float,
                         run_worker: Callable[..., CaseResult]) -> tuple[list[Metric], dict[str, Any]]:
    """A cold build-only worker under callgrind, collecting inside compile windows only."""
    from perfwatch.measure.runner import Launch

    valgrind = shutil.which("valgrind")
    if not valgrind:
        return [], {"compile_instructions_status": "unavailable: valgrind is not installed (apt-get install valgrind)"}
    with case_caches(spec, isolated=True) as caches:  # always cold: an instruction count is a cold build's
        assert caches is not None
        out = os.path.join(caches.root, "callgrind.out")
        wrapper = os.path.join(caches.root, "python-under-callgrind")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
                valgrind, "--tool=callgrind", "--collect-atstart=no", "--quiet",
                f"--callgrind-out-file={out}", sys.executable)) + ' "$@"\n')
        os.chmod(wrapper, 0o755)
        res = run_worker(build_spec(spec), run_id, timeout_s,
                         Launch(python=wrapper, env=caches.env() + ((VALGRIND_ENV, "1"),)))
        if res.status != STATUS_OK:
            return [], {"compile_instructions_status": f"failed: {res.status}: {_first_line(res.error)}"[:500]}
        n = callgrind_total(out)
        if n is None:
            return [], {"compile_instructions_status": "failed: callgrind wrote no totals"}
        return [Metric("compile_instructions", float(n), "count", LOWER)], {
            "compile_instructions_windows": (res.details.get("compile_windows") or {}).get("count")}


def run_compiled(spec: CaseSpec, run_id: str, timeout_s: float, processes: int,
                 run_worker: Callable[..., CaseResult], repeat: Callable[[CaseSpec], CaseSpec],
                 combine: Callable[[CaseResult, list[CaseResult]], CaseResult],
                 repeatable: Callable[[CaseResult], bool]) -> CaseResult:
    """One case as ``runner.run_case`` runs it: cold (over fresh caches, or the shared ones), its
    timing-only repeats (over the caches it left: their compile figures are dropped anyway), then
    the warm build and the instruction count where asked for."""
    with case_caches(spec) as caches:
        case = with_shared(run_worker(spec, run_id, timeout_s, launch(caches, save=True)), caches)
        if processes > 1 and repeatable(case):
            more = [run_worker(repeat(spec), run_id, timeout_s, launch(caches)) for _ in range(processes - 1)]
            case = combine(case, more)
        compiled_ok = caches is not None and case.status == STATUS_OK and case.metric("compile_time") is not None
        if compiled_ok and spec.warm_compile:
            case = with_warm(case, run_worker(build_spec(spec), run_id, timeout_s, launch(caches, load=True)))
    if compiled_ok and spec.compile_instructions:
        metrics, details = measure_instructions(spec, run_id, timeout_s, run_worker)
        case = replace(case, metrics=case.metrics + tuple(metrics), details={**case.details, **details})
    return case
