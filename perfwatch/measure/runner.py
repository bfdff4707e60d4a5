"""Running a suite: plan the cases, run each in a fresh worker process, store each as it ends.

Everything that can be wrong with the request (suite, benchmarks, modes, backend, database) is
checked before the first case runs, so bad input exits 2 with nothing written. After that every
case ends as a stored status: a case is committed the moment it finishes, or spooled locally when
the database cannot be reached, so a run killed half-way keeps every finished case. The exception
is ``--interleave`` (``_execute_interleaved``): an ok case is final only when its last round is
over, so ok cases are stored at the end of the run, or at Ctrl-C with the rounds that finished.

A runner killed outright (kill -9) leaves nothing behind for long: its worker dies with it
(``_die_with_parent``: PR_SET_PDEATHSIG on Linux, and a thread in the worker watching its parent
everywhere), its temporary case folder (named after its pid) is removed by the next runner
(``sweep_case_dirs``), and its run, left ``running``, is recognised as such by the next command
through the runner's identity (``runner_identity``, kept in the run's environment) and closed
as ``interrupted``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from perfwatch.domain.config import Config, redact
from perfwatch.domain.errors import UsageError
from perfwatch.domain.results import (
    HIGHER,
    STATUS_CRASH,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUS_UNSUPPORTED,
    CaseResult,
    CaseSpec,
    Metric,
    RunInfo,
    WorkerResult,
)
from perfwatch.domain.vocab import DEFAULT_SIZE, MODES, REFERENCES, SIZES, resolve_reference
from perfwatch.suites.base import Suite


class Sink(Protocol):
    """Where finished cases go (the store's ``perfwatch.store.sink.StoreSink``, or a test's list)."""

    def run_started(self, run: RunInfo) -> None: ...

    def case(self, run: RunInfo, case: CaseResult) -> None: ...

    def run_finished(self, run: RunInfo, total: int, failed: int, status: str) -> None: ...


@dataclass(frozen=True)
class RunRequest:
    suite: str
    backend: str = "auto"
    modes: tuple[str, ...] = MODES
    benchmarks: tuple[str, ...] = ()
    size: str = "auto"
    dtype: str = "float32"
    tags: dict[str, str] = field(default_factory=dict)
    accuracy: bool = True
    profile_dir: str | None = None  # --profile: traces go to <profile_dir>/<run id>/
    warm_compile: bool = True  # compiled modes: a build-only worker over the cold caches (--no-warm-compile)
    compile_instructions: bool = False  # --compile-instructions: a cold build under callgrind
    reference: str = "auto"  # --reference: where the float64 accuracy reference is built (vocab.REFERENCES)
    batch_search: bool = False  # --batch-search: the batch pass for benchmarks with batch_search


@dataclass(frozen=True)
class Plan:
    suite: Suite
    suite_source: str | None
    backend: str
    size: str
    specs: tuple[CaseSpec, ...]
    skipped: tuple[str, ...]  # benchmarks that do not run on this backend


@dataclass
class RunOutcome:
    run: RunInfo
    cases: list[CaseResult]
    spooled: int = 0
    interrupted: bool = False
    lost: tuple[str, ...] = ()  # records kept nowhere (the database and the spool refused), by name
    db_error: str | None = None  # why the database refused (with spooled or lost records)
    spool_error: str | None = None  # why the spool refused (with lost records)

    @property
    def failed(self) -> list[CaseResult]:
        # "unsupported" is a benchmark's stated limit (a mode, a backend), not a failure
        return [c for c in self.cases if c.status not in (STATUS_OK, STATUS_UNSUPPORTED)]

    @property
    def unsupported(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == STATUS_UNSUPPORTED]


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise UsageError(f"unknown mode {', '.join(bad) or '(none)'}; valid modes: {', '.join(MODES)}")
    # Eager first: compiled cases report their speedup against it.
    return tuple(sorted(dict.fromkeys(modes), key=MODES.index))


def plan(req: RunRequest, config: Config) -> Plan:
    from perfwatch.measure.backends import resolve_backend
    from perfwatch.suites import is_suite_file, load_suite

    suite = load_suite(req.suite)
    source = str(Path(req.suite).resolve()) if is_suite_file(req.suite) else None
    for m in req.modes:
        if m not in MODES:
            raise UsageError(f"unknown mode {m!r}; valid modes: {', '.join(MODES)}")
    unknown = [b for b in req.benchmarks if b not in suite.names]
    if unknown:
        raise UsageError(f"unknown benchmark {', '.join(unknown)} in suite {suite.name!r}; valid: {', '.join(suite.names)}")
    if req.size != "auto" and req.size not in SIZES:
        raise UsageError(f"unknown size {req.size!r}; valid: auto, {', '.join(SIZES)}")
    if req.dtype not in ("float32", "float16", "bfloat16", "float64"):
        raise UsageError(f"unknown dtype {req.dtype!r}; valid: float32, float16, bfloat16, float64")
    backend = resolve_backend(req.backend)
    size = DEFAULT_SIZE[backend] if req.size == "auto" else req.size
    if req.reference not in REFERENCES:
        raise UsageError(f"unknown reference {req.reference!r}; valid: {', '.join(REFERENCES)}")
    reference = resolve_reference(req.reference, backend)  # the spec says what the worker does
    batch_cap = _batch_cap(config, backend) if req.batch_search else None
    chosen = [suite.get(b) for b in req.benchmarks] if req.benchmarks else list(suite.benchmarks)
    runnable = [b for b in chosen if backend in b.backends]
    skipped = tuple(b.name for b in chosen if backend not in b.backends)
    if req.benchmarks and skipped:
        raise UsageError(f"benchmark {', '.join(skipped)} does not run on {backend}")
    if not runnable:
        raise UsageError(f"suite {suite.name!r} has no benchmark for backend {backend}")
    specs = tuple(
        CaseSpec(suite=suite.name, benchmark=b.name, mode=m, backend=backend, size=size, dtype=req.dtype,
                 params=dict(b.params), suite_source=source, min_time_s=config.min_time_s,
                 min_samples=config.min_samples, max_samples=config.max_samples, max_time_s=config.max_time_s,
                 precision=config.precision, threads=config.threads, accuracy=req.accuracy,
                 profile_dir=req.profile_dir, warm_compile=req.warm_compile and m != "eager",
                 compile_instructions=req.compile_instructions and m != "eager", reference=reference,
                 batch_search=req.batch_search and b.batch_search,
                 batch_search_budget_s=config.batch_search_budget_s if req.batch_search and b.batch_search else None,
                 batch_memory_cap=batch_cap if req.batch_search and b.batch_search else None)
        for b in runnable
        for m in req.modes
    )
    return Plan(suite, source, backend, size, specs, skipped)


def _batch_cap(config: Config, backend: str) -> str:
    """The batch search's memory cap for this backend, canonical (part of the batch figures' series)."""
    from perfwatch.domain.batch_cap import resolve_cap

    if backend not in ("cpu", "cuda"):
        raise UsageError(f"--batch-search runs on cpu and cuda, not {backend}: "
                         "no out-of-memory error or allocation count to search by there")
    try:
        return resolve_cap(config.batch_memory_cap, backend)
    except ValueError as exc:
        raise UsageError(f"--batch-memory-cap: {exc}") from None


def new_run_info(p: Plan, req: RunRequest) -> RunInfo:
    from perfwatch.collectors.environment import collect_environment, machine_fingerprint

    env = collect_environment()
    env["runner"] = runner_identity()  # lets a later command tell a live run from one killed outright
    now = datetime.now(timezone.utc)
    run_id = now.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    return RunInfo(
        run_id=run_id,
        created_at=now.isoformat(),
        suite=p.suite.name,
        backend=p.backend,
        size=p.size,
        machine_fingerprint=machine_fingerprint(env),
        hostname=env.get("hostname") or "",
        environment=env,
        git_sha=env.get("git_sha"),
        git_branch=env.get("git_branch"),
        tags=dict(req.tags),
        # Passwords in a --db URL must not end up in the database they protect.
        command=" ".join(shlex.quote(redact(a)) for a in ["perfwatch", *sys.argv[1:]]) if sys.argv else None,
    )


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _proc_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), so a reused pid is told apart."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name before ")" may hold spaces


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def runner_identity() -> dict:
    """This process as a later command can check it: host, pid, start time, boot, pid namespace."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _proc_start(pid),
            "boot": _read("/proc/sys/kernel/random/boot_id"), "pidns": _pid_namespace()}


