"""One finding per cause, ranked by severity; alerts that do not flood (issue 18)."""

from __future__ import annotations

import json

from conftest import run_cli
from test_alerts_message import reg
from test_store import make_case, make_run

from perfwatch.alerts.notify import ALL, pending_announcements
from perfwatch.alerts.channels.slack import render
from perfwatch.analysis.findings import finding_of, group_findings
from perfwatch.store import history, writes
from perfwatch.store.engine import make_engine


def _slowdown(run_id="r1", benchmark="train", mode="eager", first_id=1, change=0.25, **kw):
    """One slower step as the store holds it: step time up, throughput and speedup down."""
    return [reg(first_id, run_id=run_id, benchmark=benchmark, mode=mode, after=10.0 * (1 + change), change=change, **kw),
            reg(first_id + 1, run_id=run_id, benchmark=benchmark, mode=mode, metric="throughput", unit="items/s",
                before=1000.0, after=1000 / (1 + change), change=-change / (1 + change), **kw),
            reg(first_id + 2, run_id=run_id, benchmark=benchmark, mode=mode, metric="speedup_vs_eager", unit="x",
                before=1.6, after=1.6 / (1 + change), change=-change / (1 + change), **kw)]


def test_what_moved_together_in_one_case_is_one_finding_led_by_the_step_time():
    [f] = group_findings(_slowdown())
    assert f.lead["metric"] == "step_time" and [e["metric"] for e in f.evidence] == ["throughput", "speedup_vs_eager"]
    assert f.ids == (1, 2, 3) and f.group == "time" and f.id == 1


def test_compile_time_and_its_phases_are_one_finding_and_other_cases_are_others():
    rows = [reg(1, metric="compile_time", unit="s", before=10, after=13, change=0.3),
            reg(2, metric="compile_time_inductor", unit="s", before=6, after=9, change=0.5),
            reg(3, metric="step_time", change=0.1),  # the same case, another cause
            reg(4, benchmark="inference", metric="compile_time", unit="s", change=0.3)]  # another case
    found = group_findings(rows)
    assert len(found) == 3
    compile_train = next(f for f in found if f.group == "compile" and f["benchmark"] == "train")
    assert set(compile_train.ids) == {1, 2}


def test_findings_rank_by_severity_not_by_date():
    # the overview: ten small page-fault changes, newer, above a +24% step-time regression
    faults = [reg(100 + i, run_id=f"new{i}", metric="uvm_gpu_page_faults", unit="count", change=0.15, pvalue=0.01,
                  ts=f"2026-11-2{i}T10:00:00+00:00") for i in range(8)]
    slow = _slowdown(run_id="old", change=0.24, ts="2026-11-01T10:00:00+00:00")
    found = group_findings(faults + slow)
    assert found[0].lead["metric"] == "step_time" and found[0].lead["run_id"] == "old"
    # a wrong result outranks any slowdown; a new graph break outranks a small slowdown
    wrong = reg(9, metric="accuracy_pass", unit="bool", before=1, after=0, change=-1.0, pvalue=0.0)
    brk = reg(10, metric="graph_breaks", unit="count", before=0, after=1, change=float("inf"), pvalue=0.0)
    small = reg(11, benchmark="other", change=0.05)
    assert [f.id for f in group_findings([small, brk, wrong])] == [9, 10, 11]


def test_finding_of_names_the_finding_of_any_of_its_regressions():
    rows = _slowdown() + [reg(7, benchmark="inference")]
    assert finding_of(rows, 3).ids == (1, 2, 3)
    assert finding_of(rows, 99) is None


def test_slack_shows_one_line_per_finding_with_its_evidence_and_human_numbers():
    [a] = pending_from(_slowdown(change=0.2))
    payload = render(a)
    text = json.dumps(payload, ensure_ascii=False)
    assert "1 finding in llm" in payload["blocks"][0]["text"]["text"]
    assert "*step time* 10 ms → 12 ms: *+20.0%*" in text
    assert "also: throughput -16.7%, speedup vs eager -16.7%" in text  # the evidence: labels and changes
    assert "833.3" not in text  # evidence shows its change, not its figures
    assert "confidence exact" not in text


def pending_from(rows):
    from perfwatch.alerts.announcement import build_announcements

    return build_announcements(rows, None)


def _history_of_regressions(engine, days: int):
    """One regressed run a day for ``days`` days, each with a slower step (stored as the detector would)."""
    ids = []
    for d in range(days):
        run = make_run(f"d{d:02d}", f"2026-10-{d + 1:02d}T10:00:00+00:00")
        writes.write_run(engine, run)
        writes.write_case(engine, run, make_case(run, f"c{d}"))
        series = [s for s in history.find_series(engine, run_id=run.run_id) if s["metric"] == "step_time"]
        ids += history.record(engine, [dict(series_id=s["id"], run_id=run.run_id, ts=writes.parse_time(run.created_at),
                                            raised_run_id=run.run_id, before=10.0, after=12.0, change=0.2,
                                            pvalue=0.001) for s in series])
    return ids


