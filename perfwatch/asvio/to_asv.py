"""`perfwatch export --format asv`: perfwatch runs as an asv results directory.

Written through asv's own classes (``Results``, ``Machine``, ``Benchmarks``), so ``asv publish``
reads it as if ``asv run`` had made it: ``benchmarks.json``, ``<machine>/machine.json`` and one
``<machine>/<sha8>-<env>.json`` per machine, commit and environment. Every stored metric becomes a
``track_*`` benchmark under the shim's names (``perfwatch.asvio``), parameterized by mode and
backend; a failed case is asv's failure (None), a metric a case did not measure is asv's n/a.

asv places results by commit, so runs without a git commit are left out. Spread, confidence
intervals and samples stay in perfwatch: asv would recompute its statistics from raw samples in
its own units, and the exported value must be exactly perfwatch's.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import defaultdict
from dataclasses import dataclass

from perfwatch import asvio
from perfwatch.domain.errors import InputError, UsageError
from perfwatch.domain.results import STATUS_OK
from perfwatch.store.writes import parse_time
from perfwatch.domain.vocab import MODES

VERSION = "perfwatch-export-1"  # asv shows only results whose version matches benchmarks.json


@dataclass(frozen=True)
class ExportSummary:
    runs: int
    files: int
    benchmarks: int
    skipped_no_commit: int


def _run_ids(engine, ref: str) -> list[str]:
    from perfwatch.store import queries

    if ref == "all":
        ids = [r["id"] for r in queries.list_runs(engine, limit=2**31 - 1)]
        if not ids:
            raise UsageError("the database has no runs yet; start one with `perfwatch run --suite llm`")
        return ids
    return [queries.resolve_run(engine, ref)]


def _safe(text: str) -> str:
    # Machine, commit and environment names become file and directory names: no separators,
    # and no leading dot (".." would climb out of --output-dir, ".x" is hidden from asv).
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", text) or "_"
    return "_" + name[1:] if name.startswith(".") else name


def _inside(output_dir: str, relative: str) -> str:
    """``relative`` under ``output_dir``; an InputError if it would land anywhere else (the names
    are sanitised first, so this only guards against a change to asv's naming)."""
    root = os.path.realpath(output_dir)
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root:
        raise InputError(f"refusing to write {relative!r}: it lies outside --output-dir {output_dir}")
    return path


def _machine_names(summaries: list[dict]) -> dict[str, str]:
    """asv machine name per perfwatch machine: its hostname, made unique when two share one."""
    names: dict[str, str] = {}
    for s in sorted(summaries, key=lambda s: s["created_at"] or ""):
        if s["machine"] not in names:
            name = _safe(s["hostname"] or s["machine"])
            names[s["machine"]] = name if name not in names.values() else f"{name}-{s['machine'][:8]}"
    return names


def _env_name(s: dict) -> str:
    env = s["environment"] or {}
    if env.get("asv_env_name"):  # a run imported from asv keeps its environment (a file name: sanitised)
        return _safe(str(env["asv_env_name"]))
    torch = s["torch_version"]
    return _safe(f"perfwatch-{s['size']}" + (f"-torch{torch}" if torch else ""))


def _machine_info(name: str, env: dict) -> dict:
    if isinstance(env.get("asv_machine"), dict):
        return dict(env["asv_machine"], machine=name)
    return {"machine": name, "os": env.get("platform") or env.get("os") or "", "arch": env.get("machine") or "",
            "cpu": env.get("cpu_model") or "", "num_cpu": str(env.get("cpu_count") or ""),
            "ram": str(env.get("memory_total_bytes") or "")}


def export_asv(engine, run_ref: str, output_dir: str) -> ExportSummary:
    asvio.require_asv()
    from asv import util
    from asv.benchmarks import Benchmarks
    from asv.config import Config
    from asv.machine import Machine
    from asv.results import Results, get_filename
    from asv.runner import BenchmarkResult

    from perfwatch.store import queries

    if os.path.isdir(output_dir) and os.listdir(output_dir):
        raise UsageError(f"--output-dir {output_dir} is not empty; asv results are written into an empty directory")
    summaries = [queries.run_summary(engine, rid) for rid in _run_ids(engine, run_ref)]
    with_commit = [s for s in summaries if s["git_sha"]]
    if not with_commit:
        raise UsageError("no run to export has a git commit; asv places every result at a commit")
    machines = _machine_names(with_commit)

    # One asv result file per (machine, commit, environment); later runs win on a clash.
    files: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for s in sorted(with_commit, key=lambda s: s["created_at"] or ""):
        files[(machines[s["machine"]], _safe(s["git_sha"]), _env_name(s))].append(s)
    values: dict[tuple, dict[tuple[str, str], float | None]] = defaultdict(dict)  # (file, asv name) -> combo -> value
    units: dict[str, str] = {}
    for fkey, runs in files.items():
        for r in queries.export_records(engine, [s["run_id"] for s in runs]):
            combo = (r["mode"], r["backend"])
            if r["status"] != STATUS_OK:
                # As the shim does: every track of a failed case fails, whatever it measured.
                for track, unit in asvio.TRACKS.items():
                    name = asvio.benchmark_name(r["suite"], r["benchmark"], track)
                    values[(fkey, name)][combo] = None
                    units.setdefault(name, unit)
                continue
            name = asvio.benchmark_name(r["suite"], r["benchmark"], asvio.track_for(r["metric"], r["backend"]))
            values[(fkey, name)][combo] = float(r["value"])
            units.setdefault(name, r["unit"])

    combos = {c for v in values.values() for c in v}
    modes = sorted({m for m, _ in combos}, key=lambda m: (MODES.index(m) if m in MODES else len(MODES), m))
    backends = sorted({b for _, b in combos})
    params = [[repr(m) for m in modes], [repr(b) for b in backends]]
    benchmarks = {name: {"name": name, "type": "track", "unit": unit, "params": params,
                         "param_names": list(asvio.PARAM_NAMES), "version": VERSION, "timeout": 0,
                         "code": f"# exported by perfwatch: {name}"} for name, unit in units.items()}

    os.makedirs(output_dir, exist_ok=True)
    conf = Config()
    conf.results_dir = output_dir
    for (machine, sha, env_name), runs in files.items():
        env = runs[-1]["environment"] or {}
        info = _machine_info(machine, env)
        _inside(output_dir, os.path.join(machine, "machine.json"))
        m = Machine()
        m.__dict__.update(info)
        m.save(output_dir)
        torch = runs[-1]["torch_version"]
        created = parse_time(runs[-1]["created_at"])
        reqs = {"torch": torch} if torch else {}
        python = env.get("python_version") or ""
        result = Results(dict(info, python=python, **reqs), reqs, sha, util.datetime_to_js_timestamp(created), python,
                         env_name, {})
        for name in sorted(n for (fk, n) in values if fk == (machine, sha, env_name)):
            got = values[((machine, sha, env_name), name)]
            # NaN is asv's n/a: that mode/backend was not run, or did not measure this metric.
            row = [got.get(combo, float("nan")) for combo in itertools.product(modes, backends)]
            n = len(row)
            result.add_result(benchmarks[name], BenchmarkResult(result=row, samples=[None] * n, number=[None] * n,
                                                                errcode=0, stderr="", profile=None),
                              started_at=created)
        _inside(output_dir, get_filename(info["machine"], sha, env_name))
        result.save(output_dir)
    Benchmarks(conf, list(benchmarks.values())).save()
    return ExportSummary(runs=len(with_commit), files=len(files), benchmarks=len(benchmarks),
                         skipped_no_commit=len(summaries) - len(with_commit))
