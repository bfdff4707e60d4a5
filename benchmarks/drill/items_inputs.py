"""Drill checks for issue 20 items 5, 9, 11 (Latin-1 CSV) and 13: hostile names and numbers
through the real CLI. asv results directories are written by hand, laid out as asv 0.6 writes
them, so a name or a number in them can be anything."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from common import Cli, Result, judge

BENCH = "bench.time_x"


def _asv_dir(root: Path, values, env_name="existing-py3.11") -> Path:
    (root / "box").mkdir(parents=True)
    (root / "benchmarks.json").write_text(json.dumps({BENCH: {
        "name": BENCH, "type": "time", "unit": "seconds", "params": [], "param_names": [], "version": "1"},
        "version": 2}))
    (root / "box" / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    for i, v in enumerate(values):
        when = 1_700_000_000_000 + i * 3_600_000
        c = f"{i:08x}" + "ab" * 16
        (root / "box" / f"{c[:8]}-e.json").write_text(json.dumps({
            "commit_hash": c, "env_name": env_name, "date": when, "params": {"machine": "box"}, "python": "3.11",
            "requirements": {}, "env_vars": {}, "result_columns": ["result", "params", "version", "started_at"],
            "results": {BENCH: [[v], [], "1", when]}, "durations": {}, "version": 2}))
    return root


def _files(path: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs}


def export_env_name_traversal(work: Path) -> list[Result]:
    out = []
    for env in ("x/../../../..", "../../escape", ".."):
        cli = Cli(work)
        case = work / f"case{len(out)}"
        src = _asv_dir(case / "in", [1.0], env_name=env)
        db = f"sqlite:///{case / 's.db'}"
        p = cli("import", "asv", str(src), "--db", db)
        if p.returncode != 0:
            out.append(judge(5, f"import asv env_name {env!r}", p))
            continue
        target = case / "a" / "b" / "c" / "out"
        target.mkdir(parents=True)
        before = _files(case)
        p = cli("export", "--format", "asv", "--run", "all", "--output-dir", str(target), "--db", db)
        outside = sorted(f for f in _files(case) - before if not f.startswith("a/b/c/out/"))
        out.append(judge(5, f"export asv env_name {env!r}", p, leaked=bool(outside),
                         detail=f"written outside --output-dir: {outside}" if outside else f"exit {p.returncode}"))
    return out


def nonfinite_import_then_detect(work: Path) -> list[Result]:
    out = []
    for bad in (math.inf, 1e308):
        cli = Cli(work)
        case = work / f"v{len(out)}"
        src = _asv_dir(case / "in", [1.0] * 20 + [bad] + [1.1] * 20)
        db = f"sqlite:///{case / 's.db'}"
        p = cli("import", "asv", str(src), "--db", db)
        silent = p.returncode == 0 and repr(bad) not in p.stderr  # stored, or dropped without a word
        r = judge(9, f"import asv value {bad!r}", p, lost=silent, detail="no warning names the value" if silent else "")
        out.append(r)
        p = cli("detect", "--no-store", "--format", "json", "--db", db)
        found = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip().startswith("[") else []
        out.append(judge(9, f"detect over a store with {bad!r}", p, lost=p.returncode == 0 and not found,
                         detail="the 10% step was not found" if p.returncode == 0 and not found else ""))
    return out


def overflowing_csv(work: Path) -> list[Result]:
    out = []
    for value in ("1e308", "-1e308", "Infinity"):
        f = work / f"c{len(out)}.csv"
        f.write_text("series,ts,value\n" + "".join(f"a,{i},{value if i == 20 else (1.0 if i < 20 else 1.1)}\n"
                                                   for i in range(40)))
        p = Cli(work)("detect", "--input", str(f))
        out.append(judge(9, f"detect --input with {value}", p, expect_codes={2}))
    return out


def latin1_csv(work: Path) -> list[Result]:
    f = work / "latin1.csv"
    f.write_bytes(("series,ts,value\n" + "".join(f"caf\u00e9,{i},1.0\n" for i in range(10))).encode("latin-1"))
    p = Cli(work)("detect", "--input", str(f))
    return [judge(11, "detect --input Latin-1 CSV", p, expect_codes={0, 2})]


def long_history(work: Path) -> list[Result]:
    """A 1M-run history through detect --input: must finish (the CLI's limit here: 300 s; the
    figures are in docs/detection.md, from benchmarks/detect_scale.py)."""
    import random

    rnd = random.Random(1)
    f = work / "long.csv"
    with open(f, "w") as fh:
        fh.write("series,ts,value\n")
        for i in range(1_000_000):
            fh.write(f"s,{i},{(1.0 if i < 500_000 else 1.05) * math.exp(rnd.gauss(0, 0.01)):.6f}\n")
    t = time.perf_counter()
    try:
        p = Cli(work)("detect", "--input", str(f), "--format", "json", timeout=300)
    except Exception as exc:  # subprocess.TimeoutExpired: the run never finished
        return [Result(13, "detect --input 1M runs", "lost", f"did not finish: {type(exc).__name__}")]
    secs = time.perf_counter() - t
    found = json.loads(p.stdout) if p.returncode == 0 else []
    ok = [r["ts"] for r in found] == [500_000]
    return [judge(13, "detect --input 1M runs", p, lost=not ok,
                  detail=f"{secs:.0f} s, found {[r['ts'] for r in found]}")]


CHECKS = [export_env_name_traversal, nonfinite_import_then_detect, overflowing_csv, latin1_csv, long_history]
