"""Series identity: what must be equal for two figures to be compared like with like.

A series is one metric of one case on one machine, under every run setting that changes what is
measured. Those settings (threads, processes, precision target, size, dtype, ...) live in the
case's parameters as the store sees them (``series_params``): a changed setting starts a new
series and is never reported as a regression. So does a changed definition of the metric itself
(its catalogue ``version``, part of ``series_key``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

# Run settings that change what a case measures, so are part of its series' identity (suite,
# benchmark, mode, backend and dtype have columns of their own). Each is stored only when it
# differs from its default, so histories recorded before a setting joined the identity keep
# theirs. size's default is the backend's (DEFAULT_SIZE).
IDENTITY_SETTINGS = {"threads": None, "processes": 1, "precision": 0.01, "size": None}


def params_key(params: Mapping[str, Any] | None) -> str:
    """Canonical text of a case's parameters (part of a series' identity)."""
    return json.dumps(dict(params or {}), sort_keys=True, separators=(",", ":"))


def series_key(fingerprint: str, suite: str, benchmark: str, mode: str, backend: str, dtype: str, pkey: str,
               metric: str) -> str:
    from perfwatch.domain.metrics import version

    raw = "\x1f".join((fingerprint, suite, benchmark, mode, backend, dtype, pkey, metric))
    v = version(metric)
    if v > 1:  # a changed definition starts a new series; version 1 keeps the keys stored before versions
        raw += f"\x1fv{v}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def series_params(params: Mapping[str, Any] | None, settings: Mapping[str, Any],
                  backend: str | None = None) -> dict[str, Any]:
    """The parameters a series is keyed by: the benchmark's own plus the identity settings that
    differ from their defaults (prefixed ``_``, so they never clash with a benchmark's)."""
    from perfwatch.domain.vocab import DEFAULT_SIZE

    out = dict(params or {})
    for name, default in IDENTITY_SETTINGS.items():
        if name == "size":
            default = DEFAULT_SIZE.get(backend or "", None)
        value = settings.get(name, default)
        if value is not None and value != default:
            out["_" + name] = value
    return out


def case_settings(spec: Any, details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The identity settings of one measured case: its spec's, and how many processes timed it."""
    timing = (details or {}).get("timing") or {}
    return {"threads": spec.threads, "precision": spec.precision, "size": spec.size,
            "processes": timing.get("processes") or 1}


def case_params_key(case: Any, metric: str | None = None) -> str:
    """params_key of a measured case (a CaseResult): benchmark parameters plus identity settings;
    for ``metric`` too, the settings that change that metric alone (``metric_settings``)."""
    params = series_params(case.spec.params, case_settings(case.spec, case.details), case.spec.backend)
    return params_key({**params, **metric_settings(case.spec, metric), **cache_settings(case.details, metric)})


def cache_settings(details: Mapping[str, Any] | None, metric: str | None) -> dict[str, Any]:
    """A case compiled over a shared persistent compile cache ($PERFWATCH_COMPILE_CACHE,
    perfwatch/measure/compile_cache.py) did not compile cold: its compile costs (the compile
    group's measured figures) start series of their own; its build facts (graph breaks,
    recompilations) and step times keep theirs."""
    from perfwatch.domain.metrics import COMPILE, spec as metric_spec

    if not metric or not (details or {}).get("compile_cache_shared") or metric == "compile_instructions":
        return {}
    s = metric_spec(metric)
    return {"_compile_cache": "shared"} if s.group == COMPILE and not s.exact else {}


def metric_settings(spec: Any, metric: str | None) -> dict[str, Any]:
    """Settings that change one pass's figures and no other's: the batch search's memory cap is part
    of the identity of max_batch and the throughput curve (another cap, another series), never of
    the step time measured beside them."""
    from perfwatch.domain.metrics import spec as metric_spec

    cap = getattr(spec, "batch_memory_cap", None)
    if metric and cap and metric_spec(metric).produced_by == "batch":
        return {"_batch_cap": cap}
    return {}
