"""`perfwatch ab`'s measurement: two builds on one machine, fresh processes, interleaved rounds.

An arm is how a worker is launched: an interpreter (``--base-python``), environment variables
(``--base-env``), and optionally a git revision checked out as a temporary worktree
(``--base-ref``) whose root goes first on the worker's PYTHONPATH and into which the suite file's
path is re-rooted. Unset parts are the current interpreter, environment and working tree.

Rounds, order balanced ABBA: round 1 runs base then head, round 2 head then base, and so on, per
case, so a drift of the host (clock, heat, a neighbour's job) and whatever the first process of a
pair pays or leaves behind fall on both arms alike. Round 1 runs the full case (accuracy,
compile counters); later rounds time only. Each arm has its own Inductor and Triton cache
folders: a shared cache would let one build's compiled kernels stand in for the other's.

Which case goes on is not decided here (this layer knows no statistics): the caller's
``decide`` says after each round whether a case is settled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from perfwatch.domain.errors import UsageError
from perfwatch.domain.results import STATUS_OK, CaseResult, CaseSpec
from perfwatch.measure import repeats
from perfwatch.measure.runner import Launch, cannot_start, launch_env, run_worker

ARMS = ("base", "head")


def arm_order(round_no: int) -> tuple[str, str]:
    """Which arm runs first in a round (1-based): base in odd rounds, head in even ones."""
    return ARMS if round_no % 2 == 1 else (ARMS[1], ARMS[0])


@dataclass(frozen=True)
class ArmRequest:
    """An arm as asked for on the command line; None/empty is the current one."""

    name: str
    python: str | None = None
    ref: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Arm:
    """An arm ready to run: its launch, its suite (re-rooted into its worktree) and its revision."""

    name: str
    launch: Launch
    suite: str
    sha: str | None = None  # the commit of --*-ref
    request: ArmRequest | None = None


def parse_env(items: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or any(c.isspace() for c in key):
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def check_python(path: str, flag: str) -> str:
    """An interpreter that exists and runs; absolute, since workers start elsewhere."""
    found = shutil.which(path) if os.sep not in path else (path if os.path.isfile(path) else None)
    if not found or not os.access(found, os.X_OK):
        raise UsageError(f"{flag} {path}: no such executable")
    try:  # a file that is not a Python would fail every case; say so now
        proc = subprocess.run([found, "-c", "import sys; print(sys.version_info[0])"], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"{flag} {path}: cannot run it: {exc}") from None
    if proc.returncode != 0 or proc.stdout.strip() != "3":
        raise UsageError(f"{flag} {path}: not a working Python 3 interpreter")
    return os.path.abspath(found)


def _git(repo: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)


def repo_root(suite: str, is_file: bool) -> str:
    """The git repository that holds the suite file (or, for a registered suite, the current folder)."""
    where = os.path.dirname(os.path.abspath(suite)) if is_file else os.getcwd()
    try:
        proc = _git(where, "rev-parse", "--show-toplevel")
    except OSError as exc:
        raise UsageError(f"--base-ref/--head-ref need git: {exc}") from None
    if proc.returncode != 0:
        raise UsageError(f"--base-ref/--head-ref: {where} is not inside a git repository")
    return proc.stdout.strip()


def resolve_ref(repo: str, ref: str, flag: str) -> str:
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        raise UsageError(f"{flag} {ref}: unknown revision in {repo}")
    return proc.stdout.strip()


@contextmanager
def worktree(repo: str, sha: str, label: str) -> Iterator[str]:
    """``sha`` checked out (detached) in a temporary worktree of ``repo``, removed on the way out
    (errors and Ctrl-C included), so the user's checkout and worktree list are left as they were."""
    parent = tempfile.mkdtemp(prefix=f"perfwatch-ab-{label}-")
    path = os.path.join(parent, "tree")
    proc = _git(repo, "worktree", "add", "--detach", path, sha)
    if proc.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise UsageError(f"cannot check out {sha[:12]} as a worktree: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        _git(repo, "worktree", "remove", "--force", path)
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune")


@contextmanager
def prepared(requests: tuple[ArmRequest, ArmRequest], suite: str, is_file: bool) -> Iterator[tuple[Arm, Arm]]:
    """Both arms ready: interpreters checked, revisions checked out, cache folders made; all of
    it undone on exit. Every usage error is raised before anything is checked out or run."""
    pythons = {r.name: check_python(r.python, f"--{r.name}-python") if r.python else None for r in requests}
    repo = repo_root(suite, is_file) if any(r.ref for r in requests) else None
    shas = {r.name: resolve_ref(repo, r.ref, f"--{r.name}-ref") if r.ref else None for r in requests}
    rel = None
    if repo and is_file:
        try:
            rel = Path(os.path.realpath(suite)).relative_to(os.path.realpath(repo))
        except ValueError:
            raise UsageError(f"suite file {suite} is not inside the repository {repo}") from None
        for r in requests:  # the file must exist at that revision, or the arm has nothing to run
            if r.ref and _git(repo, "cat-file", "-e", f"{shas[r.name]}:{rel.as_posix()}").returncode != 0:
                raise UsageError(f"--{r.name}-ref {r.ref}: suite file {rel.as_posix()} does not exist at that revision")
    with ExitStack() as stack:
        arms = []
        for r in requests:
            caches = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"perfwatch-ab-{r.name}-cache-"))
            # The arm's own compile caches first, so a user's --*-env may still point elsewhere.
            env = (("TORCHINDUCTOR_CACHE_DIR", os.path.join(caches, "inductor")),
                   ("TRITON_CACHE_DIR", os.path.join(caches, "triton")), *r.env)
            arm_suite, pythonpath = suite, ()
            if r.ref:
                tree = stack.enter_context(worktree(repo, shas[r.name], r.name))
                pythonpath = (tree,)
                if rel is not None:
                    arm_suite = str(Path(tree) / rel)
            launch = Launch(python=pythons[r.name], env=env, pythonpath=pythonpath)
            arms.append(Arm(r.name, launch, arm_suite, shas[r.name], r))
        yield arms[0], arms[1]


