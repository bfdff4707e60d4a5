"""Writing stored records out: JSON lines or CSV, one record per metric."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

FIELDS = ["run_id", "created_at", "suite", "benchmark", "mode", "backend", "dtype", "params", "metric", "value", "unit",
          "direction", "spread", "ci_low", "ci_high", "n", "status", "error", "case_id", "hostname", "git_sha", "torch_version"]
FORMATS = ("jsonl", "csv")


def write_jsonl(records: list[dict[str, Any]], out: TextIO) -> None:
    for r in records:
        out.write(json.dumps({k: r.get(k) for k in FIELDS}, default=str) + "\n")


def write_csv(records: list[dict[str, Any]], out: TextIO, header: bool = True) -> None:
    w = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    if header:
        w.writeheader()
    for r in records:
        row = dict(r)
        row["params"] = json.dumps(r.get("params") or {}, sort_keys=True)
        w.writerow(row)
