"""The main job as a user runs it, on the dynamic suite and Postgres: changing shapes, graph
breaks and recompilations counted per mode. Slow (torch.compile on the CPU); the llm suite on
SQLite is tests/test_end_to_end.py.
"""

import pytest
from conftest import run_cli
from test_end_to_end import MODES, _by, _export

pytestmark = pytest.mark.slow


def test_dynamic_suite_on_postgres(pg_db):
    res = run_cli("run", "--suite", "dynamic", "--backend", "cpu", "--min-time", "0.3", "--db", pg_db)
    assert res.returncode == 0, res.stderr + res.stdout
    records = _export(pg_db, "csv")
    steps = _by(records, "step_time")
    assert set(steps) == {(b, m) for b in ("varlen_static", "varlen_dynamic", "graph_break") for m in MODES}
    breaks = _by(records, "graph_breaks")
    recompiles = _by(records, "recompilations")
    for mode in MODES[1:]:
        assert breaks[("graph_break", mode)] > 0
        assert breaks[("varlen_static", mode)] == 0
        assert recompiles[("varlen_static", mode)] > 0
        assert recompiles[("varlen_dynamic", mode)] < recompiles[("varlen_static", mode)]
    assert ("graph_break", "eager") not in breaks  # eager compiles nothing: no figure, not a 0
