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

SHIM_MODULE = "perfwatch_suites"
PARAM_NAMES = ("mode", "backend")

# The shim's track_* benchmarks and their units (perfwatch's units for these metrics).
TRACKS = {
    "step_time": "ms",
    "compile_time": "s",
    "graph_breaks": "count",
    "recompilations": "count",
    "peak_memory": "bytes",
}

# "peak_memory" is one asv track across backends; perfwatch names the peak per device.
PEAK_MEMORY = {"cpu": "peak_rss", "cuda": "peak_memory_allocated", "mps": "peak_mps_allocated"}

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
    return "peak_memory" if PEAK_MEMORY.get(backend) == metric else metric


def metric_for(track: str, backend: str) -> str:
    return PEAK_MEMORY.get(backend, "peak_memory") if track == "peak_memory" else track


def require_asv() -> None:
    """asv is an optional extra: say how to get it instead of failing with an ImportError."""
    from perfwatch.domain.optional import require

    require("asv.results", "asv", "asv")
