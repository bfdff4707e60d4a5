"""Issue 20, items 8, 10, 11 and 14 (schema): bad numbers, secrets in URLs, tracebacks instead of
exit 2, and read-only commands that created perfwatch's tables in any database they reached.

Each fault is injected for real: real files, real SQLite and Postgres, the real CLI in a subprocess
where the exit code and the message are the contract."""

from __future__ import annotations

import os
import uuid

import pytest
from conftest import PG_ADMIN_URL, REPO, run_cli
from sqlalchemy import create_engine, inspect, text

from perfwatch.cli.main import build_parser
from perfwatch.domain.config import load_config, redact
from perfwatch.domain.errors import ConfigError, StoreError, UsageError
from perfwatch.store import dashboard_reads, history, queries
from perfwatch.store.engine import make_engine

FAULTS = str(REPO / "tests" / "data" / "fault_suite.py")


def _home(tmp_path) -> dict:
    return {"PERFWATCH_HOME": str(tmp_path / "home")}


def _usage(res, *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    for n in needles:
        assert n in res.stderr, res.stderr


@pytest.fixture
def scratch_pg():
    """A Postgres database of its own, with no tables at all (a maintenance database's stand-in)."""
    name = f"pw_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


# -- item 8: numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, msg", [
    ("timeout_s = nan\n", "timeout_s = nan is invalid (must be a finite number)"),
    ("timeout_s = inf\n", "timeout_s = inf is invalid (must be a finite number)"),
    ("timeout_s = true\n", "timeout_s = True is invalid (expected a number)"),
    ("processes = 2.7\n", "processes = 2.7 is invalid (expected a whole number)"),
    ("processes = 0\n", "processes = 0 is invalid"),
    ("threads = true\n", "threads = True is invalid"),
    ("min_time_s = [1]\n", "min_time_s = [1] is invalid"),
    ("precision = nan\n", "precision = nan is invalid"),
    ("precision = 1.0\n", "precision = 1.0 is invalid (a fraction"),
    ("interleave = 1\n", "interleave = 1 is invalid"),
    ("min_samples = 50\nmax_samples = 20\n", "min_samples (50) is more than max_samples (20)"),
])
def test_config_file_numbers_are_checked(tmp_path, text, msg):
    (tmp_path / "perfwatch.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path)
    assert msg in str(err.value)


@pytest.mark.parametrize("env, value", [("PERFWATCH_TIMEOUT_S", "nan"), ("PERFWATCH_TIMEOUT_S", "inf"),
                                        ("PERFWATCH_MIN_TIME_S", "-inf"), ("PERFWATCH_PROCESSES", "2.7"),
                                        ("PERFWATCH_PRECISION", "NaN")])
def test_environment_numbers_are_checked(tmp_path, monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=f"environment {env}: .* is invalid"):
        load_config(cwd=tmp_path)


def test_flag_numbers_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"^--timeout: timeout_s = nan is invalid"):
        load_config({"timeout_s": float("nan")}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"^--min-time: "):
        load_config({"min_time_s": float("inf")}, cwd=tmp_path)
    # good values still pass, typed
    cfg = load_config({"timeout_s": 5, "processes": 3}, cwd=tmp_path)
    assert cfg.timeout_s == 5.0 and cfg.processes == 3


@pytest.mark.parametrize("argv, needle", [
    (["compare", "a", "b", "--alpha", "5"], "argument --alpha: must be a probability in (0, 1), got 5"),
    (["compare", "a", "b", "--alpha", "nan"], "argument --alpha: expected a finite number, got 'nan'"),
    (["detect", "--min-effect", "nan"], "argument --min-effect: expected a finite number"),
    (["detect", "--min-effect", "-1"], "argument --min-effect: must be a number >= 0"),
    (["detect", "--max-pvalue", "0"], "argument --max-pvalue: must be a p-value in (0, 1]"),
    (["detect", "--confirm", "-2"], "argument --confirm: must be a whole number >= 0"),
    (["regressions", "--limit", "-1"], "argument --limit: must be a whole number >= 1"),
    (["regressions", "--ack", "0"], "argument --ack: must be a whole number >= 1"),
    (["demo-data", "--rows", "1e3"], "argument --rows: expected a whole number, got '1e3'"),
])
def test_flags_reject_nonsense_at_parse_time(capsys, argv, needle):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


