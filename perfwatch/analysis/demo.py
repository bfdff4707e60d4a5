"""Demo data: a realistic, clearly labelled history for trying and benchmarking the dashboard.

Every machine is named ``demo-*`` and every run is tagged ``demo=true``. The history is nightly
runs of the built-in suites on four machines (two CUDA, one CPU, one MPS) in all four modes,
with every metric a real run records, noise like real runs, a few failed cases, and injected
regressions (a step-time slowdown after a torch upgrade, more memory, new graph breaks and
recompilations, more unified-memory page faults) that ``perfwatch detect`` should find.

It writes through ``perfwatch.store.bulk`` (big batches, COPY on Postgres), never the per-case
transactions of ``perfwatch run``.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy.engine import Engine

from perfwatch.domain.metrics import PEAK_MEMORY_BY_BACKEND, spec
from perfwatch.store import bulk
from perfwatch.domain.series import params_key, series_key
from perfwatch.domain.vocab import MODES

MIN_NIGHTS = 60  # enough history for change-point detection either side of an injected change
BATCH_ROWS = 100_000  # measurement rows per transaction

# hostname, backend, GPU, CPU
MACHINES = (
    ("demo-h100-01", "cuda", "NVIDIA H100 80GB HBM3", "Intel Xeon Platinum 8480+"),
    ("demo-a100-01", "cuda", "NVIDIA A100-SXM4-80GB", "AMD EPYC 7763 64-Core Processor"),
    ("demo-cpu-01", "cpu", None, "AMD EPYC 9654 96-Core Processor"),
    ("demo-mac-01", "mps", "Apple M3 Max", "Apple M3 Max"),
)
# suite -> (benchmark, params, base step time in ms on an H100, item unit)
SUITES: dict[str, tuple[tuple[str, dict, float, str], ...]] = {
    "llm": (("train", {}, 42.0, "tokens/s"), ("inference", {}, 18.0, "tokens/s")),
    "vision": (("train", {}, 35.0, "images/s"), ("train_channels_last", {"channels_last": True}, 31.0, "images/s"),
               ("inference", {}, 9.0, "images/s"), ("inference_channels_last", {"channels_last": True}, 8.0, "images/s")),
    "ops": (("matmul", {}, 0.9, "FLOP/s"), ("layer_norm", {}, 0.12, "elements/s"), ("softmax", {}, 0.1, "elements/s"),
            ("sdpa", {}, 0.6, "FLOP/s"), ("conv2d", {}, 0.8, "FLOP/s"), ("pointwise_chain", {}, 0.15, "elements/s")),
    "dynamic": (("varlen_static", {"dynamic": False}, 6.0, "tokens/s"), ("varlen_dynamic", {"dynamic": True}, 6.5, "tokens/s"),
                ("graph_break", {}, 3.0, "tokens/s")),
}
SIZE = {"cuda": "medium", "cpu": "tiny", "mps": "small"}
SLOWER = {"cuda": 1.0, "cpu": 14.0, "mps": 3.5}  # step time relative to the H100
NOISE = {"cuda": 0.015, "cpu": 0.04, "mps": 0.025}  # relative run-to-run noise
SPEEDUP = {"default": 1.25, "reduce-overhead": 1.45, "max-autotune": 1.6}
GB = 1024 ** 3
COUNTERS = ("graph_breaks", "recompilations")  # injected as a number of events added, not a factor
PASS_REASON = "compiled output within tolerance of eager and float64"


@dataclass
class Injected:
    machine: str
    suite: str
    benchmark: str
    mode: str
    metric: str
    factor: float  # multiplies the metric; for COUNTERS, events added
    night: int
    run_id: str | None = None


@dataclass
class Summary:
    rows: int = 0
    runs: int = 0
    cases: int = 0
    series: int = 0
    machines: list[str] = field(default_factory=list)
    nights: int = 0
    injected: list[Injected] = field(default_factory=list)


def _unit_hash(*parts: Any) -> float:
    """A stable number in [0, 1) for a name: per-benchmark constants that do not depend on the seed."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16) / 2 ** 32


