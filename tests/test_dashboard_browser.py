"""The dashboard as a user sees it: `perfwatch dashboard` on a free port, every view opened in
headless Chromium (Selenium + the Debian chromium/chromium-driver packages), charts waited for,
text checked, screenshots saved.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`apt-get install -y chromium chromium-driver`)
and the selenium package; it fails (never skips) when they are missing, because CI must run it.
Screenshots go to $PERFWATCH_SCREENSHOTS or the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfwatch.analysis import demo
from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small demo history (three machines, about 60 nights) with its regressions detected."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    summary = demo.generate(engine, 40_000, seed=3)
    assert demo.detect_injected(engine, summary)
    engine.dispose()
    return url, summary


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "dashboard.log"
    env = dict(os.environ, PERFWATCH_HOME=str(log.parent))
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "perfwatch", "dashboard", "--db", store[0], "--port", str(port),
                                 "--address", "127.0.0.1"], stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_port(port, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    # `perfwatch dashboard` becomes the server: stopping it must leave nothing listening.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the Streamlit server outlived `perfwatch dashboard`"


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"perfwatch dashboard exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"perfwatch dashboard did not listen on {port} within {timeout}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get update && apt-get install -y chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install selenium")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("PERFWATCH_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_view(driver, url: str, texts: tuple[str, ...], charts: int, timeout: float = 45) -> float:
    """Load ``url``; wait until the app has finished running, every text is on the page and at
    least ``charts`` Vega charts have drawn. Returns the seconds it took."""
    from selenium.webdriver.common.by import By

    start = time.monotonic()
    driver.get(url)
    body = ""
    while time.monotonic() - start < timeout:
        body = driver.find_element(By.TAG_NAME, "body").text
        drawn = driver.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg.marks")
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        if all(t in body for t in texts) and len(drawn) >= charts and not running:
            return time.monotonic() - start
        errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        if errors:
            pytest.fail(f"{url} raised an exception:\n{errors[0].text}")
        time.sleep(0.1)
    missing = [t for t in texts if t not in body]
    pytest.fail(f"{url}: after {timeout}s still missing {missing} or charts (have "
                f"{len(driver.find_elements(By.CSS_SELECTOR, '.vega-embed'))}); page text:\n{body[:2000]}")


def test_every_view_renders_in_chromium(server, store, browser, shots):
    from selenium.webdriver.common.by import By

    _, summary = store
    slow = next(j for j in summary.injected if j.metric == "step_time")
    views = {
        "overview": ("?view=overview", ("What changed (", "Latest run per machine and suite", "demo-h100-01",
                                        "Geometric-mean speedup over eager"), 1),
        "trends": (f"?view=trends&suite={slow.suite}&benchmark={slow.benchmark}&machine={slow.machine}&metric=step_time"
                   f"&mode=eager,{slow.mode}", ("step_time", "lower is better", "stored regression"), 1),
        # a first visit opens on the most severe open finding, with a time range
        "trends-first-visit": ("?view=trends", ("Opened on the most severe open finding", "Time range"), 1),
        "compare": ("?view=compare", ("Compare two runs", "regressions", "improvements", "untested changes"), 0),
        "compile": ("?view=compile", ("Compile health", "Per case", "Compile time by phase", "stored regression(s)"), 2),
        "memory": ("?view=memory", ("Memory and unified memory", "stored regression(s)"), 1),
        "regressions": (f"?view=regressions&run={slow.run_id}", (f"Regressions in run {slow.run_id}", "Reproduce it",
                                                                  "perfwatch run --suite", f"Cases of run {slow.run_id}"), 0),
    }
    timings = {}
    for name, (query, texts, charts) in views.items():
        timings[name] = open_view(browser, server + "/" + query, texts, charts)
        browser.save_screenshot(str(shots / f"{name}.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), name
        # every chart is as wide as the page's column (not a fixed 350 px), and not much wider
        for drawn, column in browser.execute_script(
                "return [...document.querySelectorAll('.vega-embed')].map(e => [e.scrollWidth, e.parentElement.clientWidth])"):
            assert 0.9 * column <= drawn <= column + 40, (name, drawn, column)
    assert all((shots / f"{n}.png").stat().st_size > 10_000 for n in views)
    print("page render seconds:", {k: round(v, 2) for k, v in timings.items()}, "screenshots in", shots)


def test_bad_database_shows_an_error_not_a_trace(browser, tmp_path):
    """Streamlit started on a URL that cannot work (as when PERFWATCH_DB_URL is wrong): a clear
    message on the page."""
    from selenium.webdriver.common.by import By

    from perfwatch.cli.app_launcher import streamlit_command

    port = _free_port()
    log = tmp_path / "log"
    env = dict(os.environ, PERFWATCH_DB_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with open(log, "w") as out:
        proc = subprocess.Popen(streamlit_command(port, "127.0.0.1"), stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for_port(port, proc, log)
        open_view(browser, f"http://127.0.0.1:{port}/", ("Cannot open the results database", "Check the URL"), 0)
        assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
    finally:
        proc.terminate()
        proc.wait(10)