def arm_software(arm: Arm, timeout_s: float = 120) -> dict[str, Any]:
    """The software an arm's workers run on, asked of its own interpreter (``--base-python``):
    a run records the torch it measured, not the one perfwatch itself was started with. Empty
    for an arm on this interpreter, or when it cannot say (the run then keeps this one's)."""
    if not arm.launch.python:
        return {}
    try:
        proc = subprocess.run([arm.launch.python, "-m", "perfwatch.collectors.environment"], capture_output=True,
                              text=True, timeout=timeout_s, env=launch_env(arm.launch), stdin=subprocess.DEVNULL)
        return json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}


def later_spec(spec: CaseSpec, base_first: CaseResult, head_first: CaseResult) -> CaseSpec:
    """A round >= 2's spec: timing only, unless both arms' round 1 gave ``graph_time`` (CUDA),
    which the worker measures in its last pass: then every pass but accuracy and the profiler,
    so each round has the figure the verdict is taken on."""
    spec = repeats.repeat_spec(spec)
    if all(c.metric("graph_time") is not None for c in (base_first, head_first)):
        return replace(spec, timing_only=False)
    return spec


@dataclass
class Rounds:
    """Every case's round results per arm, paired by index; ``interrupted`` after a Ctrl-C."""

    base: list[list[CaseResult]]
    head: list[list[CaseResult]]
    rounds_run: int = 0
    interrupted: bool = False
    out_of_time: bool = False

    def arm(self, name: str) -> list[list[CaseResult]]:
        return self.base if name == "base" else self.head


def _run(spec: CaseSpec, run_id: str, timeout_s: float, launch: Launch) -> CaseResult:
    try:  # a worker that cannot even start is that case's failure, worded as `perfwatch run` words it
        return run_worker(spec, run_id, timeout_s, launch)
    except OSError as exc:
        return cannot_start(spec, run_id, exc)


def interleave(arms: tuple[Arm, Arm], specs: dict[str, list[CaseSpec]], run_ids: dict[str, str], timeout_s: float,
               max_rounds: int, max_time_s: float, decide: Callable[[int, list[CaseResult], list[CaseResult]], bool],
               on_pair: Callable[[int, int, CaseResult, CaseResult], None] = lambda r, i, b, h: None,
               clock: Callable[[], float] = time.monotonic,
               worker: Callable[[CaseSpec, str, float, Launch], CaseResult] = _run) -> Rounds:
    """Run rounds until every case is decided, ``max_rounds`` are done or ``max_time_s`` is spent.

    ``specs[arm][i]`` is case i in that arm (the same benchmark and mode in both). Round 1 always
    runs in full; after that a pair starts only while time is left, so pairs stay complete.
    ``decide(i, base_rounds, head_rounds)`` returns True once case i needs no further round."""
    n = len(specs["base"])
    out = Rounds(base=[[] for _ in range(n)], head=[[] for _ in range(n)])
    launch = {a.name: a.launch for a in arms}
    open_cases = list(range(n))
    t0 = clock()
    try:
        for rnd in range(1, max_rounds + 1):
            if not open_cases:
                break
            still_open = []
            for i in open_cases:
                if rnd > 1 and clock() - t0 >= max_time_s:
                    out.out_of_time = True
                    break
                pair = {}
                for name in arm_order(rnd):
                    spec = specs[name][i]
                    if rnd > 1:
                        spec = later_spec(spec, out.base[i][0], out.head[i][0])
                    pair[name] = worker(spec, run_ids[name], timeout_s, launch[name])
                # A pair is recorded whole, so both arms always hold the same rounds.
                out.base[i].append(pair["base"])
                out.head[i].append(pair["head"])
                on_pair(rnd, i, pair["base"], pair["head"])
                failed = any(c.status != STATUS_OK for c in pair.values())
                if not failed and not decide(i, out.base[i], out.head[i]):
                    still_open.append(i)
            out.rounds_run = rnd
            if out.out_of_time:
                break
            open_cases = still_open
    except KeyboardInterrupt:
        out.interrupted = True
    return out


def pair_specs(base: tuple[CaseSpec, ...], head: tuple[CaseSpec, ...]):
    """Cases both arms run, paired by (benchmark, mode) in base's order; and the names of those
    only one arm has (a benchmark added or removed between the revisions)."""
    key = lambda s: (s.benchmark, s.mode)  # noqa: E731
    heads = {key(s): s for s in head}
    pairs = [(s, heads[key(s)]) for s in base if key(s) in heads]
    only_base = [s.label() for s in base if key(s) not in heads]
    only_head = [s.label() for s in head if key(s) not in {key(b) for b in base}]
    return pairs, only_base, only_head