# What a case records, by backend and mode (units and directions from the metric catalogue).
_EVERY_CASE = ("step_time", "step_time_mad", "throughput", "first_call_time", "peak_rss", "rss_increase")
_BY_BACKEND = {
    "cuda": ("peak_memory_allocated", "peak_memory_reserved", "uvm_gpu_page_faults", "uvm_cpu_page_faults",
             "uvm_bytes_htod", "uvm_bytes_dtoh"),
    "mps": (PEAK_MEMORY_BY_BACKEND["mps"],),
}
_COMPILED = ("speedup_vs_eager", "compilations", "graph_count", "graph_breaks", "graph_break_reasons", "recompilations",
             "compile_time", "compile_time_backend", "compile_time_inductor", "compile_time_codegen",
             "accuracy_max_abs_error", "accuracy_max_rel_error", "accuracy_fp64_max_abs_error", "accuracy_pass")


def _metric_specs(backend: str, mode: str, unit: str) -> list[tuple[str, str, str]]:
    """(metric, unit, direction) a case of this backend and mode records; ``unit`` is the
    benchmark's throughput unit (tokens/s, images/s, ...)."""
    chosen = _EVERY_CASE + _BY_BACKEND.get(backend, ()) + (_COMPILED if mode != "eager" else ())
    return [(name, unit if name == "throughput" else spec(name).unit, spec(name).direction) for name in chosen]


@dataclass(frozen=True)
class Track:
    """One machine running one suite every night: a run."""

    machine: tuple
    suite: str

    def rows(self) -> int:
        backend = self.machine[1]
        return sum(len(_metric_specs(backend, mode, b[3])) for b in SUITES[self.suite] for mode in MODES)


