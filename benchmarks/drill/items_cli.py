"""Drill checks of issue 20's command-line items: 8 (numbers), 10 (URLs in output), 11 (tracebacks
instead of exit 2) and the schema part of 14 (read-only commands that created tables).

A setting accepted although it is nonsense (`--timeout nan`: a hung case is never killed) is
counted ``lost``: the run it configures is not the run asked for. A table or file a read-only
command creates, or a password in output, is ``leaked``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from common import REPO, Cli, Result, has_traceback, judge

PG_ADMIN = os.environ.get("PERFWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SUITE = str(REPO / "tests" / "data" / "fault_suite.py")
RUN_ADD = ["run", "--suite", SUITE, "--benchmarks", "add", "--modes", "eager", "--backend", "cpu", "--min-time", "0.05",
           "--no-detect"]


def _refused(item: int, name: str, proc, needle: str) -> Result:
    """Exit 2 with ``needle`` in the message is clean; a success is the nonsense accepted."""
    if not has_traceback(proc) and proc.returncode == 0:
        return Result(item, name, "lost", "accepted (exit 0)")
    res = judge(item, name, proc, expect_codes={2})
    if res.outcome == "clean" and needle not in proc.stderr:
        return Result(item, name, "traceback", f"exit 2 but the message does not name {needle!r}: "
                      f"{proc.stderr.strip()[-160:]}")
    return res if res.outcome != "clean" else Result(item, name, "clean", proc.stderr.strip().splitlines()[-1][:160])


@contextmanager
def _pg_database():
    from sqlalchemy import create_engine, text

    name = f"pwdrill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _tables(url: str) -> list[str]:
    from sqlalchemy import create_engine, inspect

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        eng.dispose()


# -- item 8 ------------------------------------------------------------------------------------------

def check_numbers(work: Path) -> list[Result]:
    cli = Cli(work)
    out = []
    flags = [
        ("run --timeout nan", ["run", "--suite", "llm", "--timeout", "nan"], "--timeout"),
        ("run --timeout inf", ["run", "--suite", "llm", "--timeout", "inf"], "--timeout"),
        ("run --min-time nan", ["run", "--suite", "llm", "--min-time", "nan"], "--min-time"),
        ("run --precision nan", ["run", "--suite", "llm", "--precision", "nan"], "--precision"),
        ("ab --timeout nan", ["ab", "--suite", "llm", "--timeout", "nan"], "--timeout"),
        ("detect --min-effect nan", ["detect", "--min-effect", "nan"], "--min-effect"),
        ("compare --alpha 5", ["compare", "latest", "latest", "--alpha", "5"], "--alpha"),
        ("regressions --limit -1", ["regressions", "--limit", "-1"], "--limit"),
    ]
    for name, args, needle in flags:
        out.append(_refused(8, name, cli(*args), needle))
    for env, value in (("PERFWATCH_TIMEOUT_S", "nan"), ("PERFWATCH_TIMEOUT_S", "inf"), ("PERFWATCH_PROCESSES", "2.7")):
        out.append(_refused(8, f"{env}={value} (runs)", cli("runs", extra_env={env: value}), env))
    for text, needle, cmd in (("timeout_s = true\n", "timeout_s", "report"), ("processes = 2.7\n", "processes", "notify"),
                              ("timeout_s = nan\n", "timeout_s", "compare"), ("min_time_s = inf\n", "min_time_s", "runs")):
        cwd = work / f"toml-{len(out)}"
        cwd.mkdir()
        (cwd / "perfwatch.toml").write_text(text)
        args = [cmd, "latest", "latest"] if cmd == "compare" else [cmd]
        out.append(_refused(8, f"perfwatch.toml {text.strip()} ({cmd})", cli(*args, cwd=cwd), needle))
    return out


# -- item 10 -----------------------------------------------------------------------------------------

def check_urls_redacted(work: Path) -> list[Result]:
    cli = Cli(work)
    out = []
    secret = "PASSWORDxyz"
    with _pg_database() as url:
        with_pw = url.replace("://postgres@", f"://postgres:{secret}@")  # trust auth: any password connects
        proc = cli("demo-data", "--rows", "300", "--db", with_pw)
        leaked = secret in proc.stdout + proc.stderr
        out.append(judge(10, "demo-data --db user:PASSWORD@ (next: line)", proc, leaked=leaked,
                         detail="password printed" if leaked else "password hidden"))
    proc = cli("runs", "--db", "postgresql+psycopg://u:abc@FRAGMENT@127.0.0.1/db")
    leaked = "FRAGMENT" in proc.stdout + proc.stderr
    out.append(judge(10, "password with an unencoded @", proc, leaked=leaked,
                     detail="password fragment printed" if leaked else proc.stderr.strip()[-120:]))
    proc = cli("runs", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/db?password=QUERYSECRET")
    leaked = "QUERYSECRET" in proc.stdout + proc.stderr
    out.append(judge(10, "password as a query parameter", proc, leaked=leaked,
                     detail="password printed" if leaked else "password hidden"))
    return out


# -- item 11 -----------------------------------------------------------------------------------------

def check_tracebacks(work: Path) -> list[Result]:
    cli = Cli(work)
    out = []
    db = f"sqlite:///{work / 'store.db'}"
    seeded = cli(*RUN_ADD, "--db", db)
    if seeded.returncode != 0:
        return [judge(11, "seed run", seeded, expect_codes={0})]
    out.append(_refused(11, "report -o missing/dir/file", cli("report", "-o", str(work / "no" / "dir" / "r.md"), "--db", db),
                        "cannot write"))
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        name = "export -o unwritable dir" if os.geteuid() != 0 else "export -o a directory (root writes anywhere)"
        target = locked / "x.jsonl" if os.geteuid() != 0 else locked
        out.append(_refused(11, name, cli("export", "-o", str(target), "--db", db), "cannot write"))
    finally:
        locked.chmod(0o700)
    notdb = work / "notes.db"
    notdb.write_text("not a database\n" * 200)
    before = notdb.read_bytes()
    proc = cli("runs", "--db", f"sqlite:///{notdb}")
    res = _refused(11, "a text file as the SQLite database", proc, "not a database")
    if res.outcome == "clean" and notdb.read_bytes() != before:
        res = Result(11, res.name, "lost", "the file was changed")
    out.append(res)
    out.append(_refused(11, "non-numeric port in a Postgres URL",
                        cli("runs", "--db", "postgresql+psycopg://u:pw@localhost:abc/db"), "port"))
    for name, content in (("binary perfwatch.toml", b"\x00\xff\xfe\x89PNG\r\n\x1a"),
                          ("mistyped perfwatch.toml", b"timeout_s = \"soon\"\n"),
                          ("pyproject tool = 5", None)):
        cwd = work / f"cfg-{len(out)}"
        cwd.mkdir()
        if content is None:
            (cwd / "pyproject.toml").write_text("tool = 5\n")
        else:
            (cwd / "perfwatch.toml").write_bytes(content)
        out.append(_refused(11, name, cli("runs", cwd=cwd), "toml"))
    with _pg_database() as url:
        if cli("db", "upgrade", "--db", url).returncode == 0:
            out.append(_refused(11, "runs --limit -1 on Postgres", cli("runs", "--limit", "-1", "--db", url), "limit"))
            # A NUL byte cannot travel in argv: it reaches the store from a dashboard link. The
            # store's read function the dashboard calls, in a process of its own:
            code = ("import sys\nfrom perfwatch.store.engine import make_engine\nfrom perfwatch.store import dashboard_reads\n"
                    "from perfwatch.domain.errors import UsageError\n"
                    f"try:\n    dashboard_reads.run_cases(make_engine({url!r}), 'run\\x00x')\n"
                    "except UsageError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n")
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
            res = _refused(11, "NUL byte in a dashboard read on Postgres", proc, "NUL")
            if "SELECT" in proc.stderr:
                res = Result(11, res.name, "traceback", "SQL shown")
            out.append(res)
    quits = work / "quits.py"
    quits.write_text("import sys\nsys.exit(7)\n")
    out.append(_refused(11, "suite file calls sys.exit(7) at import",
                        cli("run", "--suite", str(quits), "--backend", "cpu"), "sys.exit(7)"))
    for url in ("sqlite://", "sqlite:///:memory:"):
        out.append(_refused(11, f"run --db {url} (in memory)", cli(*RUN_ADD, "--db", url), "in-memory"))
    out.append(_refused(11, "db upgrade --db sqlite:// (in memory)", cli("db", "upgrade", "--db", "sqlite://"), "in-memory"))
    return out


# -- item 14 (schema) --------------------------------------------------------------------------------

READ_ONLY = (["runs"], ["report"], ["compare", "latest", "latest"], ["regressions"], ["export"], ["detect"],
             ["notify", "--dry-run"], ["db", "current"])


def check_read_only_never_creates(work: Path) -> list[Result]:
    cli = Cli(work)
    out = []
    with _pg_database() as url:
        for cmd in READ_ONLY:
            proc = cli(*cmd, "--db", url)
            tables = _tables(url)
            name = f"{' '.join(cmd[:1 if cmd[0] != 'db' else 2])} on an empty Postgres database"
            if tables:
                out.append(Result(14, name, "leaked", f"created {len(tables)} table(s)"))
            elif cmd[0] == "db":
                out.append(judge(14, name, proc, expect_codes={0}))
            else:
                out.append(_refused(14, name, proc, "no perfwatch store"))
    for cmd in (["runs"], ["report"], ["db", "current"]):
        path = work / f"absent-{len(out)}" / "store.db"
        proc = cli(*cmd, "--db", f"sqlite:///{path}")
        name = f"{' '.join(cmd)} on a SQLite path that does not exist"
        if path.exists() or path.parent.exists():
            out.append(Result(14, name, "leaked", f"created {path if path.exists() else path.parent}"))
        else:
            out.append(_refused(14, name, proc, "no perfwatch store"))
    proc = cli("runs")
    name = "runs with the default store absent"
    home_db = work / "home" / "perfwatch.db"
    out.append(Result(14, name, "leaked", "created the default store") if home_db.exists()
               else _refused(14, name, proc, "no perfwatch store"))
    # Writers still create it.
    db = f"sqlite:///{work / 'new' / 'store.db'}"
    proc = cli(*RUN_ADD, "--db", db)
    runs = cli("runs", "--json", "--db", db)
    ok = proc.returncode == 0 and runs.returncode == 0 and runs.stdout.count('"id"') == 1
    out.append(judge(14, "run creates the store, runs then reads it", proc, lost=not ok,
                     detail="" if ok else f"run exit {proc.returncode}, runs exit {runs.returncode}"))
    return out


CHECKS = [check_numbers, check_urls_redacted, check_tracebacks, check_read_only_never_creates]
