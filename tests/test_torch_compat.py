"""The compatibility layer over torch's private compile counters.

These tests fail loudly when torch moves a counter: a compiled function with a known graph
break and a known recompile must be seen, never reported as 0.
"""

import pytest
import torch

from perfwatch.collectors import torch_compat as tc
from perfwatch.collectors.compile import CompileWatch

pytestmark = pytest.mark.slow


def _branchy(x):
    y = x.sin()
    if y.sum() > 0:  # data-dependent control flow: a graph break
        return y * 2
    return y - 1


def _plain(x):
    return x.cos() + 1


def test_graph_breaks_are_found_where_this_torch_puts_them():
    with CompileWatch() as watch:
        f = torch.compile(_branchy, dynamic=False)
        f(torch.ones(4))
    breaks = tc.graph_breaks()
    assert breaks, f"no graph-break reasons under {tc.graph_break_sources()} on torch {torch.__version__}"
    assert any("data-dependent" in r.lower() or "branch" in r.lower() for r in breaks), breaks
    m = {x.name: x.value for x in watch.metrics()}
    assert m["graph_breaks"] >= 1 and m["graph_break_reasons"] >= 1
    assert m["compile_time"] > 0


def test_recompiles_are_counted_from_compilation_records():
    with CompileWatch() as watch:
        f = torch.compile(_plain, dynamic=False)
        for n in (3, 4, 5):
            f(torch.ones(n))
    records = tc.compilation_records()
    assert len(records) == 3
    assert all("compile_id" in r for r in records)
    m = {x.name: x.value for x in watch.metrics()}
    assert m["recompilations"] == 2
    assert m["graph_breaks"] == 0
    assert any("size mismatch" in r for r in watch.details()["recompile_reasons"])


def test_reset_forgets_earlier_compiles():
    torch.compile(_plain)(torch.ones(7))
    tc.reset()
    assert tc.compile_count() == 0 and tc.graph_breaks() == {}


def test_runtime_records_are_not_compilations():
    assert tc.is_runtime({"compile_id": "0/3", "is_runtime": True})
    assert not tc.is_runtime({"compile_id": "0/3", "is_runtime": False})
    def fresh(x):  # a code object no earlier test compiled
        return x.tan() * 3

    with CompileWatch() as watch:
        torch.compile(fresh, dynamic=False)(torch.ones(3))
    records = tc.compilation_records()
    assert records and all("is_runtime" in r for r in records), "torch no longer marks runtime records"
    assert {x.name: x.value for x in watch.metrics()}["compilations"] == 1
