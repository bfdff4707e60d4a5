"""Issue 20, hostile inputs: names that become paths (asv export), numbers that overflow the
detector (Infinity, 1e308), a CSV that is not UTF-8, and a history too long for a quadratic
segmentation. Real CLI, real SQLite / Postgres; asv results directories are written by hand, as
asv 0.6 lays them out, so the names and numbers in them can be anything."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import run_cli
from sqlalchemy import create_engine, text

from perfwatch.detect import Point, detect, detect_online, online_step
from perfwatch.detect.segment import optimal_partition, seeded_partition

BENCH = "bench.time_x"
MACHINE = "box"


def asv_dir(root, values, env_name="existing-py3.11", commit="0123456789abcdef0123456789abcdef01234567"):
    """An asv results directory with one result file per value (commit i), 1 hour apart."""
    (root / MACHINE).mkdir(parents=True)
    (root / "benchmarks.json").write_text(json.dumps({
        BENCH: {"name": BENCH, "type": "time", "unit": "seconds", "params": [], "param_names": [], "version": "1"},
        "version": 2}))
    (root / MACHINE / "machine.json").write_text(json.dumps(
        {"machine": MACHINE, "os": "Linux", "arch": "x86_64", "cpu": "cpu", "num_cpu": "2", "ram": "1", "version": 1}))
    start = 1_700_000_000_000
    for i, v in enumerate(values):
        c = f"{i:08x}" + commit[8:]
        when = start + i * 3_600_000
        d = {"commit_hash": c, "env_name": env_name, "date": when, "params": {"machine": MACHINE, "python": "3.11"},
             "python": "3.11", "requirements": {}, "env_vars": {},
             "result_columns": ["result", "params", "version", "started_at", "duration"],
             "results": {BENCH: [[v], [], "1", when, 1.0]}, "durations": {}, "version": 2}
        # json.dumps writes inf as Infinity, as asv's own writer does
        (root / MACHINE / f"{c[:8]}-env{i}.json").write_text(json.dumps(d))
    return root


def step(n=40, at=20):
    return [1.0] * at + [1.1] * (n - at)


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


# --- item 5: names from input that become paths ------------------------------------------------

@pytest.mark.parametrize("env_name", ["x/../../../..", "../../escape", "..", "/tmp/abs", "a\\..\\..\\b"])
def test_export_asv_keeps_every_file_inside_output_dir(tmp_path, sqlite_url, env_name):
    src = asv_dir(tmp_path / "in", [1.0], env_name=env_name)
    assert run_cli("import", "asv", str(src), "--db", sqlite_url).returncode == 0
    sandbox = tmp_path / "sandbox"
    out = sandbox / "a" / "b" / "out"
    out.mkdir(parents=True)
    res = run_cli("export", "--format", "asv", "--run", "all", "--output-dir", str(out), "--db", sqlite_url)
    assert res.returncode == 0, res.stderr
    assert all(not f.startswith("..") for f in files_under(out))
    assert files_under(sandbox) == ["a/b/out/" + f for f in files_under(out)]  # nothing beside it
    # what was written is still asv results that import again
    again = run_cli("import", "asv", str(out), "--db", f"sqlite:///{tmp_path / 'again.db'}")
    assert again.returncode == 0, again.stderr


def test_import_rejects_a_commit_that_is_a_path(tmp_path, sqlite_url):
    src = asv_dir(tmp_path / "in", [1.0], commit="../../../" + "0" * 31)
    res = run_cli("import", "asv", str(src), "--db", sqlite_url)
    assert res.returncode == 2 and "is not a commit id" in res.stderr and "Traceback" not in res.stderr


def test_export_asv_sanitises_machine_names_too():
    from perfwatch.asvio.to_asv import _safe

    for bad in ("..", ".", "../x", "a/b", ".hidden", ""):
        name = _safe(bad)
        assert "/" not in name and not name.startswith(".") and name


# --- item 9: numbers the detector cannot use ---------------------------------------------------

@pytest.mark.parametrize("bad", [math.inf, -math.inf, 1e308, -1e308])
def test_import_stores_a_non_finite_value_as_a_failed_case_and_detect_still_works(tmp_path, db_url, bad):
    src = asv_dir(tmp_path / "in", step()[:20] + [bad] + step()[20:])
    res = run_cli("import", "asv", str(src), "--db", db_url)
    assert res.returncode == 0, res.stderr
    assert "1 value(s) not stored" in res.stderr and BENCH in res.stderr and repr(bad) in res.stderr
    eng = create_engine(db_url)
    with eng.connect() as c:
        statuses = [r[0] for r in c.execute(text("SELECT status FROM cases"))]
    eng.dispose()
    assert statuses.count("error") == 1 and len(statuses) == 41
    res = run_cli("detect", "--format", "json", "--no-store", "--db", db_url)
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert [(f["direction"], round(f["change"], 3)) for f in found] == [("regression", 0.1)]


def test_detect_skips_infinity_already_in_an_old_store(tmp_path, db_url):
    # A store written before the import checked values: put the Infinity in by SQL.
    src = asv_dir(tmp_path / "in", step(41, 21))
    assert run_cli("import", "asv", str(src), "--db", db_url).returncode == 0
    eng = create_engine(db_url)
    with eng.begin() as c:
        ids = [r[0] for r in c.execute(text("SELECT id FROM measurements ORDER BY id"))]
        c.execute(text("UPDATE measurements SET value = :v WHERE id = :id"), {"v": math.inf, "id": ids[10]})
        c.execute(text("UPDATE measurements SET value = :v WHERE id = :id"), {"v": 1e308, "id": ids[30]})
    eng.dispose()
    for extra in ([], ["--online"]):
        res = run_cli("detect", "--format", "json", "--db", db_url, *extra)
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
        found = json.loads(res.stdout)
        assert [f["direction"] for f in found] == ["regression"]
        assert found[0]["ts"].startswith("2023-11-15T19:13:20")  # the 22nd run: positions kept


def test_detector_leaves_unusable_points_out_and_keeps_positions():
    v = step(60, 30)
    clean = detect([Point(i, x) for i, x in enumerate(v)], "lower_is_better")
    for bad in (math.inf, math.nan, 1e308, -1e308):
        w = list(v)
        w[10] = w[45] = bad
        got = detect([Point(i, x) for i, x in enumerate(w)], "lower_is_better")
        assert [(c.index, c.ts) for c in got] == [(c.index, c.ts) for c in clean] == [(30, 30)]
    online = detect_online([Point(i, x) for i, x in enumerate(v[:40] + [math.inf] + v[40:])], "lower_is_better")
    assert [c.index for c in online] == [30]
    assert online_step([Point(i, x) for i, x in enumerate(v[:33] + [math.inf])], "lower_is_better") is None


@pytest.mark.parametrize("value, message", [("1e308", "out of range"), ("-1e308", "out of range"),
                                            ("inf", "not finite"), ("NaN", "not finite")])
def test_csv_with_overflowing_value_exits_2_naming_the_line(tmp_path, value, message):
    rows = [f"a,{i},{value if i == 20 else x}" for i, x in enumerate(step())]
    f = tmp_path / "s.csv"
    f.write_text("series,ts,value\n" + "\n".join(rows) + "\n")
    res = run_cli("detect", "--input", str(f))
    assert res.returncode == 2 and "line 22" in res.stderr and message in res.stderr
    assert "Traceback" not in res.stderr


def test_csv_spread_and_n_that_would_overflow_are_refused(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("series,ts,value,spread,n\n" + "".join(f"a,{i},{x},0.01,20\n" for i, x in enumerate(step()))
                 + "a,40,1.1,1e300,20\n")
    res = run_cli("detect", "--input", str(f))
    assert res.returncode == 2 and "line 42: spread" in res.stderr
    f.write_text("series,ts,value,spread,n\n" + "".join(f"a,{i},{x},0.01,20\n" for i, x in enumerate(step()))
                 + f"a,40,1.1,0.01,{10 ** 400}\n")
    res = run_cli("detect", "--input", str(f))
    assert res.returncode == 2 and "line 42: n" in res.stderr and "Traceback" not in res.stderr


# --- item 11 (part): encodings -----------------------------------------------------------------

def test_latin1_csv_exits_2_with_a_clear_message(tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes(("series,ts,value\n" + "".join(f"caf\u00e9,{i},1.0\n" for i in range(10))).encode("latin-1"))
    res = run_cli("detect", "--input", str(f))
    assert res.returncode == 2, res.stderr
    assert "line 2: not UTF-8" in res.stderr and "Traceback" not in res.stderr


def test_utf8_csv_with_bom_and_non_ascii_names_reads(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes(("series,ts,value\n" + "".join(f"caf\u00e9,{i},{x}\n" for i, x in enumerate(step())))
                  .encode("utf-8-sig"))
    res = run_cli("detect", "--input", str(f), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert [r["series"] for r in json.loads(res.stdout)] == ["caf\u00e9"]


def test_csv_with_nul_byte_exits_2(tmp_path):
    f = tmp_path / "nul.csv"
    f.write_bytes(b"series,ts,value\na,1,1\x00.0\n")
    res = run_cli("detect", "--input", str(f))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


# --- item 13: long histories -------------------------------------------------------------------

def test_seeded_partition_matches_the_exact_one():
    # Below EXACT_MAX the exact method runs; the seeded one must find the same segmentation on
    # series it can be compared with (random steps of random sizes, some tiny, some 3 runs apart).
    rng = np.random.default_rng(7)
    same = 0
    for _ in range(12):
        n = int(rng.integers(300, 2000))
        level, pos = np.zeros(n), 0
        while (pos := pos + int(rng.integers(3, 300))) < n:
            level[pos:] += rng.normal(0, 3)
        y = level + rng.normal(0, 1, n)
        w = np.ones(n)
        pen = 3 * math.log(n)
        same += optimal_partition(y, w, pen, 3) == seeded_partition(y, w, pen, 3)
    assert same >= 11


def test_a_long_history_is_segmented_and_its_changes_found():
    # 60k runs: quadratic segmentation needed ~40 s here; no timing is asserted, only results.
    rng = np.random.default_rng(3)
    n = 60_000
    level = np.ones(n)
    changes = list(range(1000, n, 5000))
    for c in changes:
        level[c:] *= 1.05
    v = level * np.exp(rng.normal(0, 0.01, n))
    found = detect([Point(i, float(x)) for i, x in enumerate(v)], "lower_is_better")
    assert [c.index for c in found] == changes
