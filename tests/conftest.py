"""Shared fixtures: real SQLite files and a real Postgres database built by the migrations.

Postgres: one scratch database per test session (created on the server named by
PERFWATCH_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated
once, emptied before each test that uses it, dropped at the end (after conbench's conftest).
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def pg_url():
    name = f"perfwatch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # CI must have Postgres: fail, never skip
        pytest.fail(f"PostgreSQL is required for these tests ({PG_ADMIN_URL}): {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


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
