"""What an alert says, for any channel: a pure function of the stored regression rows.

One ``Announcement`` per run that regressed (the run where the change was first seen), built
from the dicts of ``perfwatch.store.history.list_regressions``/``unannounced``: the run's
context, its findings (one per cause: the leading metric and the figures that moved with it, most
severe first; perfwatch.analysis.findings) with figures, catalogue labels, units and confidence,
the dashboard link and the command that reproduces them. Plain data, no wording for any one
service: each channel (``perfwatch.alerts.channels``) renders it its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlencode

from perfwatch.domain.metrics import spec
from perfwatch.domain.units import figure, number  # noqa: F401  (channels import them from here)
from perfwatch.domain.reproduce import run_command

RAISED, RESOLVED = "regressions", "resolved"  # an announcement's kind, as the webhook names it


@dataclass(frozen=True)
class Item:
    """One regressed (or resolved) metric of a run."""

    id: int | None
    suite: str
    benchmark: str
    mode: str
    backend: str
    dtype: str | None
    params_key: str | None
    metric: str
    label: str  # the catalogue's label ("step time"), what people read
    unit: str
    direction: str
    before: float
    after: float
    change: float  # relative; ±inf when before was 0
    pvalue: float
    raised_run_id: str | None
    raised_at: datetime | None  # when perfwatch detected it
    finding: int | None = None  # the id of its finding's leading regression (perfwatch.analysis.findings)

    @property
    def exact(self) -> bool:
        """An exact counter (graph breaks, accuracy pass): its change is a fact, not an estimate.
        A measured metric is never "exact", however small its p-value rounded."""
        return spec(self.metric, self.unit).exact

    @property
    def confidence(self) -> float:
        return 1.0 - max(self.pvalue, 0.0)

    @property
    def params(self) -> str:
        return "" if self.params_key in (None, "", "{}") else self.params_key


@dataclass(frozen=True)
class Backlog:
    """Older regressions a channel's first notify summarises in one line instead of announcing
    each (a new channel on an old store would otherwise post weeks of history at once)."""

    regressions: int
    runs: int
    since: datetime | None  # the oldest of them
    ids: tuple[int, ...]

    @property
    def text(self) -> str:
        when = f" since {self.since:%Y-%m-%d}" if self.since else ""
        return (f"Also {count(self.regressions, 'older regression')} in {count(self.runs, 'run')}{when}, "
                "not announced one by one: see `perfwatch regressions` or the dashboard")


@dataclass(frozen=True)
class Announcement:
    """The regressions of one run (or their resolution), worst first."""

    kind: str  # RAISED or RESOLVED
    run_id: str
    started_at: datetime | None  # the run's start, UTC
    detected_at_runs: tuple[str, ...]  # later runs at which the online detector confirmed a change
    hostname: str
    machine: str | None
    suite: str
    backend: str
    size: str | None
    git_sha: str | None
    git_branch: str | None
    torch_version: str | None
    gpu: str | None
    run_command: str | None  # the command line the run was started with (names a suite file)
    dashboard_url: str | None  # the dashboard's view of this run
    items: tuple[Item, ...]  # every regression: each finding's lead, then its evidence, most severe finding first
    findings: tuple[tuple[Item, tuple[Item, ...]], ...] = ()  # (lead, evidence): one per cause
    backlog: Backlog | None = None  # older regressions summarised in one line (a channel's first notify)

    @property
    def leads(self) -> tuple[Item, ...]:
        return tuple(lead for lead, _ in self.findings) or self.items

    @property
    def resolved(self) -> bool:
        return self.kind == RESOLVED

    @property
    def ids(self) -> tuple[int, ...]:
        """What delivering this message announces: its regressions and the backlog it summarises."""
        return tuple(i.id for i in self.items if i.id is not None) + (self.backlog.ids if self.backlog else ())

    @property
    def title(self) -> str:
        n = len(self.leads)
        if self.resolved:
            return f"Resolved: {count(n, 'finding')} in {self.suite} on {self.hostname}"
        return f"Performance regression: {count(n, 'finding')} in {self.suite} on {self.hostname}"

    def reproduce(self, items: Iterable[Item] | None = None) -> str:
        """`perfwatch run` limited to the benchmarks and modes of ``items`` (default: all)."""
        return reproduce_command(list(self.items if items is None else items), self.size, self.run_command)


def group_by_run(regressions: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Regressions grouped by the run where they were first seen, oldest run first (a backlog
    then reads in the order it happened)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in regressions:
        groups.setdefault(r["run_id"], []).append(r)
    return sorted(groups.values(), key=lambda g: (min(str(r["ts"]) for r in g), g[0]["run_id"]))


def build_announcements(regressions: list[dict[str, Any]], dashboard_url: str | None,
                        resolved: bool = False) -> list[Announcement]:
    """One announcement per run, oldest run first."""
    return [build_announcement(g, dashboard_url, resolved) for g in group_by_run(regressions)]


def build_announcement(group: list[dict[str, Any]], dashboard_url: str | None, resolved: bool = False) -> Announcement:
    """The announcement of the regressions of one run (all share run_id, machine and commit):
    one finding per cause, most severe first (perfwatch.analysis.findings)."""
    from perfwatch.analysis.findings import group_findings

    found = group_findings(group)
    findings = tuple((_item(f.lead, f.id), tuple(_item(e, f.id) for e in f.evidence)) for f in found)
    rows = [x for f in found for x in f.rows]
    r = rows[0]
    return Announcement(
        kind=RESOLVED if resolved else RAISED, run_id=r["run_id"], started_at=utc(r.get("ts")),
        detected_at_runs=tuple(sorted({x.get("raised_run_id") for x in rows} - {None, r["run_id"]})),
        hostname=r.get("hostname") or "unknown host", machine=r.get("machine"), suite=r["suite"], backend=r["backend"],
        size=r.get("size"), git_sha=r.get("git_sha"), git_branch=r.get("git_branch"),
        torch_version=r.get("torch_version"), gpu=r.get("gpu"), run_command=r.get("run_command"),
        dashboard_url=dashboard_link(dashboard_url, r["run_id"]),
        items=tuple(i for lead, evidence in findings for i in (lead, *evidence)), findings=findings)


def dashboard_link(base: str | None, run_id: str) -> str | None:
    """The dashboard's regressions view filtered to one run (it reads view/run query params)."""
    if not base:
        return None
    return base.rstrip("/") + "/?" + urlencode({"view": "regressions", "run": run_id})


