"""`perfwatch import asv`: an asv results directory into perfwatch's store.

Everything is read through asv's own loaders (``asv.results.Results``, ``asv.benchmarks``, its
versioned JSON) and converted before the first row is written, so a directory that is not asv
results, or that a newer asv wrote, fails whole with nothing stored. asv's own iterators skip a
bad file with a warning; here a bad file is an error instead, since a silent gap in history would
look like data. Ids are derived from what a result is (machine, commit, environment, benchmark,
parameters) and the store ignores rows it already has, so a second import adds nothing.

Mapping (docs/asv.md): one result file (machine, commit, environment) becomes one perfwatch run
per suite and backend, dated by the asv result's date (the commit's date). Benchmarks of
perfwatch's shim map back to their suite, benchmark, mode, backend and metric; any other asv
benchmark becomes benchmark = its asv name, metric = its asv type (time, mem, peakmem, track),
mode/backend = its ``mode``/``backend`` parameters when it has them, its other parameters as
perfwatch parameters.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perfwatch import asvio
from perfwatch.detect.model import usable
from perfwatch.domain.errors import InputError
from perfwatch.domain.results import LOWER, STATUS_ERROR, STATUS_OK, STATUS_UNSUPPORTED, CaseResult, CaseSpec, Metric, RunInfo
from perfwatch.domain.series import params_key

GENERIC_MODE, GENERIC_BACKEND, GENERIC_DTYPE = "asv", "cpu", "n/a"
UNITS = {"seconds": "s"}  # asv's unit names that perfwatch spells otherwise
_MAX_KEY = 255  # params_key and benchmark columns are VARCHAR(255)
_COMMIT = re.compile(r"[0-9A-Za-z]{1,64}")


@dataclass(frozen=True)
class Imported:
    run: RunInfo
    cases: tuple[CaseResult, ...]

    @property
    def finished_at(self) -> str:
        return max([c.started_at for c in self.cases if c.started_at] or [self.run.created_at])


@dataclass
class ReadResult:
    imported: list[Imported]
    files: int
    stale: int  # results of benchmark versions benchmarks.json no longer has (asv hides them too)
    # "<asv name> [params] at <commit> = inf": figures not stored (their cases are stored failed)
    rejected: list[str] = field(default_factory=list)


@dataclass
class _Case:
    spec: CaseSpec
    metrics: list[Metric] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    asv_names: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # figures the detector could not use


def _digest(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _iso_ms(ms: float | None) -> str | None:
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError, TypeError):  # Infinity, NaN, year 300000
        raise ValueError(f"time {ms!r} (ms since 1970) is not a date") from None


def _int(text: Any) -> int | None:
    return int(text) if isinstance(text, int) or (isinstance(text, str) and text.isdigit()) else None


def _param_value(text: str) -> Any:
    """asv stores parameter values as their repr(); keep plain literals, else the repr itself."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (str, int, float, bool)) or value is None else text


def _shim_tracks(keys) -> dict[tuple[str, str], set[str]]:
    """The tracks a result holds per shim (suite, benchmark)."""
    out: dict[tuple[str, str], set[str]] = {}
    for key in keys:
        shim = asvio.parse_name(key)
        if shim:
            out.setdefault(shim[:2], set()).add(shim[2])
    return out


def _identify(name: str, bench: dict, combo: tuple, default_suite: str,
              shim_tracks: dict[tuple[str, str], set[str]]) -> tuple[str, str, str, str, str, dict, str]:
    """(suite, benchmark, mode, backend, dtype, params, metric) of one asv value."""
    names = list(bench.get("param_names") or [])
    values = {n: _param_value(v) for n, v in zip(names, combo)}
    shim = asvio.parse_name(name)
    if shim and tuple(names) == asvio.PARAM_NAMES:
        suite, benchmark, track = shim
        mode, backend = str(values["mode"]), str(values["backend"])
        metric = asvio.metric_for(track, backend, shim_tracks.get((suite, benchmark), set()))
        return suite, benchmark, mode, backend, "float32", {}, metric
    mode, backend = GENERIC_MODE, GENERIC_BACKEND
    # Columns are VARCHAR(32)/(16): a longer value stays a parameter.
    if isinstance(values.get("mode"), str) and len(values["mode"]) <= 32:
        mode = values.pop("mode")
    if isinstance(values.get("backend"), str) and len(values["backend"]) <= 16:
        backend = values.pop("backend")
    return default_suite, name, mode, backend, GENERIC_DTYPE, values, str(bench.get("type") or "value")


