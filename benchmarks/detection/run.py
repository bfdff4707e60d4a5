"""Score perfwatch's detector and the anchors on the synthetic families and the real labelled
series; print the table and write it into docs/detection.md (between the results markers).

    python3 benchmarks/detection/run.py            # report seed (2), about 5 minutes on 2 cores
    python3 benchmarks/detection/run.py --seed 1   # the tuning seed
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import sys
import time
from multiprocessing import Pool

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, ROOT]

import anchors  # noqa: E402
import generate  # noqa: E402
from score import Detection, Tally, score_series  # noqa: E402

from perfwatch.detect import DetectConfig, Point, detect, detect_online  # noqa: E402

REAL_DIR = "/work/shared/data/real-perf-series"
DOC = os.path.join(ROOT, "docs", "detection.md")
START, END = "<!-- results:start -->", "<!-- results:end -->"
DETECTORS = ("perfwatch", "otava", "asv", "zscore")


def _points(values, spreads=None, ns=None):
    spreads = spreads or [None] * len(values)
    ns = ns or [None] * len(values)
    return [Point(i, float(v), s, k) for i, (v, s, k) in enumerate(zip(values, spreads, ns))]


def _sign(cp) -> int:
    return 1 if cp.after > cp.before else -1


def _perfwatch(job):
    values, spreads, ns, direction, is_integer, online = job
    pts = _points(values, spreads, ns)
    cfg = DetectConfig()
    retro = [Detection(cp.index, _sign(cp)) for cp in detect(pts, direction, cfg, is_integer)]
    on = None
    if online:
        on = [Detection(cp.index, _sign(cp), raised_index=cp.raised_at)
              for cp in detect_online(pts, direction, cfg, is_integer)]
    return retro, on


def _asv(values):
    return anchors.asv_detect(values)


def load_real():
    rows = collections.defaultdict(list)
    with open(os.path.join(REAL_DIR, "corpus.csv")) as f:
        for r in csv.DictReader(f):
            rows[r["series"]].append((int(r["ts"]), float(r["value"])))
    with open(os.path.join(REAL_DIR, "labels.json")) as f:
        labels = json.load(f)
    out = []
    for name, pts in rows.items():
        pts.sort()
        lab = labels[name]
        out.append(dict(name=name, family=lab["family"], values=[v for _, v in pts],
                        must=lab["must"], optional=lab.get("optional", [])))
    return out


def evaluate(items, pool, online=True):
    """items: dicts with values, spreads, ns, direction, is_integer, changes, signs, optional,
    change_free, group. Returns {group: {detector: (retro Tally, online Tally|None)}}."""
    jobs = [(it["values"], it.get("spreads"), it.get("ns"), it.get("direction", "lower_is_better"),
             it.get("is_integer"), online) for it in items]
    t0 = time.time()
    pw = pool.map(_perfwatch, jobs, chunksize=1)
    t_pw = time.time() - t0
    t0 = time.time()
    asv = pool.map(_asv, [it["values"] for it in items], chunksize=4)
    t_asv = time.time() - t0
    t0 = time.time()
    ot = anchors.otava_detect_many([it["values"] for it in items])
    t_ot = time.time() - t0
    zs = [anchors.zscore_detect(it["values"]) for it in items]
    print(f"  timings: perfwatch {t_pw:.0f}s, asv {t_asv:.0f}s, otava {t_ot:.0f}s", flush=True)
    res = collections.defaultdict(lambda: collections.defaultdict(lambda: [Tally(), None]))
    for k, it in enumerate(items):
        per = {"perfwatch": (pw[k][0], pw[k][1]), "asv": (asv[k], None),
               "otava": (ot[k] if ot is not None else None, None), "zscore": (zs[k], zs[k])}
        for det, (retro, on) in per.items():
            if retro is None:
                continue
            for group in (it["group"], "all"):
                cell = res[group][det]
                args = (it["changes"], it.get("signs"), len(it["values"]), it["change_free"],
                        it.get("optional", []))
                cell[0].add(score_series(retro, *args))
                if on is not None:
                    if cell[1] is None:
                        cell[1] = Tally()
                    cell[1].add(score_series(on, *args))
    return res


def _f(x, nd=2):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def table(res, groups, title):
    lines = [f"#### {title}", "",
             "| family | detector | precision | recall | F1 | FA/1000 free pts | online F1 | "
             "online FA/1000 | median online delay |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        for det in DETECTORS:
            if det not in res[g]:
                continue
            r, o = res[g][det]
            lines.append(
                f"| {g} | {det} | {_f(r.precision)} | {_f(r.recall)} | {_f(r.f1)} | "
                f"{_f(r.fa_per_1000)} | {_f(o.f1) if o else '–'} | "
                f"{_f(o.fa_per_1000) if o else '–'} | {_f(o.median_delay, 1) if o else '–'} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=generate.REPORT_SEED)
    ap.add_argument("--per-family", type=int, default=24)
    ap.add_argument("--free-per-family", type=int, default=16)
    ap.add_argument("--no-online", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.time()
    synth = generate.generate(a.seed, a.per_family, a.free_per_family)
    items = [dict(values=s.values, spreads=s.spreads, ns=s.ns, direction=s.direction,
                  is_integer=None, changes=s.changes, signs=s.signs, change_free=s.change_free,
                  group=s.family) for s in synth]
    n_pts = sum(len(s.values) for s in synth)
    n_chg = sum(len(s.changes) for s in synth)
    print(f"synthetic: {len(synth)} series, {n_pts} points, {n_chg} changes (seed {a.seed})",
          flush=True)
    with Pool(2) as pool:
        res = evaluate(items, pool, online=not a.no_online)
        out = [table(res, list(generate.FAMILIES) + ["all"],
                     f"Synthetic (seed {a.seed}; {len(synth)} series, {n_pts} points, "
                     f"{n_chg} changes)")]
        if not a.skip_real:
            real = load_real()
            ritems = [dict(values=r["values"], changes=r["must"], signs=None,
                           optional=r["optional"], change_free=not r["must"] and not r["optional"],
                           group=r["family"]) for r in real]
            print(f"real: {len(real)} series", flush=True)
            rres = evaluate(ritems, pool, online=not a.no_online)
            fams = sorted({r["family"] for r in real})
            out.append(table(rres, fams + ["all"], f"Real labelled series ({len(real)} series, "
                             f"{sum(len(r['values']) for r in real)} points)"))
    text = "\n\n".join(out)
    print(text)
    print(f"total {time.time() - t0:.0f}s")
    if not a.no_write:
        block = f"{START}\n{text}\n{END}"
        doc = open(DOC).read() if os.path.exists(DOC) else f"# Regression detection\n\n{START}\n{END}\n"
        if START in doc and END in doc:
            doc = doc[: doc.index(START)] + block + doc[doc.index(END) + len(END):]
        else:
            doc += "\n" + block + "\n"
        with open(DOC, "w") as f:
            f.write(doc)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
