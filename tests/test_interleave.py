"""`perfwatch run --processes N --interleave`: each case's processes spread over the run, round by round."""

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from sqlalchemy import select

from perfwatch.measure import runner
from perfwatch.store.sink import StoreSink
from perfwatch.domain.config import load_config
from perfwatch.domain.errors import ConfigError, UsageError
from perfwatch.domain.results import CaseResult, Metric, RunInfo
from perfwatch.store import queries
from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade
from perfwatch.store.models import Case

SUITE = str(REPO / "tests" / "data" / "fault_suite.py")


def _stored_details(engine, run_id):
    with engine.connect() as conn:
        rows = conn.execute(select(Case.id, Case.benchmark, Case.mode, Case.status, Case.details)
                            .where(Case.run_id == run_id)).all()
    return {(r.benchmark, r.mode): r for r in rows}


@pytest.mark.slow
def test_interleaved_run_spreads_processes_and_stores_each_case_once(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "eager", "--benchmarks",
                  "add,boom,no_graphs,crash", "--min-time", "0.05", "--processes", "3", "--interleave",
                  "--db", sqlite_url, "--json")
    assert res.returncode == 3, res.stderr  # boom and crash failed
    doc = json.loads(res.stdout)
    cases = {c["spec"]["benchmark"]: c for c in doc["cases"]}
    assert [c["spec"]["benchmark"] for c in doc["cases"]] == ["add", "boom", "no_graphs", "crash"]  # plan order
    assert cases["boom"]["status"] == "error" and cases["crash"]["status"] == "crash"
    for name, other in (("add", "no_graphs"), ("no_graphs", "add")):
        case = cases[name]
        timing = case["details"]["timing"]
        assert case["status"] == "ok"
        assert timing["processes"] == 3 and len(timing["process_medians_ms"]) == 3
        assert timing["interleaved"] is True
        # Other processes ran inside this case's span (the round lines below say whose): it spans
        # more than its own processes' durations, and for add the other cases' firsts started in it.
        assert timing["process_span_s"] > case["duration_s"], (name, timing["process_span_s"], case["duration_s"])
    add_start = datetime.fromisoformat(cases["add"]["started_at"]).timestamp()
    for other in ("boom", "no_graphs", "crash"):
        other_start = datetime.fromisoformat(cases[other]["started_at"]).timestamp()
        assert add_start < other_start < add_start + cases["add"]["details"]["timing"]["process_span_s"], other
    # One plain progress line per repeat process: 2 ok cases x rounds 2 and 3.
    rounds = [re.fullmatch(r"round (\d)/3: (\w+) \[eager\] ok [-+.\de]+ ms \(\d+\.\ds\)", line)
              for line in res.stderr.splitlines() if line.startswith("round ")]
    assert [m.groups() if m else None for m in rounds] == [("2", "add"), ("2", "no_graphs"), ("3", "add"),
                                                           ("3", "no_graphs")], res.stderr

    engine = make_engine(sqlite_url)
    run_id = queries.resolve_run(engine, "latest")
    assert queries.run_summary(engine, run_id)["status"] == "finished"
    stored = _stored_details(engine, run_id)
    assert set(stored) == {(b, "eager") for b in cases}  # four cases, each stored once
    for name, case in cases.items():
        assert stored[(name, "eager")].status == case["status"]
        assert stored[(name, "eager")].id == case["case_id"]
    steps = {r["benchmark"]: r["value"] for r in queries.export_records(engine, [run_id]) if r["metric"] == "step_time"}
    assert set(steps) == {"add", "no_graphs"}
    for name in steps:
        json_step = next(m["value"] for m in cases[name]["metrics"] if m["name"] == "step_time")
        assert steps[name] == pytest.approx(json_step, rel=1e-12)
        assert stored[(name, "eager")].details["timing"]["interleaved"] is True
        assert stored[(name, "eager")].details["timing"]["processes"] == 3


# --- the round-by-round loop itself, with a fake worker ----------------------------------------

# (benchmark, mode) -> step time (ms) of its first process, then of each repeat
TIMES = {("add", "eager"): [2.0, 4.0, 6.0], ("add", "reduce-overhead"): [1.0, 1.0, 1.0],
         ("wrong", "eager"): [3.0, 5.0, 7.0], ("wrong", "reduce-overhead"): [1.0],
         ("no_graphs", "eager"): [1.0, 2.0, 3.0]}


