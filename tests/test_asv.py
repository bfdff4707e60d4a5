"""asv interoperability with the real asv: the shim under `asv run`, `perfwatch import asv`,
`perfwatch export --format asv` read back by `asv publish`, and bad input.

asv runs once per module on the fault suite's cheap "add" benchmark, eager mode, on a scratch git
repository (asv places results at a commit; a scratch repository works in any checkout).
"""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
from asv.results import Results
from conftest import REPO, run_cli
from sqlalchemy import create_engine

from perfwatch import asvio
from perfwatch.store.queries import count_rows

MACHINE = "ci-box"
TRACKS = set(asvio.TRACKS)


def _asv(conf, *args, env, timeout=300):
    res = subprocess.run([sys.executable, "-m", "asv", "--config", str(conf), *args], capture_output=True, text=True,
                         env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _conf(path, repo, results_dir, html_dir):
    path.write_text(json.dumps({
        "version": 1, "project": "perfwatch", "repo": str(repo), "dvcs": "git", "branches": ["HEAD"],
        "environment_type": "existing", "benchmark_dir": str(REPO / "benchmarks" / "asv_shim"),
        "env_dir": str(path.parent / "env"), "results_dir": str(results_dir), "html_dir": str(html_dir),
    }))
    return path


@pytest.fixture(scope="module")
def asv_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("asv")
    repo = base / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    (repo / "README").write_text("scratch project for asv\n")
    subprocess.run(git + ["add", "README"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "one"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, HOME=str(base / "home"), PERFWATCH_HOME=str(base / "pwhome"),
               PERFWATCH_ASV_SUITES=str(REPO / "tests" / "data" / "fault_suite.py"), PERFWATCH_ASV_BENCHMARKS="add",
               PERFWATCH_ASV_MODES="eager", PERFWATCH_ASV_BACKENDS="cpu", PERFWATCH_MIN_TIME_S="0.05")
    env.pop("PERFWATCH_DB_URL", None)
    (base / "home").mkdir()
    conf = _conf(base / "asv.conf.json", repo, base / "results", base / "html")
    _asv(conf, "machine", "--yes", "--machine", MACHINE, env=env)
    _asv(conf, "run", "--python=same", "--quick", "--set-commit-hash=HEAD", "--machine", MACHINE, env=env)
    return {"base": base, "repo": repo, "sha": sha, "env": env, "results": base / "results"}


def _asv_values(results_dir):
    """{(metric, mode, backend): value} straight from asv's result file, read by asv."""
    (path,) = [p for p in (results_dir / MACHINE).glob("*.json") if p.name != "machine.json"]
    res = Results.load(str(path))
    out = {}
    for key in res.get_all_result_keys():
        suite, bench, track = asvio.parse_name(key)
        assert (suite, bench) == ("faults", "add")
        params = res.get_result_params(key)
        for (mode, backend), value in zip([(m, b) for m in params[0] for b in params[1]], res.get_result_value(key, params)):
            mode, backend = mode.strip("'"), backend.strip("'")
            out[(asvio.metric_for(track, backend), mode, backend)] = value
    return res, out


def _export(db):
    res = run_cli("export", "--run", "latest", "--db", db)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


@pytest.mark.slow
def test_shim_runs_under_asv_and_reports_perfwatch_metrics(asv_run):
    bench = json.loads((asv_run["results"] / "benchmarks.json").read_text())
    names = {n for n in bench if n.startswith(asvio.SHIM_MODULE)}
    assert names == {f"perfwatch_suites.faults__add.track_{t}" for t in TRACKS}
    step = bench["perfwatch_suites.faults__add.track_step_time"]
    assert step["param_names"] == ["mode", "backend"] and step["params"] == [["'eager'"], ["'cpu'"]]
    assert step["unit"] == "ms" and bench["perfwatch_suites.faults__add.track_peak_memory"]["unit"] == "bytes"
    res, values = _asv_values(asv_run["results"])
    assert res.commit_hash == asv_run["sha"]
    assert values[("step_time", "eager", "cpu")] > 0
    assert values[("peak_rss", "eager", "cpu")] > 1e6
    # Eager mode compiles nothing: asv's n/a, not a failure.
    assert math.isnan(values[("compile_time", "eager", "cpu")])


@pytest.mark.slow
def test_import_gives_asv_numbers_and_is_idempotent(asv_run, db_url):
    res, values = _asv_values(asv_run["results"])
    first = run_cli("import", "asv", str(asv_run["results"]), "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert "1 case(s) (1 new" in first.stdout
    records = _export(db_url)
    got = {(r["metric"], r["mode"], r["backend"]): r["value"] for r in records}
    expected = {k: v for k, v in values.items() if not math.isnan(v)}
    assert got == expected  # the very numbers asv recorded, no more, no less
    r = records[0]
    assert (r["suite"], r["benchmark"], r["status"], r["hostname"], r["git_sha"]) == ("faults", "add", "ok", MACHINE, res.commit_hash)
    assert {x["unit"] for x in records if x["metric"] == "step_time"} == {"ms"}
    # The run is dated by the asv result's date (the commit's), not by the import.
    assert r["created_at"][:19] == _iso_date(res.date)

    engine = create_engine(db_url)
    before = count_rows(engine)
    again = run_cli("import", "asv", str(asv_run["results"]), "--db", db_url)
    assert again.returncode == 0 and "0 new, 1 already stored" in again.stdout
    assert count_rows(engine) == before
    engine.dispose()


def _iso_date(ms):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()[:19]


@pytest.mark.slow
def test_export_asv_is_accepted_by_asv_publish(asv_run, sqlite_url, tmp_path):
    assert run_cli("import", "asv", str(asv_run["results"]), "--db", sqlite_url).returncode == 0
    out = tmp_path / "exported"
    res = run_cli("export", "--format", "asv", "--run", "all", "--output-dir", str(out), "--db", sqlite_url)
    assert res.returncode == 0, res.stderr
    conf = _conf(tmp_path / "asv.conf.json", asv_run["repo"], out, tmp_path / "html")
    _asv(conf, "publish", env=asv_run["env"])
    index = json.loads((tmp_path / "html" / "index.json").read_text())
    assert "perfwatch_suites.faults__add.track_step_time" in index["benchmarks"]
    assert MACHINE in index["machines"]
    # And back again: the export imports to the same numbers.
    again = tmp_path / "again.db"
    assert run_cli("import", "asv", str(out), "--db", f"sqlite:///{again}").returncode == 0
    key = lambda r: (r["metric"], r["mode"], r["backend"], r["value"])  # noqa: E731
    assert sorted(map(key, _export(f"sqlite:///{again}"))) == sorted(map(key, _export(sqlite_url)))


def _newer_format(results, tmp_path):
    bad = tmp_path / "newer"
    shutil.copytree(results, bad)
    # A second machine whose result file a newer asv wrote: the good one must not be imported either.
    shutil.copytree(bad / MACHINE, bad / "zz-newer")
    (bad / "zz-newer" / "machine.json").write_text(json.dumps({"machine": "zz-newer", "version": 1}))
    for p in (bad / "zz-newer").glob("*-*.json"):
        d = json.loads(p.read_text())
        d["version"], d["params"]["machine"] = 3, "zz-newer"
        p.write_text(json.dumps(d))
    return bad, "newer than what this version of asv understands"


def _not_asv(results, tmp_path):
    bad = tmp_path / "notasv"
    (bad / "logs").mkdir(parents=True)
    (bad / "logs" / "run.json").write_text('{"took": 3}')
    return bad, "is not an asv results directory: no benchmarks.json"


def _no_machine_json(results, tmp_path):
    bad = tmp_path / "nomachine"
    shutil.copytree(results, bad)
    (bad / MACHINE / "machine.json").unlink()
    return bad, "no machine.json"


def _garbage_result(results, tmp_path):
    bad = tmp_path / "garbage"
    shutil.copytree(results, bad)
    (bad / MACHINE / "deadbeef-env.json").write_text("{not json")
    return bad, "Error parsing JSON"


@pytest.mark.slow
@pytest.mark.parametrize("make", [_newer_format, _not_asv, _no_machine_json, _garbage_result])
def test_bad_results_dir_exits_2_and_writes_nothing(asv_run, tmp_path, sqlite_url, make):
    bad, message = make(asv_run["results"], tmp_path)
    assert run_cli("db", "upgrade", "--db", sqlite_url).returncode == 0
    res = run_cli("import", "asv", str(bad), "--db", sqlite_url)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    engine = create_engine(sqlite_url)
    assert count_rows(engine) == {"runs": 0, "cases": 0, "measurements": 0}
    engine.dispose()


def test_bad_input_creates_no_database(tmp_path):
    db = tmp_path / "never.db"
    res = run_cli("import", "asv", str(tmp_path / "missing"), "--db", f"sqlite:///{db}")
    assert res.returncode == 2 and "not a directory" in res.stderr
    assert not db.exists()
    res = run_cli("import")
    assert res.returncode == 2 and "expected a source: asv" in res.stderr


@pytest.mark.slow
def test_export_asv_needs_an_empty_output_dir(sqlite_url, asv_run, tmp_path):
    assert run_cli("import", "asv", str(asv_run["results"]), "--db", sqlite_url).returncode == 0
    res = run_cli("export", "--format", "asv", "--db", sqlite_url)
    assert res.returncode == 2 and "--output-dir" in res.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    res = run_cli("export", "--format", "asv", "--output-dir", str(tmp_path / "full"), "--db", sqlite_url)
    assert res.returncode == 2 and "not empty" in res.stderr


def test_peak_memory_track_is_the_catalogues_peak_and_old_mps_exports_still_read():
    from perfwatch.domain.metrics import PEAK_MEMORY_BY_BACKEND

    for backend, metric in PEAK_MEMORY_BY_BACKEND.items():
        assert asvio.track_for(metric, backend) == "peak_memory"
        assert asvio.metric_for("peak_memory", backend) == metric
    assert asvio.metric_for("peak_memory", "mps") == "peak_mps_driver_allocated"
    assert asvio.track_for("peak_mps_allocated", "mps") == "peak_mps_allocated"  # a track of its own now
    # An export written before: peak_memory held peak_mps_allocated, the driver's peak had a track of its own.
    old = {"step_time", "peak_memory", "peak_mps_driver_allocated"}
    assert asvio.metric_for("peak_memory", "mps", old) == "peak_mps_allocated"
    assert asvio.metric_for("peak_mps_driver_allocated", "mps", old) == "peak_mps_driver_allocated"
    new = {"step_time", "peak_memory", "peak_mps_allocated"}
    assert asvio.metric_for("peak_memory", "mps", new) == "peak_mps_driver_allocated"
    assert asvio.metric_for("peak_memory", "cuda", old) == "peak_memory_allocated"  # only MPS had another name
