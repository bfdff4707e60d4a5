"""Bad input: a clear message, exit 2, nothing run and nothing written."""

import os

import pytest
from conftest import REPO, run_cli

FAULTS = str(REPO / "tests" / "data" / "fault_suite.py")


def _store_file(tmp_path):
    return tmp_path / "home" / "perfwatch.db"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--suite", "nosuch"], "unknown suite 'nosuch'; available: dynamic, llm, numerics, ops, pipeline"),
        (["--suite", "llm", "--benchmarks", "train,nosuch"], "unknown benchmark nosuch in suite 'llm'; valid: "),
        (["--suite", "llm", "--modes", "eager,turbo"], "unknown mode turbo; valid modes: eager, default, reduce-overhead, max-autotune"),
        (["--suite", "llm", "--backend", "tpu"], "unknown backend 'tpu'; valid: auto, cpu, cuda, mps"),
        (["--suite", "llm", "--backend", "cuda"], "backend 'cuda' is not available on this machine; available: cpu"),
        (["--suite", "llm", "--size", "huge"], "unknown size 'huge'"),
        (["--suite", str(REPO / "tests" / "data" / "broken_suite.py")], "failed to import: ModuleNotFoundError"),
        (["--suite", "/no/such/suite.py"], "suite file not found"),
        (["--suite", FAULTS, "--benchmarks", "gpu_only", "--backend", "cpu"], "does not run on cpu"),
        (["--suite", "llm", "--timeout", "-1"], "--timeout"),
        (["--suite", "llm", "--precision", "5"], "--precision: precision = 5.0 is invalid (a fraction: 0.01 means +-1%)"),
        (["--suite", "llm", "--max-time", "0"], "--max-time"),
        (["--suite", "llm", "--alpha", "5"], "gate alpha must be a probability in (0, 1), got 5.0"),
        (["--suite", "llm", "--alpha", "nan"], "gate alpha must be a probability in (0, 1), got nan"),
        (["--suite", "llm", "--min-effect", "-0.1"], "gate min_effect must be a fraction in [0, 1)"),
        (["--suite", "llm", "--baseline-runs", "2"], "gate baseline must be a whole number of runs >= 3"),
    ],
)
def test_bad_run_requests_exit_2_and_write_nothing(tmp_path, args, message):
    res = run_cli("run", *args, env={"PERFWATCH_HOME": str(tmp_path / "home")})
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert not _store_file(tmp_path).exists()  # nothing written, not even an empty database


def test_unreachable_database_fails_before_any_benchmark(tmp_path):
    res = run_cli("run", "--suite", FAULTS, "--benchmarks", "add", "--backend", "cpu",
                  "--db", "postgresql+psycopg://perfwatch:s3cret@127.0.0.1:1/nope")
    assert res.returncode == 2
    assert "cannot reach the database" in res.stderr
    assert "s3cret" not in res.stderr + res.stdout
    assert "[1/" not in res.stderr  # no case started


def test_invalid_database_url(tmp_path):
    res = run_cli("runs", "--db", "definitely not a url")
    assert res.returncode == 2 and "invalid database URL" in res.stderr


def test_bad_config_file_is_rejected_when_loaded(tmp_path):
    (tmp_path / "perfwatch.toml").write_text('timeout_s = "soon"\n')
    res = run_cli("runs", cwd=str(tmp_path), env={"PERFWATCH_HOME": str(tmp_path / "home")})
    assert res.returncode == 2 and "timeout_s = 'soon' is invalid" in res.stderr


def test_export_without_runs(tmp_path, sqlite_url):
    res = run_cli("export", "--run", "latest", "--db", sqlite_url)
    assert res.returncode == 2 and "no perfwatch store at" in res.stderr  # a read never creates the store
    assert run_cli("db", "upgrade", "--db", sqlite_url).returncode == 0
    res = run_cli("export", "--run", "latest", "--db", sqlite_url)
    assert res.returncode == 2 and "no runs yet" in res.stderr
    res = run_cli("export", "--run", "all", "--db", sqlite_url)
    assert res.returncode == 2 and "no runs yet" in res.stderr


def test_no_command_prints_help():
    res = run_cli()
    assert res.returncode == 2 and "COMMAND" in res.stdout


def test_unknown_flag_is_usage_error():
    res = run_cli("run", "--suite", "llm", "--frobnicate")
    assert res.returncode == 2 and "unrecognized arguments" in res.stderr


def test_existing_data_survives_bad_input(tmp_path, sqlite_url):
    ok = run_cli("run", "--suite", FAULTS, "--benchmarks", "add", "--modes", "eager", "--backend", "cpu",
                 "--min-time", "0.05", "--db", sqlite_url)
    assert ok.returncode == 0, ok.stderr
    size = os.path.getsize(sqlite_url[len("sqlite:///"):])
    bad = run_cli("run", "--suite", FAULTS, "--benchmarks", "nosuch", "--db", sqlite_url)
    assert bad.returncode == 2
    runs = run_cli("runs", "--db", sqlite_url, "--json")
    assert runs.returncode == 0 and runs.stdout.count('"id"') == 1
    assert os.path.getsize(sqlite_url[len("sqlite:///"):]) >= size
