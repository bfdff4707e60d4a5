"""Issue 20, items 6, 7 and 11 (the dashboard's part).

6: the dashboard listens on loopback unless told otherwise, warns when it listens beyond it
   without a write token, and writes (acknowledge, resolve, reopen) only with write access and
   after a confirmation.
7: text from the URL (``?run=``) and from the store (a series' unit, e.g. an asv benchmark's)
   is shown as text: no live link, image or emphasis.
11: ``--port`` out of 1..65535 is exit 2 with a message.

The markdown checks render each element's markdown with Python-Markdown (a CommonMark-ish
renderer like the one in the browser) and look for links and images, and for bare URLs that
GitHub-flavoured markdown (Streamlit's) would turn into links.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import markdown
import pytest
from conftest import run_cli
from sqlalchemy import text
from test_dashboard_apptest import _fresh_caches, _keep_main_module, open_app, texts  # noqa: F401 (fixtures)
from test_dashboard_frames import seed_store

from perfwatch.store import history
from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade

HOSTILE_RUN = "**URGENT** [log in](https://evil.example) ![x](https://evil.example/x.png) www.evil.example"
HOSTILE_UNIT = "![i](https://evil.example/i.png)"  # 32 characters: the unit column's width
TOKEN = "correct-horse-battery"

MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")


@pytest.fixture
def store(sqlite_url):
    """A migrated SQLite store: enough for what does not depend on the database."""
    upgrade(make_engine(sqlite_url))
    return sqlite_url


@pytest.fixture(autouse=True)
def _no_access_from_the_shell(monkeypatch):
    monkeypatch.delenv("PERFWATCH_DASHBOARD_ACCESS", raising=False)
    monkeypatch.delenv("PERFWATCH_DASHBOARD_TOKEN", raising=False)


def live(value: str) -> list[str]:
    """What would be live in ``value`` rendered as markdown: tags for links, images and emphasis,
    and bare URLs or addresses left unescaped (GFM autolinks them)."""
    html = markdown.markdown(value)
    found = re.findall(r"<(?:a|img)\b[^>]*>", html) + re.findall(r"<(?:strong|em)>URGENT", html)  # the app's own bold is fine
    plain = re.sub(r"\\.", "\0", value)  # an escaped character breaks any autolink through it
    return found + re.findall(r"https?://\S*|www\.\S*", plain)


def markdown_elements(at) -> list[str]:
    return [str(e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]


def test_the_check_sees_the_attack():
    assert live(HOSTILE_RUN) and live(HOSTILE_UNIT) and live("see https://evil.example")


# -- 7: markdown injection -------------------------------------------------------------------------

def test_run_from_the_url_is_shown_as_text(db_url, monkeypatch):
    seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="regressions", run=HOSTILE_RUN)
    header = at.header[0].value
    assert header.startswith("Regressions in run ") and "evil" in header
    assert live(header) == []
    # what a reader sees: the hostile text itself, literally
    assert re.sub(r"\\(.)", r"\1", header) == "Regressions in run " + HOSTILE_RUN
    for value in markdown_elements(at):
        assert live(value) == [], value
    assert f"No run {HOSTILE_RUN}" in re.sub(r"\\(.)", r"\1", texts(at))


def test_unit_from_the_store_is_shown_as_text(db_url, monkeypatch):
    seed_store(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:  # as an asv benchmark's `unit` arrives: stored, then shown
        conn.execute(text("UPDATE series SET unit = :u WHERE metric = 'step_time'"), {"u": HOSTILE_UNIT})
    engine.dispose()
    at = open_app(db_url, monkeypatch, view="trends", suite="llm", benchmark="train", metric="step_time", mode="eager,default")
    shown = [v for v in markdown_elements(at) if "evil" in v]
    assert shown, "the unit is not shown at all"
    for value in markdown_elements(at):
        assert live(value) == [], value
    assert any(HOSTILE_UNIT in re.sub(r"\\(.)", r"\1", v) for v in shown)


# -- 6: writes need access and a confirmation ------------------------------------------------------

def _state(db_url, rid):
    return history.list_regressions(make_engine(db_url), ids=[rid])[0]["state"]


def _button(at, label):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("access", [None, "read-only"])
def test_read_only_offers_no_write(store, monkeypatch, access):
    # None: the app started without `perfwatch dashboard` (a bare `streamlit run` listens everywhere)
    ids = seed_store(store)
    if access:
        monkeypatch.setenv("PERFWATCH_DASHBOARD_ACCESS", access)
    at = open_app(store, monkeypatch, view="regressions")
    assert "Acknowledge" not in [b.label for b in at.button]
    assert "read-only" in texts(at) and "perfwatch regressions --ack" in texts(at)
    assert _state(store, ids["regression"]) == "open"


def test_a_write_needs_a_confirmation(store, monkeypatch):
    ids = seed_store(store)
    monkeypatch.setenv("PERFWATCH_DASHBOARD_ACCESS", "confirm")
    at = open_app(store, monkeypatch, view="regressions")
    _button(at, "Acknowledge").click().run()
    assert _state(store, ids["regression"]) == "open"  # one click writes nothing
    assert "Its alerts stop" in texts(at)
    _button(at, "Cancel").click().run()
    assert _state(store, ids["regression"]) == "open"
    assert "Acknowledge" in [b.label for b in at.button]
    _button(at, "Acknowledge").click().run()
    _button(at, "Confirm: acknowledge").click().run()
    assert not at.exception
    assert _state(store, ids["regression"]) == "acknowledged"


def test_a_write_with_a_token_needs_the_token(store, monkeypatch):
    ids = seed_store(store)
    monkeypatch.setenv("PERFWATCH_DASHBOARD_ACCESS", "token")
    monkeypatch.setenv("PERFWATCH_DASHBOARD_TOKEN", TOKEN)
    at = open_app(store, monkeypatch, view="regressions")
    _button(at, "Acknowledge").click().run()
    at.text_input(key="act_token").input("guess-guess")
    _button(at, "Confirm: acknowledge").click().run()
    assert "Wrong write token" in texts(at) and _state(store, ids["regression"]) == "open"
    at.text_input(key="act_token").input(TOKEN)
    _button(at, "Confirm: acknowledge").click().run()
    assert not at.exception
    assert _state(store, ids["regression"]) == "acknowledged"


def test_access_is_decided_from_address_and_token():
    from perfwatch.cli import app_launcher as launcher

    assert launcher.is_loopback("127.0.0.1") and launcher.is_loopback("::1") and launcher.is_loopback("localhost")
    assert not launcher.is_loopback("0.0.0.0") and not launcher.is_loopback("") and not launcher.is_loopback("::")
    assert launcher.access_mode(True, None, False) == "confirm"
    assert launcher.access_mode(False, None, False) == "read-only"
    assert launcher.access_mode(False, TOKEN, False) == "token"
    assert launcher.access_mode(True, TOKEN, True) == "read-only"
    env = launcher.app_env("sqlite:///x.db", "confirm", None)
    assert env["PERFWATCH_DASHBOARD_ACCESS"] == "confirm" and "PERFWATCH_DASHBOARD_TOKEN" not in env
    cmd = launcher.streamlit_command(8765)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"  # Streamlit's own default is every interface


# -- 6 and 11 through the command line -------------------------------------------------------------

@pytest.mark.parametrize("port", ["-1", "0", "99999", "http"])
def test_a_bad_port_is_bad_usage(sqlite_url, port):
    res = run_cli("dashboard", "--db", sqlite_url, "--port", port)
    assert res.returncode == 2 and "--port" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [["--write-token", "short"], ["--host", "no.such.host.invalid"],
                                  ["--read-only", "--write-token", TOKEN]])
def test_bad_access_options_are_bad_usage(sqlite_url, args):
    res = run_cli("dashboard", "--db", sqlite_url, "--port", "1", *args)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses of sockets listening on ``port`` (/proc/net/tcp and tcp6)."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(addr)
                if len(raw) == 4:
                    out.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    out.add(socket.inet_ntop(socket.AF_INET6, words))
    return out


def start_dashboard(db, port, *args, env=None):
    proc = subprocess.Popen([sys.executable, "-m", "perfwatch", "dashboard", "--db", db, "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    return proc


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads /proc/net/tcp")
def test_the_dashboard_listens_on_loopback_by_default(store):
    seed_store(store)
    port = _free_port()
    proc = start_dashboard(store, port)
    try:
        end = time.monotonic() + 60
        while not listening_addresses(port) and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        stop(proc)
    err = proc.stderr.read()
    assert f"http://127.0.0.1:{port}/" in err and "writes after a confirmation" in err and "warning" not in err


def test_listening_beyond_loopback_without_a_token_warns_and_is_read_only(store):
    seed_store(store)
    proc = start_dashboard(store, _free_port(), "--host", "0.0.0.0")
    try:
        lines = [proc.stderr.readline() for _ in range(2)]  # the warning, then the banner; then it is Streamlit
    finally:
        stop(proc)
    assert "warning: listening on 0.0.0.0" in lines[0] and "without a write token" in lines[0]
    assert "read-only" in lines[1]
