"""The other commands, as a user runs them."""

import json
import subprocess
import sys
import zipfile
import pytest

from conftest import REPO, run_cli


def test_suites_lists_builtins_and_entry_points(tmp_path):
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "acme_bench.py").write_text(
        "from perfwatch.suites.base import Benchmark, Suite, Workload\n"
        "SUITE = Suite('acme', (Benchmark('noop', lambda ctx: Workload(step=lambda: None), 'does nothing'),), 'Acme suite')\n"
    )
    dist = pkg / "acme_bench-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bench\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[perfwatch.suites]\nacme = acme_bench:SUITE\n")
    res = run_cli("suites", env={"PYTHONPATH": str(pkg)})
    assert res.returncode == 0, res.stderr
    for name in ("llm:", "vision:", "ops:", "dynamic:", "acme: Acme suite"):
        assert name in res.stdout
    for bench in ("train", "inference", "varlen_static", "graph_break", "matmul", "noop - does nothing"):
        assert bench in res.stdout
    assert '{"dynamic": false}' in res.stdout


@pytest.mark.slow
def test_example_user_suite_runs_and_exports(sqlite_url):
    res = run_cli("run", "--suite", str(REPO / "examples" / "my_suite.py"), "--backend", "cpu", "--modes", "eager",
                  "--min-time", "0.1", "--tag", "purpose=test", "--db", sqlite_url)
    assert res.returncode == 0, res.stderr
    runs = json.loads(run_cli("runs", "--json", "--db", sqlite_url).stdout)
    assert len(runs) == 1 and runs[0]["status"] == "finished"
    out = run_cli("export", "--run", runs[0]["id"][:12], "--format", "jsonl", "--db", sqlite_url)
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    assert {"step_time", "throughput", "peak_rss"} <= {r["metric"] for r in recs}
    assert all(r["run_id"] == runs[0]["id"] and r["status"] == "ok" for r in recs)


@pytest.mark.slow
def test_threads_option_and_export_of_all_runs_oldest_first(sqlite_url, tmp_path):
    cases = []
    for extra in (["--threads", "1"], []):  # two runs: one with --threads, one with torch's default
        res = run_cli("run", "--suite", str(REPO / "examples" / "my_suite.py"), "--backend", "cpu", "--modes", "eager",
                      "--min-time", "0.05", "--no-accuracy", "--json", "--db", sqlite_url, *extra)
        assert res.returncode == 0, res.stderr
        cases.append(json.loads(res.stdout)["cases"][0])
    assert (cases[0]["details"]["threads"], cases[0]["spec"]["threads"]) == (1, 1)
    # torch's default in a fresh process, as the worker is (this test process's may have been set by another test)
    default = int(subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                                 capture_output=True, text=True, check=True).stdout)
    assert (cases[1]["details"]["threads"], cases[1]["spec"]["threads"]) == (default, None)
    bad = run_cli("run", "--suite", str(REPO / "examples" / "my_suite.py"), "--threads", "0", "--db", sqlite_url)
    assert bad.returncode == 2 and "threads = 0 is invalid" in bad.stderr

    runs = [r["id"] for r in json.loads(run_cli("runs", "--json", "--db", sqlite_url).stdout)][::-1]  # oldest first
    out = tmp_path / "all.jsonl"
    res = run_cli("export", "--run", "all", "-o", str(out), "--db", sqlite_url)
    assert res.returncode == 0 and "of 2 runs" in res.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    seen = list(dict.fromkeys(r["run_id"] for r in recs))
    assert seen == runs and all(r["metric"] for r in recs)
    csv_text = run_cli("export", "--run", "all", "--format", "csv", "--db", sqlite_url).stdout
    lines = csv_text.splitlines()
    assert lines[0].startswith("run_id,") and sum(ln.startswith("run_id,") for ln in lines) == 1
    assert len(lines) == len(recs) + 1


def test_db_upgrade_and_current(db_url, tmp_path):
    # The newest migration file is the head revision (files are named <revision>_<what>.py).
    head = sorted(p.name for p in (REPO / "db" / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))[-1][:4]
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    res = run_cli("db", "upgrade", "--db", fresh)
    assert res.returncode == 0 and f"(empty) -> {head}" in res.stdout
    cur = run_cli("db", "current", "--db", db_url)
    assert cur.returncode == 0 and cur.stdout.startswith(head)


def test_env_prints_environment_and_checks():
    res = run_cli("env", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    import torch

    assert doc["environment"]["torch_version"] == torch.__version__
    assert any(f["level"] in ("ok", "warning", "error") for f in doc["findings"])
    text = run_cli("env")
    assert text.returncode == 0 and "torch" in text.stdout


def test_json_output_is_a_document(sqlite_url):
    res = run_cli("run", "--suite", str(REPO / "tests" / "data" / "fault_suite.py"), "--benchmarks", "add",
                  "--modes", "eager", "--backend", "cpu", "--min-time", "0.05", "--json", "--db", sqlite_url)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    case = doc["cases"][0]
    assert case["status"] == "ok" and case["spec"]["benchmark"] == "add"
    step = next(m for m in case["metrics"] if m["name"] == "step_time")
    assert step["unit"] == "ms" and step["ci_low"] <= step["value"] <= step["ci_high"] and "samples" not in step


def test_python_dash_m_and_console_script_agree():
    a = subprocess.run([sys.executable, "-m", "perfwatch", "--version"], capture_output=True, text=True)
    assert a.returncode == 0 and a.stdout.startswith("perfwatch ")


def test_wheel_ships_migrations(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (wheel,) = tmp_path.glob("perfwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "perfwatch/_migrations/env.py" in names
    assert "perfwatch/_migrations/versions/0001_initial.py" in names
    assert "perfwatch/suites/llm.py" in names


def test_database_password_is_never_stored_or_printed(pg_db):
    url = pg_db.replace("postgres@", "postgres:hunter2@")  # trust auth accepts any password
    res = run_cli("run", "--suite", str(REPO / "tests" / "data" / "fault_suite.py"), "--benchmarks", "add",
                  "--modes", "eager", "--backend", "cpu", "--min-time", "0.05", "--db", url)
    assert res.returncode == 0, res.stderr
    assert "hunter2" not in res.stdout + res.stderr
    runs = run_cli("runs", "--json", "--db", url)
    assert "hunter2" not in runs.stdout
    from sqlalchemy import text

    from perfwatch.store.engine import make_engine

    with make_engine(pg_db).connect() as conn:
        command = conn.execute(text("SELECT command FROM runs")).scalar_one()
    assert "postgres:***@" in command and "hunter2" not in command