class FakeWorker:
    """Stands in for runner.run_worker: records the call order, optionally Ctrl-C on call number N."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.interrupt_at = interrupt_at

    def __call__(self, spec, run_id, timeout_s, launch=None):
        key = (spec.benchmark, spec.mode)
        nth = sum(1 for c in self.calls if c[:2] == key)
        self.calls.append((spec.benchmark, spec.mode, spec.timing_only))
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        base = dict(case_id=f"{spec.benchmark}-{spec.mode}-{nth}", run_id=run_id, spec=spec,
                    started_at=datetime.now(timezone.utc).isoformat(), duration_s=1.0)
        if spec.benchmark == "boom":
            return CaseResult(status="error", error="boom", **base)
        v = TIMES[key][nth]
        step = Metric("step_time", v, "ms", "lower_is_better", samples=(v * 0.99, v, v * 1.01), n=3)
        status = "accuracy_fail" if key == ("wrong", "reduce-overhead") else "ok"  # figures kept, final at once
        return CaseResult(status=status, metrics=(step,), **base)


class RecordingSink(StoreSink):
    def __init__(self, engine, spool_file, worker):
        super().__init__(engine, spool_file)
        self.worker = worker
        self.stored: list[tuple[str, str, int]] = []  # (benchmark, mode, worker calls made by then)

    def case(self, run, case):
        self.stored.append((case.spec.benchmark, case.spec.mode, len(self.worker.calls)))
        super().case(run, case)


def _execute(tmp_path, monkeypatch, worker, processes=3):
    monkeypatch.setattr(runner, "run_worker", worker)
    req = runner.RunRequest(suite=SUITE, backend="cpu", modes=("eager", "reduce-overhead"),
                            benchmarks=("add", "boom", "wrong", "no_graphs"))
    plan = runner.plan(req, load_config(cwd=tmp_path))
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    upgrade(engine)
    run = RunInfo(run_id="run-1", created_at=datetime.now(timezone.utc).isoformat(), suite="faults", backend="cpu",
                  size="tiny", machine_fingerprint="fp", hostname="host")
    sink = RecordingSink(engine, Path(tmp_path / "spool.jsonl"), worker)
    repeats_seen = []
    outcome = runner.execute(plan, run, sink, 60.0, processes=processes, interleave=True,
                             on_repeat=lambda rnd, rounds, c: repeats_seen.append((rnd, rounds, c.spec.benchmark)))
    return outcome, sink, engine, repeats_seen


def _by_case(outcome):
    return {(c.spec.benchmark, c.spec.mode): c for c in outcome.cases}


FIRSTS = [("add", "eager", False), ("add", "reduce-overhead", False), ("boom", "eager", False),
          ("boom", "reduce-overhead", False), ("wrong", "eager", False), ("wrong", "reduce-overhead", False),
          ("no_graphs", "eager", False)]  # no_graphs under reduce-overhead is unsupported: nothing started
ROUND = [("add", "eager", True), ("add", "reduce-overhead", True), ("wrong", "eager", True), ("no_graphs", "eager", True)]


def test_firsts_of_every_case_then_repeats_round_by_round(tmp_path, monkeypatch):
    worker = FakeWorker()
    outcome, sink, engine, repeats_seen = _execute(tmp_path, monkeypatch, worker)
    assert worker.calls == FIRSTS + ROUND + ROUND
    assert [r[:2] for r in repeats_seen] == [(2, 3)] * 4 + [(3, 3)] * 4
    assert not outcome.interrupted
    cases = _by_case(outcome)
    assert list(cases) == [("add", "eager"), ("add", "reduce-overhead"), ("boom", "eager"), ("boom", "reduce-overhead"),
                           ("wrong", "eager"), ("wrong", "reduce-overhead"), ("no_graphs", "eager"),
                           ("no_graphs", "reduce-overhead")]  # plan order
    eager = cases[("add", "eager")]
    assert eager.metric("step_time").value == 4.0  # median of 2, 4, 6
    assert eager.details["timing"]["processes"] == 3 and eager.details["timing"]["interleaved"] is True
    assert eager.duration_s == 3.0
    # Speedups against the combined eager figure (the first process alone would give 2.0 and 3.0).
    assert cases[("add", "reduce-overhead")].metric("speedup_vs_eager").value == pytest.approx(4.0)
    assert cases[("wrong", "reduce-overhead")].metric("speedup_vs_eager").value == pytest.approx(5.0)
    assert cases[("no_graphs", "reduce-overhead")].status == "unsupported"
    # Failed and unsupported cases are stored as soon as they end, in round 1 (7 first processes);
    # ok cases, and a failed one whose speedup needs its eager case's combined figure, at the end.
    when = {(b, m): n for b, m, n in sink.stored}
    assert len(sink.stored) == len(when) == 8  # each case stored once
    assert when[("boom", "eager")] == 3 and when[("boom", "reduce-overhead")] == 4
    assert when[("no_graphs", "reduce-overhead")] == 7
    for key in [("add", "eager"), ("add", "reduce-overhead"), ("wrong", "eager"), ("wrong", "reduce-overhead"),
                ("no_graphs", "eager")]:
        assert when[key] == 15, key
    assert queries.run_summary(engine, "run-1")["status"] == "finished"
    stored = _stored_details(engine, "run-1")
    assert stored[("add", "eager")].details["timing"]["process_medians_ms"] == [2.0, 4.0, 6.0]


def test_ctrl_c_in_round_two_stores_every_ok_case_with_the_repeats_that_finished(tmp_path, monkeypatch):
    worker = FakeWorker(interrupt_at=len(FIRSTS) + 2)  # during add [reduce-overhead]'s first repeat
    outcome, sink, engine, _ = _execute(tmp_path, monkeypatch, worker)
    assert outcome.interrupted
    cases = _by_case(outcome)
    assert len(cases) == 8 and len(sink.stored) == 8 and len({s[:2] for s in sink.stored}) == 8
    eager = cases[("add", "eager")]
    assert eager.details["timing"]["processes"] == 2 and eager.metric("step_time").value == 3.0  # median of 2, 4
    assert cases[("add", "reduce-overhead")].details["timing"]["processes"] == 1
    assert cases[("add", "reduce-overhead")].metric("speedup_vs_eager").value == pytest.approx(3.0)
    assert cases[("wrong", "eager")].details["timing"]["processes"] == 1
    assert cases[("wrong", "eager")].metric("step_time").value == 3.0
    assert queries.run_summary(engine, "run-1")["status"] == "interrupted"
    stored = _stored_details(engine, "run-1")
    assert len(stored) == 8 and stored[("add", "eager")].details["timing"]["process_medians_ms"] == [2.0, 4.0]


def test_ctrl_c_in_round_one_stores_the_finished_firsts_and_stops(tmp_path, monkeypatch):
    worker = FakeWorker(interrupt_at=3)  # during boom [eager]
    outcome, sink, engine, _ = _execute(tmp_path, monkeypatch, worker)
    assert outcome.interrupted and len(worker.calls) == 3
    assert [(c.spec.benchmark, c.spec.mode, c.status) for c in outcome.cases] == [
        ("add", "eager", "ok"), ("add", "reduce-overhead", "ok")]
    assert outcome.cases[0].metric("step_time").value == 2.0 and outcome.cases[0].details["timing"]["processes"] == 1
    assert outcome.cases[1].metric("speedup_vs_eager").value == pytest.approx(2.0)
    assert queries.run_summary(engine, "run-1")["status"] == "interrupted"
    assert set(_stored_details(engine, "run-1")) == {("add", "eager"), ("add", "reduce-overhead")}


# --- usage and configuration -------------------------------------------------------------------

def test_interleave_without_processes_is_a_usage_error(tmp_path):
    db = tmp_path / "store.db"
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--interleave", "--db", f"sqlite:///{db}")
    assert res.returncode == 2
    assert "--interleave" in res.stderr and "processes = 1" in res.stderr and "Traceback" not in res.stderr
    assert not db.exists()  # failed before the database was opened: no run written
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--processes", "1", "--db", f"sqlite:///{db}",
                  env={"PERFWATCH_INTERLEAVE": "yes"})
    assert res.returncode == 2 and "needs --processes N with N >= 2" in res.stderr and not db.exists()


def test_execute_refuses_interleave_with_one_process(tmp_path):
    with pytest.raises(UsageError, match="N >= 2"):
        runner.execute(None, None, None, 1.0, processes=1, interleave=True)


@pytest.mark.parametrize("text, value", [("true", True), ("YES", True), ("1", True), ("false", False), ("no", False),
                                         ("0", False)])
def test_interleave_config_values(tmp_path, monkeypatch, text, value):
    monkeypatch.setenv("PERFWATCH_INTERLEAVE", text)
    assert load_config(cwd=tmp_path).interleave is value
    assert load_config({"interleave": not value}, cwd=tmp_path).interleave is (not value)  # the flag wins


def test_interleave_in_the_config_file_and_bad_values(tmp_path, monkeypatch):
    (tmp_path / "perfwatch.toml").write_text("interleave = true\nprocesses = 5\n")
    cfg = load_config(cwd=tmp_path)
    assert cfg.interleave is True and cfg.processes == 5
    (tmp_path / "perfwatch.toml").write_text('interleave = "sometimes"\n')
    with pytest.raises(ConfigError, match="interleave = 'sometimes' is invalid"):
        load_config(cwd=tmp_path)
    (tmp_path / "perfwatch.toml").unlink()
    monkeypatch.setenv("PERFWATCH_INTERLEAVE", "2")
    with pytest.raises(ConfigError, match="PERFWATCH_INTERLEAVE"):
        load_config(cwd=tmp_path)