def _convert(res, machine: dict, benchmarks, default_suite: str, where: str,
             rejected: list[str] | None = None) -> list[Imported]:
    mname = machine["machine"]
    # The commit is stored as the runs' git sha and names the export's files: an id, no path.
    if not isinstance(res.commit_hash, str) or not _COMMIT.fullmatch(res.commit_hash):
        raise InputError(f"{where}: commit_hash {res.commit_hash!r} is not a commit id (letters and digits)")
    groups: dict[tuple[str, str], dict[tuple, _Case]] = {}
    keys = sorted(res.get_result_keys(benchmarks))
    shim_tracks = _shim_tracks(keys)
    for key in keys:
        bench = benchmarks[key]
        params = bench.get("params") or []
        unit = str(bench.get("unit") or "unit")
        rows = zip(itertools.product(*params), res.get_result_value(key, params), res.get_result_stats(key, params),
                   res.get_result_samples(key, params))
        for combo, value, stats, samples in rows:
            suite, benchmark, mode, backend, dtype, pvals, metric = _identify(key, bench, combo, default_suite,
                                                                              shim_tracks)
            pkey = params_key(pvals)
            if len(pkey) > _MAX_KEY or len(benchmark) > _MAX_KEY:
                raise InputError(f"{where}: benchmark {key}: its name or parameters are longer than perfwatch stores "
                                 f"({_MAX_KEY} characters)")
            case = groups.setdefault((suite, backend), {}).setdefault((benchmark, mode, pkey), _Case(
                CaseSpec(suite=suite, benchmark=benchmark, mode=mode, backend=backend, size="unknown", dtype=dtype,
                         params=pvals)))
            case.asv_names.append(key)
            if res.started_at.get(key) is not None:
                case.started.append(res.started_at[key])
            if value is None:  # asv: the benchmark failed
                case.failed.append(key)
            elif isinstance(value, (int, float)) and not math.isnan(value):  # NaN: asv skipped it
                if not usable(value):  # inf or 1e308 would poison the series' every sum (detect)
                    what = f"{key}{list(combo) if combo else ''} at {res.commit_hash[:8]} on {mname} = {value!r}"
                    case.unusable.append(what)
                    if rejected is not None:
                        rejected.append(what)
                    continue
                case.metrics.append(_metric(metric, float(value), UNITS.get(unit, unit), stats, samples))
    return [_run(res, machine, mname, suite, backend, cases) for (suite, backend), cases in sorted(groups.items())]


def _metric(name: str, value: float, unit: str, stats: dict | None, samples: list | None) -> Metric:
    stats = stats or {}
    q25, q75 = stats.get("q_25"), stats.get("q_75")
    n = stats.get("repeat")
    spread = (q75 - q25) if usable(q25) and usable(q75) else None
    # Side figures that are not numbers the analysis can use are left out, not stored.
    kept = [float(s) for s in samples if usable(s)] if samples else []
    return Metric(name=name, value=value, unit=unit, direction=LOWER,  # asv has no "higher is better"
                  spread=spread if spread is not None and usable(spread) and spread >= 0 else None,
                  n=int(n) if usable(n) and n == int(n) and 1 <= n <= 1e15 else None,
                  samples=tuple(kept) or None)


