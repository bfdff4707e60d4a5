"""Drill checks for issue 20, items 6, 7, 11 (the dashboard's port) and 12.

 6  the dashboard's exposure: where `perfwatch dashboard` listens by default, whether it warns
    beyond loopback, whether one click silences a regression (Streamlit's AppTest, the app
    given the access `perfwatch dashboard` would give it);
 7  markdown injection: a hostile ``?run=`` and a hostile stored unit, rendered by AppTest; the
    elements' markdown rendered again with Python-Markdown: a link or image = leaked;
11  `perfwatch dashboard --port -1|0|99999|http`: exit 2 with a message, or a traceback;
12  a Slack endpoint that trickles its answer a byte every 3 s (a whole answer: ~5 minutes):
    `perfwatch notify` must give up within its documented bounds (10 s per attempt, 5 attempts,
    backoff 1+2+4+8 s: ~65 s), exit 4, and leave the regressions pending.

Every store is real demo data (`perfwatch demo-data` + `perfwatch detect`) in the scratch dir.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import REPO, Cli, Result, has_traceback, judge

HOSTILE_RUN = "**URGENT** [log in](https://evil.example) ![x](https://evil.example/x.png)"
HOSTILE_UNIT = "![i](https://evil.example/i.png)"  # 32 characters: the unit column's width
ACCESS_ENV, TOKEN_ENV = "PERFWATCH_DASHBOARD_ACCESS", "PERFWATCH_DASHBOARD_TOKEN"
KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")


def _store(work: Path) -> tuple[Cli, str]:
    cli = Cli(work)
    url = f"sqlite:///{work / 'store.db'}"
    for args in (("demo-data", "--rows", "30000", "--db", url), ("detect", "--db", url)):
        proc = cli(*args)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr[-300:]}")
    return cli, url


def _open_regressions(url: str) -> list[dict]:
    from perfwatch.store import history
    from perfwatch.store.engine import make_engine

    engine = make_engine(url)
    try:
        return [r for r in history.list_regressions(engine) if r["state"] == "open"]
    finally:
        engine.dispose()


# -- AppTest in this process --------------------------------------------------------------------

@contextmanager
def _app_env(url: str, **env: str | None):
    """The environment `perfwatch dashboard` hands the app; __main__ and sys.path put back after
    (AppTest runs the app as __main__)."""
    import streamlit as st

    keys = ("PERFWATCH_DB_URL", ACCESS_ENV, TOKEN_ENV)
    saved = {k: os.environ.get(k) for k in keys}
    main, path = sys.modules.get("__main__"), list(sys.path)
    os.environ["PERFWATCH_DB_URL"] = url
    for k in (ACCESS_ENV, TOKEN_ENV):
        os.environ.pop(k, None)
    os.environ.update({k: v for k, v in env.items() if v is not None})
    st.cache_data.clear()
    try:
        yield
    finally:
        st.cache_data.clear()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if main is not None:
            sys.modules["__main__"] = main
        sys.path[:] = path


def _app(**query: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    return at


def _live(value: str) -> list[str]:
    """Links and images in ``value`` rendered as markdown, and bare URLs GFM would autolink."""
    import markdown

    html = markdown.markdown(value)
    plain = re.sub(r"\\.", "\0", value)
    return re.findall(r"<(?:a|img)\b[^>]*>", html) + re.findall(r"https?://\S*|www\.\S*", plain)


def _judge_markdown(item: int, name: str, at) -> Result:
    if at.exception:
        return Result(item, name, "traceback", str(at.exception[0].value)[:160])
    values = [str(e.value) for kind in KINDS for e in getattr(at, kind)]
    shown = [v for v in values if "evil" in v]
    live = [x for v in values for x in _live(v)]
    if live:
        return Result(item, name, "leaked", f"rendered live: {live[0][:100]}")
    if not shown:
        return Result(item, name, "clean", "the hostile text is not shown at all")
    return Result(item, name, "clean", f"shown as text: {shown[0][:90]}")


def check_markdown_run_param(work: Path) -> list[Result]:
    _, url = _store(work)
    with _app_env(url, **{ACCESS_ENV: "confirm"}):
        at = _app(view="regressions", run=HOSTILE_RUN)
        return [_judge_markdown(7, "?view=regressions&run=<markdown link and image>", at)]


def check_markdown_stored_unit(work: Path) -> list[Result]:
    from sqlalchemy import text

    from perfwatch.store.engine import make_engine

    _, url = _store(work)
    engine = make_engine(url)
    with engine.begin() as conn:  # what an asv benchmark's `unit` becomes: series.unit
        conn.execute(text("UPDATE series SET unit = :u"), {"u": HOSTILE_UNIT})
    engine.dispose()
    with _app_env(url, **{ACCESS_ENV: "confirm"}):
        at = _app(view="trends")
        return [_judge_markdown(7, "stored unit <markdown image> in trends", at)]


def check_one_click_acknowledge(work: Path) -> list[Result]:
    """Each access the app can be given: does a single click silence a regression?"""
    _, url = _store(work)
    out = []
    for access, what in (("confirm", "loopback, no token"), ("token", "with a write token"),
                         ("read-only", "beyond loopback, no token"), (None, "bare `streamlit run`")):
        env = {ACCESS_ENV: access, TOKEN_ENV: "drill-token-123" if access == "token" else None}
        before = len(_open_regressions(url))
        with _app_env(url, **env):
            at = _app(view="regressions")
            buttons = [b for b in at.button if b.label == "Acknowledge"]
            if buttons:
                buttons[0].click().run()
            exc = at.exception
        after = len(_open_regressions(url))
        name = f"acknowledge with one click ({what})"
        if exc:
            out.append(Result(6, name, "traceback", str(exc[0].value)[:160]))
        elif after < before:
            out.append(Result(6, name, "leaked", "one click acknowledged a regression (its alerts silenced)"))
        elif buttons and access in ("read-only", None):
            out.append(Result(6, name, "leaked", "a read-only dashboard offers Acknowledge"))
        else:
            out.append(Result(6, name, "clean", "nothing written" + (": a confirmation is asked" if buttons else
                                                                       ": read-only, no action offered")))
    return out


# -- the command line ---------------------------------------------------------------------------

def check_dashboard_port(work: Path) -> list[Result]:
    cli = Cli(work)
    url = f"sqlite:///{work / 'store.db'}"
    return [judge(11, f"dashboard --port {port}", cli("dashboard", "--db", url, "--port", port, timeout=60),
                  expect_codes={2}) for port in ("-1", "0", "99999", "http")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> set[str]:
    out = set()
    for name, family, size in (("/proc/net/tcp", socket.AF_INET, 4), ("/proc/net/tcp6", socket.AF_INET6, 16)):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, p = fields[1].split(":")
            if fields[3] == "0A" and int(p, 16) == port:
                raw = bytes.fromhex(addr)
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
                out.add(socket.inet_ntop(family, raw))
    return out


def _dashboard(cli: Cli, url: str, port: int, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PERFWATCH_HOME": str(cli.work / "home"), "PYTHONPATH": str(REPO)}
    for k in (ACCESS_ENV, TOKEN_ENV):
        env.pop(k, None)
    return subprocess.Popen([sys.executable, "-m", "perfwatch", "dashboard", "--db", url, "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=str(cli.work),
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.stderr.read() if proc.stderr else ""


def check_default_listen_address(work: Path) -> list[Result]:
    cli, url = _store(work)
    port = _free_port()
    proc = _dashboard(cli, url, port)
    try:
        end = time.monotonic() + 90
        while not _listening(port) and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
        addrs = _listening(port)
    finally:
        err = _stop(proc)
    name = "dashboard's default listen address"
    if "Traceback" in err:
        return [Result(6, name, "traceback", err.strip().splitlines()[-1][:160])]
    if not addrs:
        return [Result(6, name, "traceback", "never listened: " + (err.strip().splitlines() or [""])[-1][:120])]
    wide = {a for a in addrs if a not in ("127.0.0.1", "::1")}
    if wide:
        return [Result(6, name, "leaked", f"listens on {', '.join(sorted(addrs))}: every interface, no login")]
    return [Result(6, name, "clean", f"listens on {', '.join(sorted(addrs))} only")]


def check_beyond_loopback_warns(work: Path) -> list[Result]:
    cli, url = _store(work)
    proc = _dashboard(cli, url, _free_port(), "--host", "0.0.0.0")
    lines: list[str] = []
    try:
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr.readline() for _ in range(2)), daemon=True)
        reader.start()
        reader.join(60)
    finally:
        _stop(proc)
    text = "".join(lines)
    name = "dashboard --host 0.0.0.0 without a token"
    if "Traceback" in text:
        return [Result(6, name, "traceback", text.strip().splitlines()[-1][:160])]
    if "warning" in text and "read-only" in text:
        return [Result(6, name, "clean", "warns, and serves read-only")]
    return [Result(6, name, "leaked", "listens on every interface, writable, without a warning")]


# -- 12: a trickling Slack ----------------------------------------------------------------------

class _Trickle(BaseHTTPRequestHandler):
    every = 3.0  # seconds per byte: each read gets a byte well within a 10 s socket timeout
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    stop = threading.Event()
    hangups: list[int] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sent = 0
        try:
            for i in range(len(self.reply)):
                if self.stop.wait(self.every):
                    break
                self.wfile.write(self.reply[i:i + 1])
                self.wfile.flush()
                sent += 1
        except OSError:
            pass
        self.hangups.append(sent)


def check_slack_trickle(work: Path) -> list[Result]:
    cli, url = _store(work)
    pending = len(_open_regressions(url))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    _Trickle.stop.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    full = len(_Trickle.reply) * _Trickle.every
    name = f"notify against a Slack trickling 1 byte / {_Trickle.every:g} s ({full:.0f} s per answer)"
    t0 = time.monotonic()
    try:
        proc = cli("notify", "--channel", "slack", "--db", url, timeout=400,
                   extra_env={"PERFWATCH_SLACK_WEBHOOK": f"http://127.0.0.1:{server.server_port}/services/T0/B0/drill"})
    except subprocess.TimeoutExpired:
        return [Result(12, name, "leaked", "notify still running after 400 s against a documented 10 s per attempt")]
    finally:
        took = time.monotonic() - t0
        _Trickle.stop.set()
        server.shutdown()
        server.server_close()
    still = len(_open_regressions(url))
    from perfwatch.store import history
    from perfwatch.store.engine import make_engine

    engine = make_engine(url)
    unannounced = len(history.unannounced(engine))
    engine.dispose()
    if has_traceback(proc):
        return [judge(12, name, proc)]
    if proc.returncode == 0 or unannounced < pending:
        return [Result(12, name, "lost", f"exit {proc.returncode}: marked announced, never delivered")]
    if took > 120:  # 5 attempts x 10 s + 15 s of backoff, with room for a slow machine
        return [Result(12, name, "leaked", f"held the connection {took:.0f} s against 10 s per attempt (exit {proc.returncode})")]
    return [judge(12, name, proc, expect_codes={4},
                  detail=f"exit {proc.returncode} after {took:.0f} s; {unannounced} regression(s) still pending "
                         f"(still open: {still})")]


CHECKS = [check_markdown_run_param, check_markdown_stored_unit, check_one_click_acknowledge, check_dashboard_port,
          check_default_listen_address, check_beyond_loopback_warns, check_slack_trickle]
