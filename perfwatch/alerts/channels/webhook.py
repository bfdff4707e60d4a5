"""The generic webhook channel: an announcement as one JSON document POSTed to any URL.

For Teams, Discord, an incident tool or a relay of your own: they take JSON with a small
mapping (docs/alerts.md has the schema and examples). The document is versioned; fields are
only ever added within a version.

    {"source": "perfwatch", "version": 1, "kind": "regressions" | "resolved",
     "text": "<one-line summary>", "run": {...}, "total": N, "findings": F, "backlog": {...} | null,
     "items": [{...}, ...]}

``items`` lists every regression, grouped by finding (one per cause, most severe first): each
item's ``finding`` is the id of its finding's leading regression and ``lead`` says whether it
is that one ("findings", "backlog" and these two fields were added within version 1).

Numbers stay numbers (before/after in the metric's unit, change as a fraction, confidence as
1 - p); a change from zero (±inf) is ``null``, as JSON has no infinity.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from perfwatch.alerts.announcement import Announcement, Item, figure, pct
from perfwatch.alerts.poster import JsonPoster

NAME = "webhook"
LABEL = "webhook"  # in summaries: "sent 2 webhook message(s)"
SETTING = "webhook_url"  # the Config field holding the URL ($PERFWATCH_WEBHOOK_URL)
MISSING = ("no JSON webhook configured: export PERFWATCH_WEBHOOK_URL=https://... (or webhook_url in perfwatch.toml); "
           "see docs/alerts.md")
VERSION = 1
MAX_ITEMS = 100  # a receiver's size limit (Teams: 28 KB) is easier to meet; `total` says how many there were


class JsonWebhook(JsonPoster):
    service = "the webhook endpoint"
    hook = "JSON webhook"
    setting = "PERFWATCH_WEBHOOK_URL"
    refused = "the endpoint refused the message"
    payload_faults = (400, 413, 422)  # malformed, too large, unprocessable: this message, not the endpoint


Sender = JsonWebhook


def render(a: Announcement) -> dict[str, Any]:
    return {
        "source": "perfwatch",
        "version": VERSION,
        "kind": a.kind,
        "text": summary(a),
        "run": {"id": a.run_id, "started_at": _iso(a.started_at), "detected_at_runs": list(a.detected_at_runs),
                "hostname": a.hostname, "machine": a.machine, "suite": a.suite, "backend": a.backend, "size": a.size,
                "git_sha": a.git_sha, "git_branch": a.git_branch, "torch_version": a.torch_version, "gpu": a.gpu,
                "dashboard_url": a.dashboard_url, "reproduce": a.reproduce(a.items[:MAX_ITEMS])},
        "total": len(a.items),
        "findings": len(a.leads),  # one per cause; each item's "finding" is its finding's leading id
        # older regressions a channel's first notify summarises instead of announcing each (or null)
        "backlog": ({"regressions": a.backlog.regressions, "runs": a.backlog.runs, "since": _iso(a.backlog.since),
                     "text": a.backlog.text} if a.backlog else None),
        "items": [_item(a, i) for i in a.items[:MAX_ITEMS]],
    }


def summary(a: Announcement) -> str:
    """One plain line for chat tools that only show text: the title, the run and the worst change."""
    w = a.leads[0]
    return (f"{a.title}, run {a.run_id}. Worst: {w.benchmark} [{w.mode}] {w.label} "
            f"{figure(w.before, w.unit)} → {figure(w.after, w.unit)} ({pct(w.change)}).")


def _item(a: Announcement, i: Item) -> dict[str, Any]:
    return {
        "id": i.id, "suite": i.suite, "benchmark": i.benchmark, "mode": i.mode, "backend": i.backend, "dtype": i.dtype,
        "params": i.params or None, "metric": i.metric, "label": i.label, "unit": i.unit, "direction": i.direction,
        "before": _finite(i.before), "after": _finite(i.after), "change": _finite(i.change),
        "confidence": i.confidence, "exact": i.exact, "run_id": a.run_id, "raised_run_id": i.raised_run_id,
        "raised_at": _iso(i.raised_at), "dashboard_url": a.dashboard_url, "reproduce": a.reproduce([i]),
        "finding": i.finding, "lead": i.finding is None or i.finding == i.id,
    }


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