def reproduce_command(items: list[Item], size: str | None, source_command: str | None = None) -> str:
    """`perfwatch run` limited to the regressed benchmarks and modes of one run."""
    first = items[0]
    dtypes = {i.dtype for i in items} - {None, "float32"}
    # float32 is the default; a mix of other dtypes cannot be one command: leave --dtype out then.
    command = run_command(first.suite, (i.benchmark for i in items), (i.mode for i in items), first.backend, size,
                          dtypes.pop() if len(dtypes) == 1 else None, source_command)
    return command.replace("`", "'")  # channels show it in a code span


def utc(ts: Any) -> datetime | None:
    """A stored timestamp (datetime or ISO text) in UTC; the store writes UTC, SQLite drops the zone."""
    if not ts:
        return None
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    return dt.astimezone(timezone.utc) if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def pct(change: float) -> str:
    """A relative change as people read it: +25.0%, or ±∞ from zero."""
    if change == float("inf"):
        return "+∞"
    if change == float("-inf"):
        return "−∞"
    return f"{change * 100:+.1f}%"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _item(r: dict[str, Any], finding: int | None = None) -> Item:
    m = spec(r["metric"], r.get("unit"), r.get("direction"))
    return Item(id=r.get("id"), suite=r["suite"], benchmark=r["benchmark"], mode=r["mode"], backend=r["backend"],
                dtype=r.get("dtype"), params_key=r.get("params_key"), metric=r["metric"], label=m.display,
                unit=r.get("unit") or m.unit, direction=r.get("direction") or m.direction, before=r["before"],
                after=r["after"], change=r["change"], pvalue=r["pvalue"], raised_run_id=r.get("raised_run_id"),
                raised_at=utc(r.get("detected_at")), finding=finding)
