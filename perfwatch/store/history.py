"""Series histories (what detection reads) and stored regressions (what alerts and the dashboard
share): the store side of detection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import and_, exists, select, update
from sqlalchemy.engine import Connection, Engine

from perfwatch.domain.errors import UsageError
from perfwatch.store.models import Announcement, Case, Machine, Measurement, Regression, Run, Series
from perfwatch.store.queries import _iso, _read, as_utc, check_limit
from perfwatch.store.writes import _insert, with_retry

STATES = ("open", "acknowledged", "resolved")
# The channel whose state migration 0002's announced_at columns held; they are still written for it.
LEGACY_CHANNEL = "slack"
SERIES_FIELDS = ("suite", "benchmark", "mode", "backend", "metric")


@dataclass(frozen=True)
class HistoryPoint:
    run_id: str
    created_at: datetime
    value: float
    spread: float | None
    n: int | None
    status: str


@dataclass(frozen=True)
class History:
    series_id: int
    meta: dict[str, Any]  # machine, hostname, suite, benchmark, mode, backend, dtype, params_key, metric, unit, direction
    points: list[HistoryPoint]

    @property
    def name(self) -> str:
        m = self.meta
        params = "" if m["params_key"] in ("{}", "") else m["params_key"]
        return f"{m['hostname']}/{m['suite']}/{m['benchmark']}{params}/{m['mode']}/{m['backend']}/{m['metric']}"


def find_series(engine: Engine, *, suite=None, benchmark=None, mode=None, backend=None, metric=None,
                machine=None, run_id: str | None = None) -> list[dict[str, Any]]:
    stmt = select(Series.id, Series.suite, Series.benchmark, Series.mode, Series.backend, Series.dtype, Series.params_key,
                  Series.metric, Series.unit, Series.direction, Machine.fingerprint.label("machine"),
                  Machine.hostname).join(Machine, Machine.id == Series.machine_id)
    for field, value in (("suite", suite), ("benchmark", benchmark), ("mode", mode), ("backend", backend), ("metric", metric)):
        if value:
            stmt = stmt.where(getattr(Series, field) == value)
    if machine:
        stmt = stmt.where((Machine.fingerprint == machine) | (Machine.hostname == machine))
    if run_id:
        stmt = stmt.where(Series.id.in_(select(Measurement.series_id).where(Measurement.run_id == run_id)))
    return [dict(r) for r in _read(engine, stmt.order_by(Series.id))]


def histories(engine: Engine, series: list[dict[str, Any]], since: datetime | None = None,
              until: datetime | None = None, last: int | None = None) -> list[History]:
    """Each series' points in time order (one per run), read in one query."""
    if not series:
        return []
    ids = [s["id"] for s in series]
    stmt = (select(Measurement.series_id, Measurement.run_id, Measurement.created_at, Measurement.value, Measurement.spread,
                   Measurement.n, Case.status)
            .join(Case, Case.id == Measurement.case_id)
            .where(Measurement.series_id.in_(ids))
            .order_by(Measurement.series_id, Measurement.created_at, Measurement.run_id))
    if since:
        stmt = stmt.where(Measurement.created_at >= since)
    if until:
        stmt = stmt.where(Measurement.created_at <= until)
    by_id: dict[int, list[HistoryPoint]] = {i: [] for i in ids}
    for r in _read(engine, stmt):
        by_id[r["series_id"]].append(HistoryPoint(r["run_id"], as_utc(r["created_at"]), r["value"], r["spread"], r["n"], r["status"]))
    out = []
    for s in series:
        pts = by_id[s["id"]]
        out.append(History(s["id"], s, pts[-last:] if last else pts))
    return out


def record(engine: Engine, found: Iterable[dict[str, Any]]) -> list[int]:
    """Store regressions (series_id, run_id, ts, raised_run_id, before, after, change, pvalue);
    one already stored for the same series and run is left as it is. Returns the new ids."""
    rows = list(found)
    if not rows:
        return []
    now = datetime.now(timezone.utc)

    def go(conn: Connection) -> list[int]:
        new = []
        for r in rows:
            res = conn.execute(
                _insert(conn, Regression.__table__)
                .values(**r, detected_at=now, state="open", updated_at=now)
                .on_conflict_do_nothing(index_elements=["series_id", "run_id"])
                .returning(Regression.__table__.c.id)
            ).first()
            if res is not None:
                new.append(res[0])
        return new

    return with_retry(engine, go)


def regression_runs(engine: Engine, series_ids: Iterable[int]) -> dict[int, set[str]]:
    """The runs at which each series already has a stored regression."""
    ids = list(series_ids)
    out: dict[int, set[str]] = {}
    if not ids:
        return out
    for r in _read(engine, select(Regression.series_id, Regression.run_id).where(Regression.series_id.in_(ids))):
        out.setdefault(r["series_id"], set()).add(r["run_id"])
    return out


