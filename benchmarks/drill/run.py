"""Rerun the reliability drill of issue 20 and print its counts.

    python benchmarks/drill/run.py                 # every check
    python benchmarks/drill/run.py --only spool    # the checks of items_spool.py
    python benchmarks/drill/run.py --json out.json

Each ``items_*.py`` module here holds ``CHECKS``: functions that inject one fault for real (see
common.py) and return Results. Each check gets its own scratch directory. Prints one line per
attempt and a table: tried / clean / traceback / lost / leaked, per item and in total. Exit 0 only
when every attempt was clean. The last figures are written in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from common import OUTCOMES, Result  # noqa: E402


def modules(only: str | None):
    for path in sorted(HERE.glob("items_*.py")):
        name = path.stem
        if only and name != f"items_{only}":
            continue
        yield importlib.import_module(name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="run only items_ONLY.py")
    ap.add_argument("--json", type=Path, help="write every result here")
    args = ap.parse_args(argv)
    results: list[Result] = []
    t0 = time.perf_counter()
    for mod in modules(args.only):
        for check in mod.CHECKS:
            with tempfile.TemporaryDirectory(prefix="pwdrill-") as tmp:
                try:
                    got = check(Path(tmp))
                except Exception:  # the drill's own failure: counted, never hidden
                    got = [Result(0, f"{mod.__name__}.{check.__name__}", "traceback",
                                  "drill check crashed: " + traceback.format_exc(limit=2).strip().splitlines()[-1])]
            for r in got:
                results.append(r)
                print(f"[{r.outcome:9}] #{r.item:<2} {r.name}: {r.detail}", flush=True)
    by_item: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in results:
        by_item[r.item][r.outcome] += 1
    total = dict.fromkeys(OUTCOMES, 0)
    print("\n| item | tried | " + " | ".join(OUTCOMES) + " |")
    print("|---:|---:|" + "---:|" * len(OUTCOMES))
    for item in sorted(by_item):
        row = by_item[item]
        for k in OUTCOMES:
            total[k] += row[k]
        print(f"| {item} | {sum(row.values())} | " + " | ".join(str(row[k]) for k in OUTCOMES) + " |")
    print(f"| all | {sum(total.values())} | " + " | ".join(str(total[k]) for k in OUTCOMES) + " |")
    print(f"\n{len(results)} attempts in {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0 if results and total["clean"] == len(results) else 1  # no attempt at all is no pass


if __name__ == "__main__":
    sys.exit(main())
