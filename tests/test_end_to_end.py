"""The main job as a user runs it: real torch, real compile, real stores, then export.

Slow (torch.compile on the CPU): `pytest -m "not slow"` skips these. The dynamic suite on
Postgres is tests/test_end_to_end_dynamic.py: a module of its own, so pytest-xdist
(scripts/test.sh) runs the two, the suite's longest tests, at once.
"""

import csv
import io
import json

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow
MODES = ["eager", "default", "reduce-overhead", "max-autotune"]


def _export(db_url, fmt="jsonl"):
    res = run_cli("export", "--run", "latest", "--format", fmt, "--db", db_url)
    assert res.returncode == 0, res.stderr
    if fmt == "jsonl":
        return [json.loads(line) for line in res.stdout.splitlines()]
    return list(csv.DictReader(io.StringIO(res.stdout)))


def _by(records, metric):
    return {(r["benchmark"], r["mode"]): float(r["value"]) for r in records if r["metric"] == metric}


def test_llm_suite_on_sqlite(sqlite_url):
    res = run_cli("run", "--suite", "llm", "--backend", "cpu", "--min-time", "0.3", "--db", sqlite_url)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "8/8 case(s) ok" in res.stdout
    for column in ("step ms", "vs eager", "compile s", "breaks", "recompiles", "peak mem"):
        assert column in res.stdout

    records = _export(sqlite_url)
    required = {"run_id", "created_at", "suite", "benchmark", "mode", "backend", "metric", "value", "unit", "status"}
    assert all(required <= set(r) for r in records)
    steps = _by(records, "step_time")
    assert set(steps) == {(b, m) for b in ("train", "inference") for m in MODES}
    assert all(v > 0 for v in steps.values())
    assert {r["unit"] for r in records if r["metric"] == "step_time"} == {"ms"}
    speedups = _by(records, "speedup_vs_eager")
    assert len(speedups) == 6 and all(v > 0 for v in speedups.values())
    tput = [r for r in records if r["metric"] == "throughput"]
    assert tput and all(r["unit"] == "tokens/s" for r in tput)
    assert all(v == 1.0 for v in _by(records, "accuracy_pass").values())
    assert all(v > 0 for v in _by(records, "compile_time").values())
    assert all(v > 0 for v in _by(records, "peak_rss").values())
