"""asv (airspeed velocity) interoperability: the naming the shim, the importer and the exporter share.

perfwatch's asv shim (``benchmarks/asv_shim/perfwatch_suites.py``) defines one class per suite
benchmark, named ``<suite>__<benchmark>``, whose ``track_<metric>`` methods take the parameters
``mode`` and ``backend``. The asv benchmark name is therefore
``perfwatch_suites.<suite>__<benchmark>.track_<metric>``. The importer maps such names back to
perfwatch's suite, benchmark, mode, backend and metric; the exporter writes perfwatch runs under
the same names, so shim results, exports and imports line up in one asv site.

This module must not import asv: the shim imports it inside asv's benchmark process, where the
name ``asv`` is the shim's own package (asv imports a benchmark directory under its basename).
"""

from __future__ import annotations

import re

from perfwatch.domain.metrics import PEAK_MEMORY_BY_BACKEND, spec

SHIM_MODULE = "perfwatch_suites"
PARAM_NAMES = ("mode", "backend")

# "peak_memory" is one asv track across backends; perfwatch names the peak per device (the
# catalogue's PEAK_MEMORY_BY_BACKEND: peak_rss, peak_memory_allocated, peak_mps_driver_allocated).
PEAK_TRACK = "peak_memory"
(_PEAK_UNIT,) = {spec(m).unit for m in PEAK_MEMORY_BY_BACKEND.values()}

# The shim's track_* benchmarks and their units (the catalogue's units for these metrics).
TRACKS = {**{m: spec(m).unit for m in ("step_time", "compile_time", "graph_breaks", "recompilations")},
          PEAK_TRACK: _PEAK_UNIT}

# What "peak_memory" held before the catalogue settled the peak per backend: on MPS, perfwatch's
# exports and shim wrote peak_mps_allocated there. An old export also wrote
# peak_mps_driver_allocated as a track of its own, and that is how the importer recognises one and
# reads its peak_memory the old way (an old shim result, five tracks only, cannot be told apart).
LEGACY_PEAK_MEMORY = {"mps": "peak_mps_allocated"}

_SEP = "__"
_NAME = re.compile(rf"^{SHIM_MODULE}\.(?P<cls>[A-Za-z0-9_]+)\.track_(?P<track>[A-Za-z0-9_]+)$")


def identifier(text: str) -> str:
    """``text`` usable in an asv name: asv splits names on '.' and '-', so keep [A-Za-z0-9_]."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text) or "_"


def class_name(suite: str, benchmark: str) -> str:
    return f"{identifier(suite)}{_SEP}{identifier(benchmark)}"


def benchmark_name(suite: str, benchmark: str, track: str) -> str:
    return f"{SHIM_MODULE}.{class_name(suite, benchmark)}.track_{identifier(track)}"


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(suite, benchmark, track) of a shim benchmark name, or None for any other asv benchmark."""
    m = _NAME.match(name)
    if not m or _SEP not in m["cls"]:
        return None
    suite, benchmark = m["cls"].split(_SEP, 1)
    return suite, benchmark, m["track"]


def track_for(metric: str, backend: str) -> str:
    return PEAK_TRACK if PEAK_MEMORY_BY_BACKEND.get(backend) == metric else metric


def metric_for(track: str, backend: str, tracks: frozenset[str] | set[str] = frozenset()) -> str:
    """The perfwatch metric of ``track`` on ``backend``. ``tracks``: the other tracks the same
    result holds for this benchmark (an import), to recognise an old "peak_memory" (LEGACY_PEAK_MEMORY)."""
    if track != PEAK_TRACK:
        return track
    metric = PEAK_MEMORY_BY_BACKEND.get(backend, PEAK_TRACK)
    if metric in tracks and backend in LEGACY_PEAK_MEMORY:
        return LEGACY_PEAK_MEMORY[backend]
    return metric


def require_asv() -> None:
    """asv is an optional extra: say how to get it instead of failing with an ImportError."""
    from perfwatch.domain.optional import require

    require("asv.results", "asv", "asv")