def plan_tracks(rows: int) -> tuple[list[Track], int]:
    """The tracks and number of nights for about ``rows`` measurement rows: as many machines and
    suites as fit in ``rows`` with at least MIN_NIGHTS nights each (round-robin, so a small demo
    still mixes machines and suites)."""
    suites, n = list(SUITES), len(MACHINES)
    order = [Track(MACHINES[k % n], suites[(k + k // n) % len(suites)]) for k in range(n * len(suites))]
    chosen: list[Track] = []
    for t in order:
        if not chosen or (sum(x.rows() for x in chosen) + t.rows()) * MIN_NIGHTS <= rows:
            chosen.append(t)
    per_night = sum(t.rows() for t in chosen)
    # 2% more nights than exact: failed cases store no figures, and generate() stops at ``rows``.
    return chosen, max(1, -(-rows * 102 // (per_night * 100)))


def _injections(tracks: list[Track], nights: int, rng: random.Random) -> list[Injected]:
    """Regressions to inject: one kind per track, in rotation, each starting in the newer half."""
    kinds = [("max-autotune", "step_time", 1.25), ("eager", "peak_rss", 1.3), ("default", "graph_breaks", 2),
             ("reduce-overhead", "step_time", 1.18), ("default", "recompilations", 3), ("default", "compile_time", 1.6)]
    out = []
    for i, t in enumerate(tracks):
        mode, metric, factor = kinds[i % len(kinds)]
        if t.machine[1] == "cuda" and metric == "peak_rss":
            metric = "uvm_gpu_page_faults" if i % 2 else "peak_memory_allocated"
        bench = SUITES[t.suite][i % len(SUITES[t.suite])][0]
        night = int(nights * rng.uniform(0.55, 0.8))
        if nights >= MIN_NIGHTS // 2:
            out.append(Injected(t.machine[0], t.suite, bench, mode, metric, factor, night))
    return out


class _Gen:
    """Turns (track, night) into rows of runs, cases, measurements and samples."""

    def __init__(self, seed: int, start: datetime, nights: int, injected: list[Injected]):
        self.rng = random.Random(seed)
        self.start = start
        self.nights = nights
        self.injected = {(j.machine, j.suite, j.benchmark, j.mode, j.metric): j for j in injected}
        # Nightly commits of main, shared by every machine; torch upgraded two thirds in.
        self.shas = [hashlib.sha1(f"demo-{seed}-{n}".encode()).hexdigest() for n in range(nights)]
        self.torch_upgrade = int(nights * 0.66)

    def run(self, track: Track, night: int, machine_id: int) -> dict[str, Any]:
        host, backend, gpu, cpu = track.machine
        when = self.start + timedelta(days=night, hours=1 + list(SUITES).index(track.suite),
                                      minutes=7 * [m[0] for m in MACHINES].index(host), seconds=self.rng.randrange(60))
        torch = "2.13.0" if night >= self.torch_upgrade else "2.12.1"
        # Ids are random (not seeded) so that a second demo history (--force) never collides.
        rid = when.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        env = {"torch_version": torch, "cpu_model": cpu, "gpus": [{"name": gpu}] if gpu and backend == "cuda" else [],
               "demo": True}
        return dict(id=rid, created_at=when, finished_at=when + timedelta(minutes=40), machine_id=machine_id,
                    suite=track.suite, backend=backend, size=SIZE[backend], status="finished", git_sha=self.shas[night],
                    git_branch="main", torch_version=torch, perfwatch_version="demo", command="perfwatch demo-data",
                    tags={"demo": "true"}, environment=env)

    def case(self, track: Track, run: dict, night: int, bench: tuple, mode: str,
             series_ids: dict[tuple, int]) -> tuple[dict, list[dict], list[dict]]:
        host, backend, _, _ = track.machine
        name, params, base_ms, item_unit = bench
        rng = self.rng
        cid = hashlib.sha1(f"{run['id']}/{name}/{mode}".encode()).hexdigest()[:32]
        status = "ok"
        roll = rng.random()
        if roll < 0.004:
            status = "oom" if backend != "cpu" else "timeout"
        elif roll < 0.008 and mode != "eager":
            status = "compile_error"
        case = dict(id=cid, run_id=run["id"], benchmark=name, mode=mode, backend=backend, dtype="float32", params=params,
                    params_key=params_key(params), status=status, started_at=run["created_at"],
                    duration_s=round(rng.uniform(20, 90), 1),
                    error=None if status == "ok" else f"{status}: demo failure injected at random", details={"demo": True})
        if status != "ok":
            return case, [], []

        def factor(metric: str) -> float:
            """The injected factor on ``metric`` from its night on (counters: the number added)."""
            j = self.injected.get((host, track.suite, name, mode, metric))
            return j.factor if j is not None and night >= j.night else (0.0 if metric in COUNTERS else 1.0)

        noise = NOISE[backend]
        # Slow drift and machine-to-machine differences, then per-run noise.
        step = base_ms * SLOWER[backend] * (1 + 0.6 * _unit_hash(host)) * (1 + 0.01 * (night % 7 == 0))
        if mode != "eager":
            step /= SPEEDUP[mode] * (1 + 0.2 * (_unit_hash(name, mode) - 0.5))
        step *= factor("step_time") * rng.lognormvariate(0, noise)
        spread = step * noise * rng.uniform(0.8, 1.6)
        n = rng.randint(20, 60)
        samples = [round(rng.gauss(step, spread / 1.35), 5) for _ in range(min(n, 30))]
        mem = GB * (0.5 + 6 * _unit_hash(name)) * (0.8 if mode == "max-autotune" else 1.0)
        breaks = (2 if name == "graph_break" else 0) + int(factor("graph_breaks"))
        recompiles = (4 if name == "varlen_static" else 0) + int(factor("recompilations"))
        ctime = (3 + 40 * _unit_hash(name)) * (2.5 if mode == "max-autotune" else 1.0) * rng.lognormvariate(0, 0.05) \
            * factor("compile_time")
        vals: dict[str, tuple] = {
            "step_time": (step, spread, step - spread / 3, step + spread / 3, n),
            "step_time_mad": (spread / 2,),
            "throughput": (1000.0 / step * 4096,),
            "first_call_time": ((ctime if mode != "eager" else 0.0) + step / 1000 * 3,),
            "peak_rss": (GB * (1.5 + _unit_hash(host, name)) * rng.lognormvariate(0, 0.01) * factor("peak_rss"),),
            "rss_increase": (mem * 0.1 * rng.lognormvariate(0, 0.02),),
            "peak_memory_allocated": (mem * rng.lognormvariate(0, 0.003) * factor("peak_memory_allocated"),),
            "peak_memory_reserved": (mem * 1.15 * rng.lognormvariate(0, 0.003),),
            "peak_mps_driver_allocated": (mem * 1.3 * rng.lognormvariate(0, 0.005),),
            "uvm_gpu_page_faults": (round(2000 * _unit_hash(name, "uvm") * rng.lognormvariate(0, 0.03)
                                          * factor("uvm_gpu_page_faults")),),
            "uvm_cpu_page_faults": (round(300 * _unit_hash(name, "uvmc") * rng.lognormvariate(0, 0.05)),),
            "uvm_bytes_htod": (mem * 0.02 * rng.lognormvariate(0, 0.03),),
            "uvm_bytes_dtoh": (mem * 0.005 * rng.lognormvariate(0, 0.03),),
            "speedup_vs_eager": (SPEEDUP.get(mode, 1.0) / factor("step_time") * rng.lognormvariate(0, noise),),
            "compilations": (1 + breaks + recompiles,),
            "graph_count": (1 + breaks,),
            "graph_breaks": (breaks,),
            "graph_break_reasons": (min(breaks, 1) + (1 if breaks > 2 else 0),),
            "recompilations": (recompiles,),
            "compile_time": (ctime,),
            "compile_time_backend": (ctime * 0.8,),
            "compile_time_inductor": (ctime * 0.65,),
            "compile_time_codegen": (ctime * 0.2,),
            "accuracy_max_abs_error": (1e-6 * rng.lognormvariate(0, 0.5),),
            "accuracy_max_rel_error": (1e-5 * rng.lognormvariate(0, 0.5),),
            "accuracy_fp64_max_abs_error": (2e-6 * rng.lognormvariate(0, 0.5),),
            "accuracy_pass": (1,),
        }
        if mode != "eager":
            reasons = {}
            if name == "graph_break":
                reasons["Data-dependent branching: generic_jump TensorVariable()"] = 2
            if factor("graph_breaks"):
                reasons["Unsupported: call_function BuiltinVariable(print)"] = 2
            case["details"] = {"demo": True, "graph_break_reasons": reasons,
                               "recompile_reasons": (["tensor 'x' size mismatch at index 1. expected 128, actual 256"]
                                                     if recompiles else []),
                               "accuracy": PASS_REASON}
        meas = []
        for metric, unit, _ in _metric_specs(backend, mode, item_unit):
            v = vals[metric] + (None,) * (5 - len(vals[metric]))
            meas.append((cid, run["id"], run["created_at"], series_ids[(host, track.suite, name, mode, metric)],
                         float(v[0]), v[1], v[2], v[3], v[4]))
        return case, meas, [dict(case_id=cid, metric="step_time", values=samples)]


def generate(engine: Engine, rows: int, seed: int = 0, end: datetime | None = None,
             progress: Callable[[int], None] | None = None) -> Summary:
    """Insert about ``rows`` measurement rows (whole cases: at most one case more) of demo history
    ending at ``end`` (default: now). Returns what was written, including the injected regressions
    and the run at which each starts."""
    tracks, nights = plan_tracks(rows)
    rng = random.Random(seed)
    injected = _injections(tracks, nights, rng)
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    start = (end - timedelta(days=nights)).replace(hour=0, minute=0, second=0)
    gen = _Gen(seed, start, nights, injected)
    summary = Summary(injected=injected, nights=nights)
    machine_ids = _ensure_machines(engine, {t.machine for t in tracks}, start)
    series_ids = _ensure_series(engine, tracks, machine_ids)
    summary.machines, summary.series = sorted(machine_ids), len(series_ids)

    batch: dict[str, list] = {"runs": [], "cases": [], "measurements": [], "samples": []}
    for night in range(nights):
        for track in tracks:
            if summary.rows >= rows:
                break
            run = gen.run(track, night, machine_ids[track.machine[0]])
            for j in injected:
                if night == j.night and (j.machine, j.suite) == (track.machine[0], track.suite):
                    j.run_id = run["id"]  # the first run at the new level
            total = failed = 0
            for bench in SUITES[track.suite]:
                for mode in MODES:
                    if summary.rows >= rows:
                        break
                    case, meas, samples = gen.case(track, run, night, bench, mode, series_ids)
                    batch["cases"].append(case)
                    batch["measurements"] += meas
                    batch["samples"] += samples
                    summary.rows += len(meas)
                    total += 1
                    failed += case["status"] != "ok"
            run.update(cases_total=total, cases_failed=failed)
            batch["runs"].append(run)
            summary.runs += 1
            summary.cases += total
            if len(batch["measurements"]) >= BATCH_ROWS:
                bulk.write_batch(engine, batch)
                if progress:
                    progress(summary.rows)
    bulk.write_batch(engine, batch)
    bulk.analyze(engine)
    if progress:
        progress(summary.rows)
    summary.injected = [j for j in injected if j.run_id]
    return summary


def _ensure_machines(engine: Engine, machines: set[tuple], first_seen: datetime) -> dict[str, int]:
    rows = [dict(fingerprint=_fingerprint(host), hostname=host, cpu=cpu, gpu=gpu if backend in ("cuda", "mps") else None,
                 info={"demo": True, "platform": "macOS" if backend == "mps" else "Linux"}, first_seen=first_seen)
            for host, backend, gpu, cpu in sorted(machines, key=str)]
    ids = bulk.ensure_machines(engine, rows)
    return {r["hostname"]: ids[r["fingerprint"]] for r in rows}


def _fingerprint(host: str) -> str:
    return hashlib.sha256(f"perfwatch-demo/{host}".encode()).hexdigest()


def _ensure_series(engine: Engine, tracks: list[Track], machine_ids: dict[str, int]) -> dict[tuple, int]:
    rows, names = [], {}
    for t in tracks:
        host, backend = t.machine[0], t.machine[1]
        for name, params, _, unit in SUITES[t.suite]:
            pkey = params_key(params)
            for mode in MODES:
                for metric, m_unit, direction in _metric_specs(backend, mode, unit):
                    key = series_key(_fingerprint(host), t.suite, name, mode, backend, "float32", pkey, metric)
                    names[key] = (host, t.suite, name, mode, metric)
                    rows.append(dict(key=key, machine_id=machine_ids[host], suite=t.suite, benchmark=name, mode=mode,
                                     backend=backend, dtype="float32", params_key=pkey, metric=metric, unit=m_unit,
                                     direction=direction))
    return {names[k]: v for k, v in bulk.ensure_series(engine, rows).items()}


def detect_injected(engine: Engine, summary: Summary) -> list[int]:
    """Run the detector on the series with an injected regression and store what it finds, as
    `perfwatch detect` would for every series (a fast stand-in for demos, tests and benchmarks).
    Returns the ids of the stored regressions."""
    from perfwatch.analysis.scan import Filters, record_regressions, scan

    found = []
    for j in summary.injected:
        found += scan(engine, Filters(suite=j.suite, benchmark=j.benchmark, mode=j.mode, metric=j.metric,
                                      machine=j.machine), store=False)
    return record_regressions(engine, found)
