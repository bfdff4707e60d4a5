"""Replay a whole-suite A/A through the history gate, each series alone and borrowing noise.

    python benchmarks/verdict/replay.py RUNS.csv HISTORY [--skip-first N]

RUNS.csv is ``perfwatch export --run all --format csv`` of clean runs (gpu_calibrate.sh suite-aa
writes one). Every run is judged against every set of HISTORY of the other runs, with
``GateConfig(pool=False)`` and the default (pool=True); prints the share of whole runs with any
flag and the series flagged most (docs/verdict.md).
"""
import csv, collections, itertools, sys, datetime as dt, random
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from perfwatch.analysis.gate import judge, GateConfig
from perfwatch.store.baselines import GatePoint, GateSeries
rows = list(csv.DictReader(open(sys.argv[1])))
if "--skip-first" in sys.argv:  # the first runs after the machine started (cold OS caches)
    n = int(sys.argv[sys.argv.index("--skip-first") + 1])
    rows = [r for r in rows if r["run_id"] not in sorted({x["run_id"] for x in rows})[:n]]
runs = sorted({r["run_id"] for r in rows})
pts = collections.defaultdict(dict); meta = {}
for r in rows:
    key = (r["benchmark"], r["mode"], r["metric"])
    f = lambda x: float(x) if x not in ("", None) else None
    pts[key][r["run_id"]] = GatePoint(r["run_id"], dt.datetime.fromisoformat(r["created_at"]), float(r["value"]) if r["value"] else 0.0,
        f(r["ci_low"]), f(r["ci_high"]), int(r["n"] or 0), r["status"], (), True)
    meta[key] = dict(metric=r["metric"], unit=r["unit"], direction=r["direction"], suite=r["suite"], benchmark=r["benchmark"],
                     mode=r["mode"], backend=r["backend"], params_key="{}", hostname="h", machine="m")
keys = sorted(pts); ids = {k: i for i, k in enumerate(keys)}
h = int(sys.argv[2])
for pool in (False, True):
    flagged = collections.Counter(); fam = anyf = 0
    for run in runs:
        others = [x for x in runs if x != run]
        for base in itertools.combinations(others, h):
            series = [GateSeries(ids[k], meta[k], pts[k][run], tuple(pts[k][b] for b in base if b in pts[k]))
                      for k in keys if run in pts[k]]
            v = judge(series, GateConfig(baseline=h, pool=pool))
            f = [x for x in v if x.verdict == "regression"]
            fam += 1; anyf += bool(f)
            for x in f: flagged[(x.benchmark, x.metric)] += 1
    print(f"h={h} pool={pool}: families {fam}, with any flag {anyf/fam:.3f}; top {flagged.most_common(8)}")