def test_a_channels_first_notify_announces_the_last_day_and_summarises_the_backlog(db_url):
    engine = make_engine(db_url)
    ids = _history_of_regressions(engine, 20)
    anns = pending_announcements(engine, "slack", None)
    assert [a.run_id for a in anns] == ["d18", "d19"]  # the day before the newest, not twenty messages
    backlog = anns[-1].backlog
    assert backlog.regressions == 18 and backlog.runs == 18 and set(anns[0].ids) | set(anns[-1].ids) == set(ids)
    assert "Also 18 older regressions in 18 runs since 2026-10-01" in json.dumps(render(anns[-1]), ensure_ascii=False)
    assert [a.run_id for a in pending_announcements(engine, "slack", None, since=ALL)] == [f"d{d:02d}" for d in range(20)]


def test_notify_marks_the_backlog_announced_and_later_notifies_send_only_what_is_new(db_url, monkeypatch):
    from test_alerts_slack import FakeSlack

    engine = make_engine(db_url)
    _history_of_regressions(engine, 10)
    slack = FakeSlack()
    try:
        monkeypatch.setenv("PERFWATCH_SLACK_WEBHOOK", slack.url)
        first = run_cli("notify", "--db", db_url)
        assert first.returncode == 0, first.stderr
        assert len(slack.delivered) == 2  # two runs of the last day, the other eight in one line
        assert "Also 8 older regressions" in json.dumps(slack.delivered[-1])
        assert history.unannounced(engine) == []
        assert "no regressions to announce" in run_cli("notify", "--db", db_url).stdout
        assert len(slack.delivered) == 2
    finally:
        slack.close()
    bad = run_cli("notify", "--db", db_url, "--since", "last tuesday", "--dry-run")
    assert bad.returncode == 2 and "--since 'last tuesday'" in bad.stderr


def test_regressions_lists_findings_and_acknowledges_a_whole_finding(db_url):
    from dataclasses import replace

    from perfwatch.domain.results import Metric

    engine = make_engine(db_url)
    run = make_run("r1")
    writes.write_run(engine, run)
    case = make_case(run, "c1")
    writes.write_case(engine, run, replace(case, metrics=case.metrics + (
        Metric("throughput", 100.0, "items/s", "higher_is_better"),)))
    series = {s["metric"]: s for s in history.find_series(engine, run_id="r1")}
    change = {"step_time": 0.2, "throughput": -0.17, "graph_breaks": 0.5}
    stored = {}
    for metric, c in change.items():
        [stored[metric]] = history.record(engine, [dict(series_id=series[metric]["id"], run_id="r1",
                                                        ts=writes.parse_time(run.created_at), raised_run_id="r1",
                                                        before=10.0, after=10.0 * (1 + c), change=c, pvalue=0.001)])
    listed = run_cli("regressions", "--db", db_url)
    assert listed.returncode == 0 and "2 finding(s) from 3 stored regression(s)" in listed.stdout
    assert "throughput -17.0%" in listed.stdout  # the evidence, on its finding's line
    each = run_cli("regressions", "--db", db_url, "--each", "--format", "json")
    assert sorted(r["id"] for r in json.loads(each.stdout)) == sorted(stored.values())
    as_json = json.loads(run_cli("regressions", "--db", db_url, "--format", "json").stdout)
    assert [f["metric"] for f in as_json] == ["step_time", "graph_breaks"]  # a 20% slower step before 2 -> 3 breaks
    ack = run_cli("regressions", "--db", db_url, "--ack", str(stored["step_time"]))
    assert ack.returncode == 0 and "and 1 more of its finding" in ack.stdout
    states = {r["metric"]: r["state"] for r in history.list_regressions(engine)}
    assert states == {"step_time": "acknowledged", "throughput": "acknowledged", "graph_breaks": "open"}
    # --each acts on one regression alone
    assert run_cli("regressions", "--db", db_url, "--each", "--reopen", str(stored["throughput"])).returncode == 0
    states = {r["metric"]: r["state"] for r in history.list_regressions(engine)}
    assert states == {"step_time": "acknowledged", "throughput": "open", "graph_breaks": "open"}


def test_the_gate_prints_one_line_per_finding_with_what_moved_with_it():
    from perfwatch.analysis.gate import GateConfig, Verdict
    from perfwatch.cli.gate_lines import verdict_lines

    def v(metric, unit, change, **kw):
        return Verdict(series_id=1, metric=metric, unit=unit, direction="lower_is_better", suite="llm",
                       benchmark=kw.pop("benchmark", "train"), mode="eager", backend="cpu", params_key="{}",
                       hostname="h", verdict="regression", after=12.0, before=10.0, change=change, pvalue=1e-6,
                       detectable=0.02, noise=0.005, noise_source="runs", **kw)

    lines = verdict_lines([v("throughput", "items/s", -0.2), v("step_time", "ms", 0.25),
                           v("step_time", "ms", 0.03, benchmark="inference")], GateConfig())
    regressions = [line for line in lines if "REGRESSION" in line]
    assert len(regressions) == 2 and "train [eager] step_time" in regressions[0]  # most severe first
    assert lines[1].strip() == "also: throughput -20.0%"
