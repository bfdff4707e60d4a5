"""The timing collector's sampling logic (the CUDA path with stand-in events: no GPU in CI)."""

import itertools

import torch

from perfwatch.collectors import timing


def test_cpu_samples_respect_min_samples_and_batch_short_steps():
    x = torch.ones(8)
    r = timing.measure(lambda: x * 2, "cpu", lambda: 0, min_time_s=0.01, min_samples=12)
    assert len(r.samples_ms) >= 12 and r.inner > 1  # microsecond steps are batched
    assert r.method == "perf_counter+sync" and r.host_ms is None
    names = {m.name for m in timing.timing_metrics(r, 8, "elements")}
    assert names == {"step_time", "step_time_mad", "throughput"}


def test_warm_up_waits_until_compilation_settles():
    compiles = iter([1, 2, 3, 3, 3, 3, 3, 3, 3, 3])
    count = [0]
    calls, _ = timing.warm_up(lambda: count.__setitem__(0, count[0] + 1), "cpu", lambda: next(compiles, 3),
                              quiet_calls=5)
    assert calls == 7  # compilations stop changing after the 2nd call; then 5 quiet calls


class _Event:
    """Stands in for torch.cuda.Event: each pair reports the next scripted duration."""

    script = itertools.count(1)

    def __init__(self, enable_timing=True):
        self.t = None

    def record(self):
        self.t = next(self.script)

    def elapsed_time(self, end):
        return float(end.t - self.t)


def test_cuda_chunks_drop_the_sample_after_each_sync(monkeypatch):
    _Event.script = itertools.count(0, 2)  # every start->end pair is 2 "ms" apart
    monkeypatch.setattr(torch.cuda, "Event", _Event)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    calls = [0]
    got = timing._cuda_chunk(lambda: calls.__setitem__(0, calls[0] + 1), 5)
    assert got == [2.0] * 5 and calls[0] == 6  # six recorded, the first one dropped
    assert timing._host_time(lambda: None) >= 0


def test_garbage_collector_is_off_while_sampling_and_restored_after():
    import gc

    seen = []
    timing.measure(lambda: seen.append(gc.isenabled()), "cpu", lambda: 0, min_time_s=0.001, min_samples=3)
    assert gc.isenabled()
    assert seen[:3] == [True] * 3  # warm-up runs as usual ...
    assert seen[-1] is False  # ... the timed samples run without collections


def test_block_precision_reads_the_spread_between_blocks_not_single_samples():
    steady = [10.0] * 100
    assert timing.block_precision(steady) == 0.0
    # Phases: 20 samples at 8 ms, 20 at 12 ms, ... Neighbours agree, blocks do not.
    phased = [8.0 if (i // 20) % 2 == 0 else 12.0 for i in range(200)]
    rel = timing.block_precision(phased)
    assert rel is not None and 0.1 < rel < 0.3
    assert timing.block_precision([1.0, 2.0, 3.0]) is None  # too few to say
    assert timing.block_precision([float(i % 2) + 1 for i in range(10)]) is not None  # blocks shrink to fit


def test_a_noisy_step_is_sampled_up_to_max_time_a_steady_one_stops_at_min_time():
    import time

    def step():
        t = time.perf_counter() + 0.0005
        while time.perf_counter() < t:
            pass

    easy = timing.measure(step, "cpu", lambda: 0, min_time_s=0.05, max_time_s=2.0, precision=0.9)
    # the steady step stopped once its precision was met, before max_time (however busy the host)
    assert easy.rel_ci is not None and easy.rel_ci <= 0.9 and easy.timed_s < 2.0
    hard = timing.measure(step, "cpu", lambda: 0, min_time_s=0.05, max_time_s=0.3, precision=1e-9)
    assert hard.timed_s >= 0.3 and len(hard.samples_ms) > len(easy.samples_ms)
    s = {m.name: m for m in timing.timing_metrics(hard, 1, "items")}["step_time"]
    assert s.ci_low <= s.value * (1 - hard.rel_ci) + 1e-12 and s.ci_high >= s.value * (1 + hard.rel_ci) - 1e-12


def test_graph_replay_reports_the_figure_or_why_not(monkeypatch):
    from perfwatch.collectors import graphs

    monkeypatch.setattr(graphs, "replay_time", lambda call, min_time_s: ([1.0, 2.0, 3.0], 0.05))
    metrics, details = graphs.graph_metrics(lambda: None, step_ms=8.0)
    assert [(m.name, m.value, m.unit) for m in metrics] == [("graph_time", 2.0, "ms")]
    assert metrics[0].samples == (1.0, 2.0, 3.0) and metrics[0].spread > 0 and metrics[0].ci_low <= 2.0 <= metrics[0].ci_high
    assert details == {"graph_status": "ok", "graph_capture_s": 0.05, "graph_fraction": 0.25}

    def refuse(call, min_time_s):
        raise RuntimeError("Attempting CUDA graph capture of step() for an instance of AdamW but "
                           "param_groups' capturable is False.\nmore text")

    metrics, details = graphs.graph_metrics(lambda: None, step_ms=8.0)
    monkeypatch.setattr(graphs, "replay_time", refuse)
    metrics, details = graphs.graph_metrics(lambda: None, step_ms=8.0)
    assert metrics == []
    assert details["graph_status"].startswith("not capturable: RuntimeError: Attempting CUDA graph capture")
    assert "more text" not in details["graph_status"]


def test_cpu_cases_have_no_graph_pass():
    from perfwatch.measure import worker
    from perfwatch.domain.results import CaseSpec

    from conftest import REPO

    suite = str(REPO / "tests" / "data" / "fault_suite.py")
    out = worker.measure_case(CaseSpec(suite=suite, benchmark="add", mode="eager", backend="cpu", size="tiny",
                                   suite_source=suite, min_time_s=0.01))
    assert "graph_status" not in out.details and out.metric("graph_time") is None
    assert out.details["timing"]["timed_s"] >= 0.01


def test_graph_pass_captures_eager_fresh_and_default_mode_timed_build_only_on_cuda():
    from perfwatch.domain.results import CaseSpec
    from perfwatch.collectors.graphs import graph_pass

    def spec(mode, backend="cuda"):
        return CaseSpec(suite="s", benchmark="b", mode=mode, backend=backend, size="tiny")

    assert graph_pass(spec("eager")) == "fresh"
    assert graph_pass(spec("default")) == "timed"  # recompiling would cost the compile again
    # These modes replay CUDA graphs of their own: a graph inside a graph is not captured.
    assert graph_pass(spec("reduce-overhead")) is None and graph_pass(spec("max-autotune")) is None
    assert all(graph_pass(spec(m, b)) is None for m in ("eager", "default") for b in ("cpu", "mps"))
