"""perfwatch's suites as asv ``track_*`` benchmarks.

For every selected suite benchmark this module defines a class ``<suite>__<benchmark>`` (see
``perfwatch.asvio``) with one ``track_*`` method per metric in ``perfwatch.asvio.TRACKS``,
parameterized over mode and backend. Nothing is measured here: each (suite, benchmark, mode,
backend) case runs once in perfwatch's own worker process (``perfwatch.measure.runner.run_worker``), and
the tracks of that case read its result from a directory that lives for one ``asv run``.

Selection (read when asv discovers the benchmarks; CI keeps it tiny):
  PERFWATCH_ASV_SUITES      comma-separated suite names or suite files (default: every suite)
  PERFWATCH_ASV_BENCHMARKS  comma-separated benchmark names to keep (default: all)
  PERFWATCH_ASV_MODES       comma-separated modes (default: all four)
  PERFWATCH_ASV_BACKENDS    comma-separated backends, or auto (default: auto)
  PERFWATCH_ASV_SIZE        tiny, small, medium, large or auto (default: auto)
perfwatch's own settings (PERFWATCH_MIN_TIME_S, PERFWATCH_TIMEOUT_S, perfwatch.toml) apply.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

# Modules only at the top level: asv collects every public class and function of this module.
from perfwatch import asvio, suites
from perfwatch.measure import backends
from perfwatch.domain import errors
from perfwatch.domain import results
from perfwatch.measure import runner
from perfwatch.domain import config as pw_config


def _csv(name: str, default: str = "") -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def _select(config) -> dict[tuple[str, str, str, str], results.CaseSpec]:
    """Every case to expose, planned by perfwatch's runner (which validates names, modes, sizes)."""
    modes = runner.parse_modes(",".join(_csv("PERFWATCH_ASV_MODES", ",".join(runner.MODES))))
    wanted = set(_csv("PERFWATCH_ASV_BENCHMARKS"))
    size = os.environ.get("PERFWATCH_ASV_SIZE", "auto")
    specs: dict[tuple[str, str, str, str], results.CaseSpec] = {}
    seen: set[str] = set()
    for suite_ref in _csv("PERFWATCH_ASV_SUITES") or suites.available():
        if suites.is_suite_file(suite_ref):
            # asv imports this module with different working directories (discovery, each
            # benchmark): a relative suite file is relative to asv.conf.json.
            suite_ref = os.path.join(os.environ.get("ASV_CONF_DIR", ""), suite_ref)
        suite = suites.load_suite(suite_ref)
        for backend_ref in _csv("PERFWATCH_ASV_BACKENDS", "auto"):
            backend = backends.resolve_backend(backend_ref)
            # Benchmarks that do not run on this backend are left out here and reported as
            # skipped by their tracks, so plan() is never asked for an impossible case.
            names = tuple(b.name for b in suite.benchmarks if backend in b.backends and (not wanted or b.name in wanted))
            seen.update(b.name for b in suite.benchmarks if b.name in wanted)
            if not names:
                continue
            req = runner.RunRequest(suite=suite_ref, backend=backend, modes=modes, benchmarks=names, size=size)
            for spec in runner.plan(req, config).specs:
                specs[(spec.suite, spec.benchmark, spec.mode, spec.backend)] = spec
    if wanted - seen:
        raise errors.UsageError(f"PERFWATCH_ASV_BENCHMARKS: no selected suite has {', '.join(sorted(wanted - seen))}")
    return specs


CONFIG = pw_config.load_config()
SPECS = _select(CONFIG)


def _run_case(cache_dir: str, key: tuple[str, str, str, str]) -> results.CaseResult:
    """The case's result, measured by the first of its tracks that asv runs (in setup), then read."""
    path = os.path.join(cache_dir, hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:24] + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return results.CaseResult.from_dict(json.load(f))
    case = runner.run_worker(SPECS[key], run_id="asv", timeout_s=CONFIG.timeout_s)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(case.to_dict(), f)
    os.replace(tmp, path)  # never leave a half-written result for the next track
    return case


class _SuiteBenchmark:
    """Base of the generated classes; the leading underscore keeps asv from collecting it."""

    suite = ""
    benchmark = ""
    param_names = list(asvio.PARAM_NAMES)
    timeout = CONFIG.timeout_s + 60  # the first track of a case waits for the whole worker

    def setup_cache(self):
        # One setup_cache for every class (asv keys it by source line), so asv runs it once per
        # run and environment and removes its working directory afterwards: the case results
        # written below live exactly as long as this `asv run`.
        return tempfile.mkdtemp(prefix="perfwatch-asv-", dir=os.getcwd())

    def setup(self, cache_dir, mode, backend):
        # NotImplementedError in setup is asv's "skipped" (n/a); anywhere else it is a failure.
        key = (self.suite, self.benchmark, mode, backend)
        if key not in SPECS:
            raise NotImplementedError(f"{self.benchmark} does not run on {backend}")
        self._case = _run_case(cache_dir, key)
        if self._case.status == results.STATUS_UNSUPPORTED:
            raise NotImplementedError(self._case.error or "unsupported")

    def _value(self, track: str) -> float:
        case = self._case
        if case.status != results.STATUS_OK:
            sys.stderr.write(case.details.get("log_tail", ""))
            raise RuntimeError(f"perfwatch case {case.spec.label()} on {case.spec.backend}: {case.status}: {case.error}")
        metric = case.metric(asvio.metric_for(track, case.spec.backend))
        # Not measured in this mode (compile figures in eager): NaN is asv's "n/a", not a failure.
        return float("nan") if metric is None else metric.value


def _track(track: str, unit: str):
    def fn(self, cache_dir, mode, backend):
        return self._value(track)

    fn.__name__ = fn.__qualname__ = f"track_{track}"
    fn.unit = unit
    return fn


for _track_name, _unit in asvio.TRACKS.items():
    setattr(_SuiteBenchmark, f"track_{_track_name}", _track(_track_name, _unit))


def _define_classes() -> None:
    pairs = sorted({(s, b) for (s, b, _, _) in SPECS})
    modes = [m for m in runner.MODES if any(k[2] == m for k in SPECS)]
    backends = sorted({k[3] for k in SPECS})
    for suite, bench in pairs:
        name = asvio.class_name(suite, bench)
        globals()[name] = type(name, (_SuiteBenchmark,), {
            "__module__": __name__, "suite": suite, "benchmark": bench, "params": [modes, backends],
        })


_define_classes()
