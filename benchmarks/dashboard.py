"""How fast the dashboard is over a big store: each page's queries, and each page in a browser.

    python benchmarks/dashboard.py --db sqlite:///big.db --db postgresql+psycopg://u@h/big \\
        --rows 1000000 --browser

A store with no runs is first filled with ``--rows`` rows of demo data (and the injected
regressions detected). Then, per database:

* queries: every page's calls to perfwatch.analysis.frames, with the same default choices the app
  makes, timed cold (no Streamlit cache) ``--repeat`` times; median and worst of the page total.
  Change-point detection on the Trends page is pure computation and reported apart.
* browser (``--browser``): `perfwatch dashboard` on a free port, each page opened in headless
  Chromium once with Streamlit's data cache empty (cold) and three times warm (median); the
  time is from the request to every chart drawn, the page's text present and the app idle.
  ``--pages`` times only some pages (to re-run the slow ones on a busy machine).
* findings: the overview (and Trends and Memory on a first visit) group every open regression
  in Python; ``--findings N`` also times that grouping over N synthetic open regressions.

Target (docs/dashboard.md, issue 18): every page drawn in under 1 s, cold and warm.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

from perfwatch.analysis import demo, frames
from perfwatch.store import queries
from perfwatch.store.engine import make_engine, redact
from perfwatch.store.migrate import upgrade

PAGES = ("overview", "trends", "compare", "compile", "memory", "regressions")


def _first(values) -> str:
    return sorted(set(values))[0]


def page_calls(engine) -> dict[str, list[tuple[str, Callable]]]:
    """Each page's store calls with the app's default choices (see app/pwdash/views)."""
    cat = frames.catalog(engine)
    runs = frames.runs(engine)
    latest = frames.latest_runs(engine)
    ids = tuple(latest["run_id"])
    sel = cat
    for field in ("suite", "benchmark", "backend", "machine"):
        sel = sel[sel[field] == _first(sel[field])]
    trend_ids = tuple(sel[sel["metric"] == "step_time"]["series_id"])
    mem = sel[sel["metric"].isin(frames.MEMORY_METRICS + frames.UVM_METRICS)]
    run_b = runs["run_id"].iloc[0]
    same = runs[(runs["machine"] == runs["machine"].iloc[0]) & (runs["suite"] == runs["suite"].iloc[0])]
    run_a = same["run_id"].iloc[1] if len(same) > 1 else run_b
    suite = _first(runs["suite"])
    machine = _first(runs[runs["suite"] == suite]["machine"])
    mine = runs[(runs["suite"] == suite) & (runs["machine"] == machine)]["run_id"]
    compile_run, compile_base = mine.iloc[0], mine.iloc[min(1, len(mine) - 1)]
    ct = cat[(cat["suite"] == suite) & (cat["machine"] == machine) & cat["metric"].isin(("graph_breaks", "recompilations",
                                                                                          "compile_time"))]
    ct = ct[(ct["benchmark"] == _first(ct["benchmark"])) & (ct["mode"] == "default")] if len(ct) else ct
    common = [("store_state", lambda: frames.store_state(engine)), ("catalog", lambda: frames.catalog(engine))]
    # Trends and Memory open on the most severe open finding when the URL names no series.
    findings = [("findings(open)", lambda: frames.findings(engine, "open"))]
    return {
        "overview": common + findings + [
            ("latest_runs", lambda: frames.latest_runs(engine)),
            ("status_counts", lambda: frames.status_counts(engine, ids)),
            ("speedups", lambda: frames.speedups(engine, ids))],
        "trends": common + findings + [
            ("trend", lambda: frames.trend(engine, trend_ids)),
            ("series_regressions", lambda: frames.series_regressions(engine, trend_ids))],
        "compare": common + [
            ("runs", lambda: frames.runs(engine)),
            ("run_info", lambda: frames.run_info(engine, run_b)),
            ("compare", lambda: frames.compare(engine, run_a, run_b))],
        "compile": common + [
            ("runs", lambda: frames.runs(engine)),
            ("run_metrics", lambda: frames.run_metrics(engine, compile_run, frames.COMPILE_METRICS)),
            ("run_cases", lambda: frames.run_cases(engine, compile_run)),
            ("cold_vs_warm", lambda: frames.cold_vs_warm(engine, compile_run)),
            ("compile_phase_growth", lambda: frames.compile_phase_growth(engine, compile_run, compile_base)),
            ("compile_reasons", lambda: frames.compile_reasons(engine, compile_run)),
            *[(f"trend({m})", lambda s=(int(i),): frames.trend(engine, s)) for i, m in zip(ct["series_id"], ct["metric"])]],
        "memory": common + findings + [
            (f"trend({m})", lambda s=tuple(int(i) for i in mem[mem["metric"] == m]["series_id"]): frames.trend(engine, s))
            for m in sorted(set(mem["metric"]))],
        "regressions": common + [
            ("regressions(open)", lambda: frames.regressions(engine, "open")),
            ("run_info", lambda: frames.run_info(engine, run_b)),
            ("run_cases", lambda: frames.run_cases(engine, run_b))],
    }, (trend_ids, cat.set_index("series_id")["direction"].to_dict())


def time_queries(engine, repeat: int) -> dict[str, dict]:
    calls, (trend_ids, directions) = page_calls(engine)
    out = {}
    for page, items in calls.items():
        totals, worst_call = [], ("", 0.0)
        for _ in range(repeat):
            total = 0.0
            for name, fn in items:
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                total += dt
                if dt > worst_call[1]:
                    worst_call = (name, dt)
            totals.append(total)
        out[page] = {"median_ms": statistics.median(totals) * 1000, "max_ms": max(totals) * 1000, "queries": len(items),
                     "slowest": f"{worst_call[0]} {worst_call[1] * 1000:.0f} ms"}
    points = frames.trend(engine, trend_ids)
    t0 = time.perf_counter()
    frames.change_points(points, directions)
    out["trends"]["detect_ms"] = (time.perf_counter() - t0) * 1000
    return out


def fill(url: str, rows: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    if frames.store_state(engine) == "ok":
        return
    t0 = time.perf_counter()
    summary = demo.generate(engine, rows)
    t1 = time.perf_counter()
    found = demo.detect_injected(engine, summary)
    print(f"  filled {redact(url)}: {summary.rows:,} rows in {t1 - t0:.1f} s; {len(found)} of "
          f"{len(summary.injected)} injected regressions detected", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EXPECT = {  # text on the page once it is done, and charts that must have drawn
    "overview": (("Latest run per machine and suite", "Geometric-mean speedup"), 1),
    "trends": (("is better",), 1),  # lower or higher: the page opens on the worst finding's metric
    "compare": (("improvements",), 1),
    "compile": (("Compile time by phase", "stored regression(s)"), 2),
    "memory": (("Memory and unified memory", "stored regression(s)"), 1),
    "regressions": (("Acknowledge or resolve",), 0),
}


def time_findings(engine, n: int) -> float:
    """Seconds frames.findings takes over ``n`` open regressions: the store's own, copied with
    other runs and metrics so that they make n separate causes (the store is not changed)."""
    import random

    from perfwatch.store import history

    base = history.list_regressions(engine, state="open")
    if not base:
        return float("nan")
    metrics = ("step_time", "peak_memory_allocated", "compile_time", "graph_breaks", "uvm_gpu_page_faults")
    rng = random.Random(0)
    rows = [{**rng.choice(base), "id": i, "run_id": f"run-{i // len(metrics)}", "metric": metrics[i % len(metrics)],
             "change": rng.random(), "pvalue": rng.random() * 0.05} for i in range(n)]
    real, history.list_regressions = history.list_regressions, lambda *a, **k: list(rows)
    try:
        t0 = time.perf_counter()
        frames.findings(engine, "open")
        return time.perf_counter() - t0
    finally:
        history.list_regressions = real


def time_browser(url: str, pages=PAGES) -> dict[str, tuple[float, float]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "perfwatch", "dashboard", "--db", url, "--port", str(port), "--address",
                             "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={tempfile.mkdtemp()}"):
        opts.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    except Exception:  # no browser: do not leave the server running
        proc.terminate()
        proc.wait(10)
        raise

    def load(view: str) -> float:
        texts, charts = EXPECT[view]
        start = time.monotonic()
        driver.get(f"http://127.0.0.1:{port}/?view={view}")
        while time.monotonic() - start < 60:
            body = driver.find_element(By.TAG_NAME, "body").text
            if (all(t in body for t in texts)
                    and len(driver.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg.marks")) >= charts
                    and not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')):
                return time.monotonic() - start
            time.sleep(0.02)
        raise RuntimeError(f"{view} did not finish within 60 s")

    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        load("regressions")  # the server's first script run imports pandas, altair...: not a page's cost
        return {view: (load(view), statistics.median(load(view) for _ in range(3))) for view in pages}
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", action="append", required=True, help="database URL (repeatable)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="demo rows to fill an empty store with")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--browser", action="store_true", help="also time every page in headless Chromium")
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages to time (default: all)")
    ap.add_argument("--findings", type=int, default=0, metavar="N",
                    help="also time grouping N synthetic open regressions into findings")
    args = ap.parse_args()
    for url in args.db:
        fill(url, args.rows)
        engine = make_engine(url)
        counts = queries.count_rows(engine)
        print(f"\n{redact(url)}: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
        q = time_queries(engine, args.repeat)
        pages = [p for p in args.pages.split(",") if p in PAGES]
        b = time_browser(url, pages) if args.browser else {}
        print("| page | queries | median ms | worst ms | slowest query | render cold s | render warm s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for page in pages:
            r = q[page]
            cold, warm = b.get(page, (float("nan"), float("nan")))
            print(f"| {page} | {r['queries']} | {r['median_ms']:.0f} | {r['max_ms']:.0f} | {r['slowest']} | "
                  f"{cold:.2f} | {warm:.2f} |")
        print(f"(trends: change-point detection on the default selection {q['trends']['detect_ms']:.0f} ms, computed)")
        if args.findings:
            print(f"(findings: {args.findings:,} open regressions grouped in {time_findings(engine, args.findings) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