def _pid_alive(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    if stat and stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False  # dead, not yet reaped (a container's pid 1 may never reap it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def runner_gone(ident: dict | None) -> bool:
    """True only when the process a run's identity names is certainly gone; anything that cannot be
    judged from here (another host, another container, an older run without identity) is alive."""
    if not ident or not ident.get("pid") or ident.get("host") != socket.gethostname():
        return False
    boot = _read("/proc/sys/kernel/random/boot_id")
    if ident.get("boot") and boot and ident["boot"] != boot:
        return True  # rebooted since
    if ident.get("pidns") != _pid_namespace():
        return False  # another pid namespace (a container with the same hostname): its pids are not ours
    pid = int(ident["pid"])
    if not _pid_alive(pid):
        return True
    start = _proc_start(pid)
    return bool(ident.get("start") and start and start != ident["start"])  # the pid was reused


CASE_DIR_PREFIX = "perfwatch-case-"
_CASE_DIR = re.compile(re.escape(CASE_DIR_PREFIX) + r"(\d+)-")
_swept = False


def sweep_case_dirs() -> int:
    """Remove temporary case folders whose runner is gone (killed before it could); their names
    carry the runner's pid. Returns how many were removed."""
    removed = 0
    tmp = tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return 0
    for name in names:
        m = _CASE_DIR.match(name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        path = os.path.join(tmp, name)
        try:
            if os.stat(path).st_uid != os.getuid():
                continue  # another user's: theirs to clean
        except (OSError, AttributeError):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not os.path.exists(path)
    return removed


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn that has the kernel SIGKILL the worker when its runner dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the runner died before the line above took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _watch_parent(parent: int, every_s: float = 0.5) -> None:
    """In the worker: when the runner is gone (the worker re-parented), kill the worker's whole
    process group (it leads one), its own children included. The fallback where there is no
    PR_SET_PDEATHSIG, and the reaper of the worker's children where there is."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        try:
            os.killpg(0, signal.SIGKILL)
        finally:
            os._exit(137)

    threading.Thread(target=watch, name="perfwatch-parent-watch", daemon=True).start()


def worker_main() -> None:
    """The worker's entry point as the runner starts it: the parent watch, then the worker."""
    parent = int(os.environ.get("PERFWATCH_RUNNER_PID") or 0)
    if parent:
        _watch_parent(parent)
    from perfwatch.measure.worker import main

    sys.exit(main(sys.argv))


# `python -c` so the parent watch starts before the worker imports anything (argv[1:] as before)
WORKER_BOOT = "from perfwatch.measure.runner import worker_main; worker_main()"


@dataclass(frozen=True)
class Launch:
    """How a worker process is started, when not as this very interpreter and environment:
    another Python (``perfwatch ab --base-python``), extra environment variables (``--head-env``),
    folders put before this perfwatch on PYTHONPATH (a git worktree's code)."""

    python: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    pythonpath: tuple[str, ...] = ()


def launch_env(launch: Launch) -> dict[str, str]:
    """The environment a process of ``launch`` starts with: ours, the launch's variables, and a
    PYTHONPATH that imports this very perfwatch, installed or not (then the arm's own code)."""
    env = {**os.environ, **dict(launch.env)}
    pkg_root = str(Path(__file__).resolve().parents[2])
    paths = [pkg_root, *launch.pythonpath, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_worker(spec: CaseSpec, run_id: str, timeout_s: float, launch: Launch | None = None) -> CaseResult:
    """Run one case in a fresh Python process; hangs and crashes become statuses."""
    launch = launch or Launch()
    case_id = uuid.uuid4().hex
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    global _swept
    if not _swept:  # once per runner: folders left by runners killed before they could clean up
        _swept = True
        sweep_case_dirs()
    # Named after this runner's pid, so the next runner knows whose it was.
    with tempfile.TemporaryDirectory(prefix=f"{CASE_DIR_PREFIX}{os.getpid()}-") as tmp:
        spec_path, result_path, log_path = (os.path.join(tmp, n) for n in ("spec.json", "result.json", "worker.log"))
        with open(spec_path, "w") as f:
            json.dump(spec.to_dict(), f)
        env = launch_env(launch)
        env["PERFWATCH_RUNNER_PID"] = str(os.getpid())
        with open(log_path, "w") as log:
            proc = subprocess.Popen([launch.python or sys.executable, "-c", WORKER_BOOT, spec_path, result_path],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            except KeyboardInterrupt:
                _kill(proc)
                raise
            finally:
                if proc.poll() is None:
                    _kill(proc)
        duration = time.perf_counter() - t0
        log_tail = Path(log_path).read_text(errors="replace")[-4000:]
        base = dict(case_id=case_id, run_id=run_id, spec=spec, started_at=started.isoformat(), duration_s=duration)
        if timed_out:
            return CaseResult(status=STATUS_TIMEOUT, error=f"timed out after {timeout_s:g} s", details={"log_tail": log_tail}, **base)
        if not os.path.exists(result_path):
            how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with code {proc.returncode}"
            return CaseResult(status=STATUS_CRASH, error=f"worker {how} without a result", details={"log_tail": log_tail}, **base)
        with open(result_path) as f:
            result = WorkerResult.from_dict(json.load(f))
    details = dict(result.details)
    if result.status != STATUS_OK and log_tail.strip():
        details["log_tail"] = log_tail
    return CaseResult(status=result.status, error=result.error, metrics=result.metrics, details=details, **base)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def with_speedup(case: CaseResult, eager_ms: dict[str, float]) -> CaseResult:
    """Add speedup over this run's eager case of the same benchmark (higher is better)."""
    st = case.metric("step_time")
    base = eager_ms.get(case.spec.benchmark)
    if case.spec.mode == "eager" or st is None or base is None or st.value <= 0:
        return case
    return replace(case, metrics=case.metrics + (Metric("speedup_vs_eager", base / st.value, "x", HIGHER),))


def run_case(p: Plan, spec: CaseSpec, run_id: str, timeout_s: float, processes: int = 1) -> CaseResult:
    """One case: a worker process (or ``processes`` of them, combined); never raises for the case."""
    from perfwatch.measure import repeats

    from perfwatch.measure import compile_cache

    unsupported = _unsupported(p, spec, run_id)
    if unsupported:
        return unsupported
    try:
        # a compiled case compiles cold over caches of its own, then warm over them (compile_cache.py)
        case = compile_cache.run_compiled(spec, run_id, timeout_s, processes, run_worker, repeats.repeat_spec,
                                          repeats.combine, _repeatable)
    except OSError as exc:  # could not even start a process
        case = cannot_start(spec, run_id, exc)
    return case


def _unsupported(p: Plan, spec: CaseSpec, run_id: str) -> CaseResult | None:
    reason = p.suite.get(spec.benchmark).unsupported_reason(spec.backend, spec.mode)
    if not reason:
        return None
    # known not to work: say why, start nothing
    return CaseResult(case_id=uuid.uuid4().hex, run_id=run_id, spec=spec, status=STATUS_UNSUPPORTED, error=reason,
                      started_at=datetime.now(timezone.utc).isoformat(), duration_s=0.0)


def cannot_start(spec: CaseSpec, run_id: str, exc: OSError) -> CaseResult:
    return CaseResult(case_id=uuid.uuid4().hex, run_id=run_id, spec=spec, status=STATUS_ERROR,
                      error=f"cannot start worker: {exc}")


def _repeatable(case: CaseResult) -> bool:
    """Only an ok first process with a step time gets timing-only repeats."""
    return case.status == STATUS_OK and case.metric("step_time") is not None


def _run_repeat(spec: CaseSpec, run_id: str, timeout_s: float) -> CaseResult:
    """One timing-only repeat process; a repeat that cannot start is a failed repeat, not a failed case."""
    from perfwatch.measure import repeats

    rspec = repeats.repeat_spec(spec)
    try:
        return run_worker(rspec, run_id, timeout_s)
    except OSError as exc:
        return cannot_start(rspec, run_id, exc)


def _with_eager(case: CaseResult, eager_ms: dict[str, float]) -> CaseResult:
    """An eager case becomes its benchmark's reference; any other gets its speedup over it."""
    st = case.metric("step_time")
    if case.spec.mode == "eager" and st:
        eager_ms[case.spec.benchmark] = st.value
    return with_speedup(case, eager_ms)


def check_interleave(processes: int, interleave: bool) -> None:
    if interleave and processes < 2:
        raise UsageError(f"--interleave (or interleave in the config) needs --processes N with N >= 2, "
                         f"got processes = {processes}: it spreads each case's N processes over the run")


def execute(p: Plan, run: RunInfo, sink: "Sink", timeout_s: float,
            on_start: Callable[[int, CaseSpec], None] = lambda i, s: None,
            on_end: Callable[[int, CaseResult], None] = lambda i, c: None, processes: int = 1,
            interleave: bool = False,
            on_repeat: Callable[[int, int, CaseResult], None] = lambda rnd, rounds, c: None) -> RunOutcome:
    """Run every case of the plan and store it; ``on_repeat(round, rounds, repeat)`` reports each
    repeat process of an interleaved run (rounds 2..N)."""
    check_interleave(processes, interleave)
    outcome = RunOutcome(run=run, cases=[])
    sink.run_started(run)
    # One TensorBoard run per perfwatch run.
    specs = [replace(s, profile_dir=os.path.join(s.profile_dir, run.run_id)) if s.profile_dir else s for s in p.specs]
    if interleave:
        _execute_interleaved(p, specs, run, sink, timeout_s, processes, outcome, on_start, on_end, on_repeat)
    else:
        _execute_in_turn(p, specs, run, sink, timeout_s, processes, outcome, on_start, on_end)
    sink.run_finished(run, len(outcome.cases), len(outcome.failed), "interrupted" if outcome.interrupted else "finished")
    outcome.spooled = sink.spooled
    # A plain sink (a test's list) keeps everything; the store's says what it could not keep.
    outcome.lost = tuple(sink.lost_names()) if hasattr(sink, "lost_names") else ()
    outcome.db_error = getattr(sink, "db_error", None)
    outcome.spool_error = getattr(sink, "spool_error", None)
    return outcome


def _execute_in_turn(p: Plan, specs: list[CaseSpec], run: RunInfo, sink: "Sink", timeout_s: float, processes: int,
                     outcome: RunOutcome, on_start, on_end) -> None:
    """Each case with all its processes, stored the moment it ends."""
    eager_ms: dict[str, float] = {}
    try:
        for i, spec in enumerate(specs):
            on_start(i, spec)
            case = _with_eager(run_case(p, spec, run.run_id, timeout_s, processes), eager_ms)
            sink.case(run, case)
            outcome.cases.append(case)
            on_end(i, case)
    except KeyboardInterrupt:
        outcome.interrupted = True


def _execute_interleaved(p: Plan, specs: list[CaseSpec], run: RunInfo, sink: "Sink", timeout_s: float, processes: int,
                         outcome: RunOutcome, on_start, on_end, on_repeat) -> None:
    """Round 1: every case's full first process. Rounds 2..N: one timing-only repeat of every ok
    case, in plan order. A case's processes are spread over the run, so a drift of the host over
    minutes is not shared by all of them. An ok case is stored once all rounds (or a Ctrl-C) are
    over; a failed one at once, unless its speedup waits on an eager case still being repeated."""
    from perfwatch.measure import repeats

    firsts: list[CaseResult] = []
    more: dict[int, list[CaseResult]] = {}  # plan index of an ok first -> its repeats so far
    stored: dict[int, CaseResult] = {}
    eager_ms: dict[str, float] = {}
    pending_eager: set[str] = set()  # benchmarks whose eager case is still being repeated
    try:
        for i, spec in enumerate(specs):
            on_start(i, spec)
            case = run_case(p, spec, run.run_id, timeout_s)
            firsts.append(case)
            needs_eager = case.metric("step_time") is not None and spec.mode != "eager"
            if _repeatable(case):
                more[i] = []
                if spec.mode == "eager":
                    pending_eager.add(spec.benchmark)
            elif not (needs_eager and spec.benchmark in pending_eager):  # final: store it now
                case = _with_eager(case, eager_ms)
                sink.case(run, case)
                stored[i] = case
            on_end(i, case)
        for rnd in range(2, processes + 1):
            for i, done in more.items():
                rep = _run_repeat(specs[i], run.run_id, timeout_s)
                done.append(rep)
                on_repeat(rnd, processes, rep)
    except KeyboardInterrupt:  # keep whatever was measured: combine with the repeats that finished
        outcome.interrupted = True
    for i, first in enumerate(firsts):  # plan order: an eager case is combined before the cases that need it
        if i in stored:
            outcome.cases.append(stored[i])
            continue
        case = repeats.combine(first, more[i], interleaved=True) if i in more else first
        case = _with_eager(case, eager_ms)
        sink.case(run, case)
        outcome.cases.append(case)