def _regression_query():
    return (select(Regression.id, Regression.state, Regression.note, Regression.ts, Regression.detected_at,
                   Regression.before, Regression.after, Regression.change, Regression.pvalue, Regression.run_id,
                   Regression.raised_run_id, Regression.announced_at, Regression.resolved_announced_at,
                   Regression.updated_at, Regression.series_id,
                   Series.suite, Series.benchmark, Series.mode, Series.backend, Series.dtype, Series.params_key,
                   Series.metric, Series.unit, Series.direction, Machine.hostname, Machine.fingerprint.label("machine"),
                   Machine.gpu, Run.git_sha, Run.git_branch, Run.torch_version, Run.size,
                   Run.command.label("run_command"))
            .join(Series, Series.id == Regression.series_id)
            .join(Machine, Machine.id == Series.machine_id)
            .join(Run, Run.id == Regression.run_id))


def _out(r) -> dict[str, Any]:
    d = dict(r)
    for k in ("ts", "detected_at", "announced_at", "resolved_announced_at", "updated_at"):
        d[k] = _iso(d[k])
    return d


def list_regressions(engine: Engine, state: str | None = None, run_id: str | None = None, ids: list[int] | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
    check_limit(limit)
    stmt = _regression_query()
    if state:
        stmt = stmt.where(Regression.state == state)
    if run_id:
        stmt = stmt.where((Regression.run_id == run_id) | (Regression.raised_run_id == run_id))
    if ids is not None:
        stmt = stmt.where(Regression.id.in_(ids))
    stmt = stmt.order_by(Regression.ts.desc(), Regression.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    return [_out(r) for r in _read(engine, stmt)]


def set_state(engine: Engine, regression_id: int, state: str, note: str | None = None) -> None:
    if state not in STATES:
        raise UsageError(f"unknown state {state!r}; valid: {', '.join(STATES)}")
    if note and "\x00" in note:  # Postgres refuses it in a text column (the dashboard's note box)
        raise UsageError("a note cannot contain a NUL byte")

    def go(conn: Connection) -> int:
        values: dict[str, Any] = {"state": state, "updated_at": datetime.now(timezone.utc)}
        if note is not None:
            values["note"] = note
        return conn.execute(update(Regression).where(Regression.id == regression_id).values(**values)).rowcount

    if with_retry(engine, go) == 0:
        raise UsageError(f"no regression {regression_id}")


def mark_announced(engine: Engine, ids: list[int], resolved: bool = False, channel: str = LEGACY_CHANNEL) -> None:
    """Record that ``channel`` delivered these regressions (or their resolution). Marking twice
    is a no-op: the first delivery's time stays."""
    kind = "resolved" if resolved else "raised"
    legacy = Regression.resolved_announced_at if resolved else Regression.announced_at

    def go(conn: Connection) -> None:
        now = datetime.now(timezone.utc)
        conn.execute(_insert(conn, Announcement.__table__)
                     .values([dict(regression_id=i, channel=channel, kind=kind, announced_at=now) for i in ids])
                     .on_conflict_do_nothing(index_elements=["regression_id", "channel", "kind"]))
        if channel == LEGACY_CHANNEL:  # `perfwatch regressions` and 0002-era readers show these
            conn.execute(update(Regression).where(and_(Regression.id.in_(ids), legacy.is_(None)))
                         .values({legacy.key: now}))

    if ids:
        with_retry(engine, go)


def _announced(channel: str, kind: str):
    return exists().where(Announcement.regression_id == Regression.id, Announcement.channel == channel,
                          Announcement.kind == kind)


def has_announced(engine: Engine, channel: str = LEGACY_CHANNEL) -> bool:
    """Whether ``channel`` ever delivered an announcement (its first notify is told apart)."""
    return bool(_read(engine, select(Announcement.regression_id).where(Announcement.channel == channel).limit(1)))


def unannounced(engine: Engine, resolved: bool = False, channel: str = LEGACY_CHANNEL) -> list[dict[str, Any]]:
    """Open regressions ``channel`` has not announced yet (or, with resolved=True, resolved ones
    whose resolution it has not announced although it announced the regression itself)."""
    stmt = _regression_query()
    if resolved:
        stmt = stmt.where(Regression.state == "resolved", _announced(channel, "raised"), ~_announced(channel, "resolved"))
    else:
        stmt = stmt.where(Regression.state == "open", ~_announced(channel, "raised"))
    return [_out(r) for r in _read(engine, stmt.order_by(Regression.run_id, Regression.id))]
