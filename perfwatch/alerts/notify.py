"""Announcing stored regressions: group by run, build one message each, send, mark announced.

Never lost: a regression is marked announced only after Slack accepted its message, so a failed
send leaves ``announced_at`` NULL and the next ``perfwatch notify`` (or ``run --notify``) sends it.
Sent once: notifiers are serialized by a lock (several runners may finish at the same moment)
and each reads what is pending only once it holds the lock. The one window left is a crash, or
a database failure, between Slack's 200 and the mark: that message is sent again next time
(at least once beats lost).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from perfwatch.alerts.announcement import build_message, group_by_run
from perfwatch.domain.errors import AlertError, StoreUnavailable
from perfwatch.store import history

# Any constant distinct from the migration lock's: serializes notifiers on one Postgres database.
_PG_LOCK_KEY = 0x70776E74


class Sender(Protocol):
    def send(self, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Outgoing:
    """One message waiting to go: the regressions it announces and its payload."""

    run_id: str
    ids: tuple[int, ...]
    resolved: bool
    payload: dict[str, Any]


@dataclass(frozen=True)
class NotifyResult:
    sent_messages: int
    announced_ids: tuple[int, ...]
    pending: tuple[int, ...]  # regression ids still to announce (their send failed or never ran)
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.sent_messages and not self.pending:
            return "no regressions to announce"
        text = f"sent {self.sent_messages} Slack message(s) announcing {len(self.announced_ids)} regression(s)"
        return text + (f"; {len(self.pending)} still pending (run `perfwatch notify` to retry)" if self.pending else "")

    def raise_for_errors(self) -> None:
        """AlertError (exit 4) naming what failed, if anything did."""
        if self.errors:
            raise AlertError("; ".join(self.errors) + f". {len(self.pending)} regression(s) stay pending; "
                             "`perfwatch notify` sends them")


def pending_messages(engine: Engine, dashboard_url: str | None, announce_resolved: bool = False) -> list[Outgoing]:
    """What a notify would send now: open regressions not yet announced (one message per run),
    then, with announce_resolved, resolutions of announced ones."""
    out = []
    for resolved in (False, True) if announce_resolved else (False,):
        for group in group_by_run(history.unannounced(engine, resolved=resolved)):
            out.append(Outgoing(group[0]["run_id"], tuple(r["id"] for r in group), resolved,
                                build_message(group, dashboard_url, resolved)))
    return out


def notify_pending(engine: Engine, sender: Sender | None, dashboard_url: str | None,
                   announce_resolved: bool = False) -> NotifyResult:
    """Send every pending message; mark each one's regressions announced after it was delivered.

    A message Slack refuses as malformed (400) is skipped and the rest go on; any other failure
    (webhook revoked, Slack down after all retries) stops, since the next message would fail too.
    """
    if sender is None:
        raise AlertError("no Slack webhook configured: export PERFWATCH_SLACK_WEBHOOK (see docs/alerts.md)")
    sent, announced, pending, errors = 0, [], [], []
    with _notify_lock(engine):
        stopped = False
        for msg in pending_messages(engine, dashboard_url, announce_resolved):
            if stopped:
                pending += msg.ids
                continue
            try:
                sender.send(msg.payload)
            except AlertError as exc:
                pending += msg.ids
                errors.append(f"run {msg.run_id}: {exc}")
                stopped = not getattr(exc, "payload_at_fault", False)
                continue
            history.mark_announced(engine, list(msg.ids), resolved=msg.resolved)
            sent += 1
            announced += msg.ids
    return NotifyResult(sent, tuple(announced), tuple(pending), tuple(errors))


@contextlib.contextmanager
def _notify_lock(engine: Engine) -> Iterator[None]:
    """One notifier at a time per database: a Postgres advisory lock, or a lock file beside the
    SQLite file (one SQLite file lives on one host)."""
    if engine.dialect.name == "postgresql":
        try:
            conn = engine.connect()
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()  # a session lock: no transaction left open while we talk to Slack
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(f"database unreachable: {getattr(exc, 'orig', exc)}") from None
        with conn:
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent notifiers on one SQLite file are rare there
        fcntl = None
    if fcntl is None or not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_name(Path(database).name + ".notify-lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
