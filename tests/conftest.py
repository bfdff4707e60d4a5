"""Shared fixtures: real SQLite files and a real Postgres database built by the migrations.

Postgres: one scratch database per test session (created on the server named by
PERFWATCH_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated
once, emptied before each test that uses it, dropped at the end. Under pytest-xdist every worker
is a session of its own, so each gets its own uniquely named database.

Compiles: every compiled case of the session shares one persistent compile cache
($PERFWATCH_COMPILE_CACHE, a temporary folder shared by the xdist workers), so each tiny model is
compiled cold once per session, not once per test. tests/test_compile_truth.py unsets it where
it checks that cases compile cold over caches of their own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade

PG_ADMIN_URL = os.environ.get("PERFWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent
TABLES = ("regressions", "samples", "measurements", "series", "cases", "runs", "machines")


# The longest modules first: pytest-xdist (scripts/test.sh, --dist loadscope) hands modules out in
# collection order, so one of these collected last would run on alone after everything else.
LONGEST_FIRST = ("test_end_to_end.py", "test_end_to_end_dynamic.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own default store and spool, never the user's."""
    monkeypatch.setenv("PERFWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PERFWATCH_DB_URL", raising=False)
    monkeypatch.delenv("PERFWATCH_SLACK_WEBHOOK", raising=False)
    monkeypatch.delenv("PERFWATCH_WEBHOOK_URL", raising=False)
    # The warm compile (a second build-only worker per compiled case) doubles every compiled
    # test's cost on this CPU; tests/test_compile_truth.py tests it, with RunRequest's own default.
    monkeypatch.setenv("PERFWATCH_WARM_COMPILE", "0")


@pytest.fixture(autouse=True)
def _keep_pytests_main():
    """Streamlit's AppTest runs the dashboard as ``__main__`` (tests/test_dashboard_apptest.py puts
    pytest's back for its own tests; a test elsewhere that opens the app may not): restore it after
    every test, or a later 'spawn' child (which re-imports __main__ by path) runs the dashboard."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session", autouse=True)
def _shared_compile_cache(tmp_path_factory):
    """One compile cache for the whole test session (perfwatch/measure/compile_cache.py)."""
    if os.environ.get("PERFWATCH_COMPILE_CACHE"):  # the caller chose one: keep it
        yield
        return
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker's base is a folder of the run's own
        base = base.parent
    path = base / "compile-cache"
    path.mkdir(exist_ok=True)
    os.environ["PERFWATCH_COMPILE_CACHE"] = str(path)
    try:
        yield
    finally:
        os.environ.pop("PERFWATCH_COMPILE_CACHE", None)


@contextlib.contextmanager
def scratch_pg_database(prefix: str = "perfwatch_test"):
    """An empty Postgres database of its own on the test server (a random name), dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # CI must have Postgres: fail, never skip
        admin.dispose()
        pytest.fail(f"PostgreSQL is required for these tests ({PG_ADMIN_URL}): {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url():
    with scratch_pg_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def pg_db(pg_url):
    """The session's Postgres database, emptied."""
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Each test using this runs on both stores."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(make_engine(url))
        return url
    return request.getfixturevalue("pg_db")


def run_cli(*args: str, env: dict | None = None, timeout: float = 600, cwd: str | None = None) -> subprocess.CompletedProcess:
    """`perfwatch ...` in a subprocess, exactly as a user runs it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "perfwatch", *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