def _run(res, machine: dict, mname: str, suite: str, backend: str, cases: dict[tuple, _Case]) -> Imported:
    starts = [s for c in cases.values() for s in c.started]
    created = _iso_ms(res.date if res.date is not None else (min(starts) if starts else None))
    if created is None:
        raise InputError(f"result {res.commit_hash} on {mname} has neither a date nor start times")
    run_id = "asv-" + _digest(mname, res.commit_hash, res.env_name, suite, backend)[:28]
    env = {
        "source": "asv", "hostname": mname, "asv_machine": machine, "asv_env_name": res.env_name,
        "asv_params": res.params, "python_version": res.params.get("python"), "torch_version": res.params.get("torch"),
        "cpu_model": machine.get("cpu"), "cpu_count": _int(machine.get("num_cpu")),
        "memory_total_bytes": _int(machine.get("ram")), "platform": machine.get("os"), "machine": machine.get("arch"),
    }
    run = RunInfo(run_id=run_id, created_at=created, suite=suite, backend=backend, size="unknown",
                  machine_fingerprint="asv-" + _digest("asv machine", mname)[:12], hostname=mname, environment=env,
                  git_sha=res.commit_hash, tags={"source": "asv"}, command=None)
    out = []
    for (benchmark, mode, pkey), c in sorted(cases.items()):
        if c.failed:
            status, error = STATUS_ERROR, f"asv recorded a failure for {', '.join(sorted(set(c.failed)))}"
        elif c.unusable:
            status, error = STATUS_ERROR, ("not stored, not a finite number within ±1e100: "
                                           + "; ".join(c.unusable))
        elif c.metrics:
            status, error = STATUS_OK, None
        else:
            status, error = STATUS_UNSUPPORTED, "skipped by asv (n/a)"
        out.append(CaseResult(case_id=_digest(run_id, benchmark, mode, pkey)[:32], run_id=run_id, spec=c.spec,
                              status=status, metrics=tuple(c.metrics), error=error,
                              details={"asv_benchmarks": sorted(set(c.asv_names))},
                              started_at=_iso_ms(min(c.started)) if c.started else None))
    return Imported(run, tuple(out))


def _error(path: Path, exc: Exception) -> InputError:
    text = str(exc)
    return InputError(text if str(path.resolve()) in text else f"{path}: {text}")


def read_results_dir(path: str, default_suite: str = "asv") -> ReadResult:
    """Load and convert a whole asv results directory; InputError on anything that is not right."""
    asvio.require_asv()
    from asv import util
    from asv.benchmarks import Benchmarks
    from asv.config import Config
    from asv.machine import Machine
    from asv.results import Results

    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{path}: not a directory")
    layout = "benchmarks.json, <machine>/machine.json and <machine>/<commit>-<env>.json"
    if not (root / "benchmarks.json").is_file():
        raise InputError(f"{path} is not an asv results directory: no benchmarks.json (expected {layout})")
    bad = (util.UserError, KeyError, TypeError, ValueError, AttributeError)
    conf = Config()
    conf.results_dir = str(root)
    try:
        benchmarks = Benchmarks.load(conf)
    except bad as exc:
        raise _error(root / "benchmarks.json", exc) from None
    imported, files, stale = [], 0, 0
    rejected: list[str] = []
    for mdir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        result_files = sorted(f for f in mdir.glob("*.json") if f.name != "machine.json")
        if not result_files:
            continue
        try:
            machine = util.load_json(str(mdir / "machine.json"), api_version=Machine.api_version)
            if not isinstance(machine.get("machine"), str):
                raise ValueError("no machine name")
        except OSError:
            raise InputError(f"{mdir} is not an asv machine directory: no machine.json (expected {layout})") from None
        except bad as exc:
            raise _error(mdir / "machine.json", exc) from None
        for f in result_files:
            try:
                res = Results.load(str(f), machine_name=machine["machine"])
            except bad as exc:
                raise _error(f, exc) from None
            try:
                stale += len(set(res.get_all_result_keys()) - res.get_result_keys(benchmarks))
                imported += _convert(res, machine, benchmarks, default_suite, str(f), rejected)
            except (KeyError, TypeError, ValueError) as exc:  # well-formed JSON, malformed content
                raise InputError(f"{f}: malformed asv result: {exc!r}") from None
            files += 1
    if not files:
        raise InputError(f"{path} holds no asv result files (expected {layout})")
    return ReadResult(imported, files, stale, rejected)


@dataclass(frozen=True)
class ImportSummary:
    files: int
    runs: int
    cases: int
    new_cases: int
    stale: int


def write_imported(engine, read: ReadResult) -> ImportSummary:
    from perfwatch.store import writes

    new = 0
    for item in read.imported:
        writes.write_run(engine, item.run)
        for case in item.cases:
            new += writes.write_case(engine, item.run, case)
        failed = sum(c.status != STATUS_OK for c in item.cases)
        writes.finish_run(engine, item.run, item.finished_at, len(item.cases), failed)
    return ImportSummary(read.files, len(read.imported), sum(len(i.cases) for i in read.imported), new, read.stale)