def test_nan_timeout_is_exit_2_on_every_source(tmp_path):
    _usage(run_cli("run", "--suite", "llm", "--timeout", "nan", env=_home(tmp_path)), "--timeout: timeout_s = nan")
    _usage(run_cli("runs", env={**_home(tmp_path), "PERFWATCH_TIMEOUT_S": "inf"}), "PERFWATCH_TIMEOUT_S")
    (tmp_path / "perfwatch.toml").write_text("timeout_s = true\n")
    _usage(run_cli("report", cwd=str(tmp_path), env=_home(tmp_path)), "timeout_s = True is invalid")
    assert not (tmp_path / "home").exists()  # nothing written


# -- item 10: URLs are redacted --------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://u:p@ss@h/db", "postgresql+psycopg://u:***@h/db"),
    ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
    ("postgresql+psycopg://:pw@h/db", "postgresql+psycopg://:***@h/db"),
    ("postgresql+psycopg://h/db?sslmode=require&password=pw", "postgresql+psycopg://h/db?sslmode=require&password=***"),
    ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),
])
def test_redact(url, shown):
    assert redact(url) == shown


def test_demo_data_next_line_hides_the_password(pg_db, tmp_path):
    secret = "Sup3rSecret"
    url = pg_db.replace("postgres@", f"postgres:{secret}@")  # trust auth: any password connects
    res = run_cli("demo-data", "--rows", "300", "--db", url, env=_home(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "next: perfwatch detect --db" in res.stdout
    assert secret not in res.stdout + res.stderr


def test_an_unencoded_at_in_the_password_leaves_no_fragment(tmp_path):
    res = run_cli("runs", "--db", "postgresql+psycopg://u:abc@xyzzy@127.0.0.1/db", env=_home(tmp_path))
    _usage(res, "'@' in the password must be written %40")
    assert "xyzzy" not in res.stderr and "abc" not in res.stderr


# -- item 11: tracebacks -----------------------------------------------------------------------------

@pytest.mark.slow
def test_report_and_export_to_a_place_that_cannot_be_written(tmp_path, sqlite_url):
    ok = run_cli("run", "--suite", FAULTS, "--benchmarks", "add", "--modes", "eager", "--backend", "cpu",
                 "--min-time", "0.05", "--no-detect", "--db", sqlite_url, env=_home(tmp_path))
    assert ok.returncode == 0, ok.stderr
    missing = str(tmp_path / "no" / "such" / "dir" / "r.md")
    _usage(run_cli("report", "-o", missing, "--db", sqlite_url), f"cannot write {missing}: No such file or directory")
    _usage(run_cli("export", "-o", str(tmp_path), "--db", sqlite_url), f"cannot write {tmp_path}: Is a directory")


def test_a_file_that_is_not_sqlite(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 100)
    before = bogus.read_bytes()
    for cmd in (["runs"], ["run", "--suite", FAULTS, "--benchmarks", "add", "--backend", "cpu"]):
        _usage(run_cli(*cmd, "--db", f"sqlite:///{bogus}", env=_home(tmp_path)), "file is not a database")
    assert bogus.read_bytes() == before


def test_a_port_that_is_not_a_number(tmp_path):
    res = run_cli("runs", "--db", "postgresql+psycopg://u:secret@localhost:abc/db", env=_home(tmp_path))
    _usage(res, "the port must be a number")
    assert "secret" not in res.stderr


def test_a_binary_config_file(tmp_path):
    (tmp_path / "perfwatch.toml").write_bytes(b"\x00\xff\xfe\x89PNG\r\n")
    _usage(run_cli("runs", cwd=str(tmp_path), env=_home(tmp_path)), "not a UTF-8 text file")
    (tmp_path / "perfwatch.toml").unlink()
    (tmp_path / "pyproject.toml").write_text("tool = 5\n")
    with pytest.raises(ConfigError, match=r"\[tool\] must be a table"):
        load_config(cwd=tmp_path)


def test_postgres_reads_refuse_nul_bytes_and_negative_limits(pg_db):
    eng = make_engine(pg_db)
    try:
        with pytest.raises(UsageError, match="NUL byte"):
            queries.resolve_run(eng, "r\x00")
        with pytest.raises(UsageError, match="NUL byte"):
            history.find_series(eng, suite="llm\x00")
        with pytest.raises(UsageError, match="NUL byte"):
            dashboard_reads.run_cases(eng, "r\x00")
        with pytest.raises(UsageError, match="NUL byte"):
            history.set_state(eng, 1, "resolved", note="a\x00b")
        for read in (lambda: queries.list_runs(eng, limit=-1), lambda: history.list_regressions(eng, limit=-1),
                     lambda: dashboard_reads.recent_runs(eng, -1)):
            with pytest.raises(UsageError, match="a limit must be >= 0, got -1"):
                read()
    finally:
        eng.dispose()


def test_a_suite_that_calls_sys_exit_at_import(tmp_path):
    suite = tmp_path / "quits.py"
    suite.write_text("import sys\nsys.exit(7)\n")
    _usage(run_cli("run", "--suite", str(suite), "--backend", "cpu", env=_home(tmp_path)),
           "called sys.exit(7) while being imported")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_by_commands_that_store(tmp_path, url):
    _usage(run_cli("run", "--suite", FAULTS, "--benchmarks", "add", "--backend", "cpu", "--modes", "eager",
                   "--db", url, env=_home(tmp_path)), "in-memory SQLite database")


# -- item 14: read-only commands never create the schema --------------------------------------------

READ_ONLY = [["runs"], ["report"], ["compare", "latest", "latest"], ["regressions"], ["export"], ["detect"],
             ["notify", "--dry-run"]]


def test_read_only_commands_leave_an_empty_postgres_database_empty(scratch_pg, tmp_path):
    for cmd in READ_ONLY:
        res = run_cli(*cmd, "--db", scratch_pg, env=_home(tmp_path))
        _usage(res, "no perfwatch store at", "perfwatch db upgrade")
    eng = make_engine(scratch_pg)
    try:
        with eng.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        eng.dispose()
    assert run_cli("db", "upgrade", "--db", scratch_pg).returncode == 0  # a writer creates it
    assert run_cli("runs", "--db", scratch_pg).returncode == 0


def test_read_only_commands_do_not_create_a_sqlite_file(tmp_path):
    path = tmp_path / "nowhere" / "store.db"
    for cmd in (["runs"], ["db", "current"]):
        _usage(run_cli(*cmd, "--db", f"sqlite:///{path}", env=_home(tmp_path)), "no perfwatch store at")
    assert not path.parent.exists()
    _usage(run_cli("runs", env=_home(tmp_path)), "no perfwatch store at sqlite:///")  # the default store too
    assert not (tmp_path / "home").exists()


def test_a_store_behind_the_code_is_not_migrated_by_a_read(tmp_path):
    from perfwatch.store.migrate import current_revision, head_revision, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = make_engine(url)
    upgrade(eng, "0001")
    res = run_cli("runs", "--db", url)
    _usage(res, "is at schema 0001", "perfwatch db upgrade")
    assert current_revision(eng) == "0001"
    upgrade(eng)
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_an_unknown_schema_revision_is_named(tmp_path):
    from perfwatch.store.migrate import ensure_schema, require_schema

    path = tmp_path / "other.db"
    eng = make_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('abc123')"))
    for fn in (require_schema, ensure_schema):
        with pytest.raises(StoreError, match="schema revision 'abc123', which this perfwatch does not know"):
            fn(eng)
    eng.dispose()
    assert os.path.getsize(path) > 0
