"""--profile: torch.profiler traces per case, laid out for TensorBoard's profiler plugin."""

import gzip
import json
import os

import pytest
import torch
from conftest import run_cli

from perfwatch.collectors.profiler import ProfileWatch, worker_name


def _step():
    a = torch.randn(64, 64)
    return (a @ a).sum()


def test_worker_name_has_no_dots():
    assert worker_name("my.suite", "train", "reduce-overhead") == "my_suite-train-reduce-overhead"


def test_trace_is_written_and_described(tmp_path):
    with ProfileWatch(str(tmp_path / "run1"), "ops-matmul-eager", "cpu") as prof:
        for _ in range(prof.steps):
            _step()
            prof.step()
    d = prof.details()
    assert prof.metrics() == []
    assert d["trace_dir"] == str(tmp_path / "run1")
    name = os.path.basename(d["trace_file"])
    assert name.startswith("ops-matmul-eager.") and name.endswith(".pt.trace.json.gz")
    with gzip.open(d["trace_file"], "rt") as f:
        trace = json.load(f)
    assert any(e.get("name") == "aten::mm" for e in trace["traceEvents"])
    assert any(str(e.get("name", "")).startswith("ProfilerStep#") for e in trace["traceEvents"])


def test_an_unfinished_window_says_so(tmp_path):
    with ProfileWatch(str(tmp_path), "w", "cpu") as prof:
        _step()  # fewer steps than the schedule: no trace is written
    assert "trace_file" not in prof.details()
    assert "no trace written" in prof.details()["profile_status"]


@pytest.mark.slow
def test_run_profile_writes_one_tensorboard_run(tmp_path):
    tb_loader = pytest.importorskip("torch_tb_profiler.profiler.loader")
    tb_io = pytest.importorskip("torch_tb_profiler.io")
    logdir = tmp_path / "traces"
    res = run_cli("run", "--suite", "ops", "--benchmarks", "matmul,softmax", "--backend", "cpu", "--modes", "eager",
                  "--min-time", "0.05", "--no-accuracy", "--profile", "--profile-dir", str(logdir),
                  "--db", "sqlite:///" + str(tmp_path / "p.db"))
    assert res.returncode == 0, res.stderr + res.stdout
    (run_dir,) = logdir.iterdir()  # <logdir>/<run id>/
    assert f"profiler traces: {run_dir}" in res.stderr
    files = sorted(p.name for p in run_dir.iterdir())
    assert [f.split(".")[0] for f in files] == ["ops-matmul-eager", "ops-softmax-eager"]

    export = run_cli("export", "--run", "latest", "--db", "sqlite:///" + str(tmp_path / "p.db"))
    assert export.returncode == 0

    run = tb_loader.RunLoader(run_dir.name, str(run_dir), tb_io.Cache()).load()
    assert sorted(run.workers) == ["ops-matmul-eager", "ops-softmax-eager"]
    assert run.get_profiles(worker="ops-matmul-eager")
