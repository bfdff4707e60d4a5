"""Issue 18: $PERFWATCH_COMPILE_CACHE, one persistent compile cache shared by every compiled case.

Unset, each compiled case compiles cold over caches of its own (issue 16; the real compiles are
in tests/test_compile_truth.py). Set, the caches live in that directory, which is kept; the case
says its compile was not cold, and its compile costs start series of their own. No compile runs
here: the worker is a stand-in that records the environment it was given.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from perfwatch.domain.results import STATUS_OK, CaseResult, CaseSpec, Metric
from perfwatch.domain.series import case_params_key
from perfwatch.measure import compile_cache


def _spec(mode="default", **kw) -> CaseSpec:
    return CaseSpec(suite="s", benchmark="b", mode=mode, backend="cpu", size="tiny", **kw)


def _fake_worker(seen):
    def run_worker(spec, run_id, timeout_s, launch=None):
        env = dict(launch.env) if launch else {}
        seen.append(env)
        return CaseResult(case_id="c", run_id=run_id, spec=spec, status=STATUS_OK,
                          metrics=(Metric("step_time", 1.0, "ms", "lower_is_better"),
                                   Metric("compile_time", 2.0, "s", "lower_is_better"),
                                   Metric("graph_breaks", 0.0, "count", "lower_is_better")),
                          details={"compile_cache": {"fxgraph_cache_hit": 1, "fxgraph_cache_miss": 0}})
    return run_worker


def _run(spec, seen):
    return compile_cache.run_compiled(spec, "r", 60, 1, _fake_worker(seen), lambda s: s,
                                      lambda first, more: first, lambda c: True)


@pytest.fixture
def tmp_tempdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def test_unset_each_case_compiles_over_fresh_caches_that_are_removed(tmp_tempdir, monkeypatch):
    monkeypatch.delenv(compile_cache.SHARED_ENV, raising=False)
    seen = []
    case = _run(_spec(), seen)
    inductor = seen[0]["TORCHINDUCTOR_CACHE_DIR"]
    assert inductor.startswith(str(tmp_tempdir)) and os.path.basename(os.path.dirname(inductor)).startswith("perfwatch-case-")
    assert compile_cache.SHARED_DETAIL not in case.details
    assert not list(tmp_tempdir.iterdir())  # removed with the case


def test_set_every_compiled_case_shares_the_directory_and_it_is_kept(tmp_path, tmp_tempdir, monkeypatch):
    shared = tmp_path / "shared" / "cache"  # created on first use
    monkeypatch.setenv(compile_cache.SHARED_ENV, str(shared))
    seen = []
    cases = [_run(_spec(), seen), _run(_spec(mode="max-autotune"), seen)]
    assert [e["TORCHINDUCTOR_CACHE_DIR"] for e in seen] == [str(shared / "inductor")] * 2
    assert [e["TRITON_CACHE_DIR"] for e in seen] == [str(shared / "triton")] * 2
    # the portable artifacts stay per case: two runs sharing the cache never write one file
    saves = [e[compile_cache.SAVE_ARTIFACTS_ENV] for e in seen]
    assert len(set(saves)) == 2 and not any(s.startswith(str(shared)) for s in saves)
    assert all(c.details[compile_cache.SHARED_DETAIL] == str(shared) for c in cases)
    assert shared.is_dir() and not list(tmp_tempdir.iterdir())  # the shared cache stays, case folders go


def test_eager_cases_and_instruction_counts_never_use_the_shared_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.SHARED_ENV, str(tmp_path / "shared"))
    with compile_cache.case_caches(_spec(mode="eager")) as caches:
        assert caches is None
    with compile_cache.case_caches(_spec(), isolated=True) as caches:
        assert caches.shared is None and dict(caches.env())["TORCHINDUCTOR_CACHE_DIR"].startswith(caches.root)


def test_compile_costs_under_a_shared_cache_are_series_of_their_own():
    spec = _spec()
    cold = CaseResult(case_id="c", run_id="r", spec=spec, status=STATUS_OK, details={})
    warm = CaseResult(case_id="c", run_id="r", spec=spec, status=STATUS_OK,
                      details={compile_cache.SHARED_DETAIL: "/somewhere"})
    for metric in ("compile_time", "first_call_time", "compile_cpu_time", "compile_time_inductor", "compile_time_warm"):
        assert case_params_key(cold, metric) != case_params_key(warm, metric), metric
        assert "_compile_cache" in case_params_key(warm, metric)
    # what a cache does not change keeps its series: step times, build facts, instruction counts (always cold)
    for metric in ("step_time", "graph_breaks", "recompilations", "peak_rss", "compile_instructions"):
        assert case_params_key(cold, metric) == case_params_key(warm, metric), metric
