"""Announced state per channel in the store: migration 0003 carries 0002's announced_at columns
over as channel "slack" (on SQLite and Postgres), marks are per channel and idempotent, and the
one database lock serializes notifiers (and nothing else)."""

import threading
import time
import uuid

import pytest
from conftest import PG_ADMIN_URL
from sqlalchemy import create_engine, text
from test_alerts_slack import seed

from perfwatch.store import history
from perfwatch.store.engine import make_engine
from perfwatch.store.locks import advisory_key, db_lock
from perfwatch.store.migrate import _alembic_config, current_revision, upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request, tmp_path):
    """A database with no schema yet, so a test can stop the migrations at 0002."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"perfwatch_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def downgrade(engine, revision):
    from alembic import command

    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), revision)
        conn.commit()
    assert current_revision(engine) == revision


def announcements(engine):
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text("SELECT regression_id, channel, kind FROM announcements")))


def test_migration_carries_slack_state_over(empty_db):
    engine = make_engine(empty_db)
    upgrade(engine, "0002")
    ids = seed(engine)
    announced, resolved, fresh = ids["r1"][0], ids["r1"][1], ids["r2"][0]
    with engine.begin() as conn:  # what a 0002-era notifier left: two announced, one of them resolved and announced so
        conn.execute(text("UPDATE regressions SET announced_at = '2026-11-01 11:00:00+00:00' WHERE id IN (:a, :b)"),
                     {"a": announced, "b": resolved})
        conn.execute(text("UPDATE regressions SET state = 'resolved', resolved_announced_at = '2026-11-02 11:00:00+00:00' "
                          "WHERE id = :b"), {"b": resolved})
    upgrade(engine, "0003")
    assert current_revision(engine) == "0003"
    assert announcements(engine) == sorted([(announced, "slack", "raised"), (resolved, "slack", "raised"),
                                            (resolved, "slack", "resolved")])
    # Slack repeats nothing; a channel added now has everything open still to announce.
    assert [r["id"] for r in history.unannounced(engine)] == [fresh]
    assert history.unannounced(engine, resolved=True) == []
    assert [r["id"] for r in history.unannounced(engine, channel="webhook")] == [announced, fresh]
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT announced_at FROM regressions WHERE id = :a"), {"a": announced}).scalar()
    assert kept is not None  # the old column stays, for readers of 0002's schema

    history.mark_announced(engine, [fresh], channel="slack")
    history.mark_announced(engine, [fresh], channel="webhook")
    downgrade(engine, "0002")  # down again: Slack's state goes back into the columns
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, announced_at FROM regressions")).all())
    assert rows[fresh] is not None and rows[announced] is not None


def test_marks_are_per_channel_and_idempotent(db_url):
    engine = make_engine(db_url)
    ids = seed(engine)
    r1 = ids["r1"]
    history.mark_announced(engine, r1, channel="webhook")
    history.mark_announced(engine, r1, channel="webhook")  # a second mark is a no-op, not an error
    assert announcements(engine) == sorted((i, "webhook", "raised") for i in r1)
    assert {r["id"] for r in history.unannounced(engine, channel="webhook")} == set(ids["r2"])
    assert len(history.unannounced(engine, channel="slack")) == 3
    by_id = {r["id"]: r for r in history.list_regressions(engine)}
    assert all(by_id[i]["announced_at"] is None for i in r1)  # the legacy column is Slack's alone
    history.mark_announced(engine, r1, channel="slack")
    by_id = {r["id"]: r for r in history.list_regressions(engine)}
    assert all(by_id[i]["announced_at"] is not None for i in r1)


def test_db_lock_serializes_one_name_only(db_url):
    engine = make_engine(db_url)
    events = []

    def hold(name, tag):
        with db_lock(engine, name):
            events.append(("in", tag))
            time.sleep(0.3)
            events.append(("out", tag))

    threads = [threading.Thread(target=hold, args=("notify", t)) for t in ("a", "b")]
    for t in threads:
        t.start()
    time.sleep(0.1)  # one of them holds "notify" now
    with db_lock(engine, "migrate"):  # another name does not wait for it
        events.append(("other", None))
    for t in threads:
        t.join(10)
    assert events[1] == ("other", None)
    kinds = [e[0] for e in events if e[0] != "other"]
    assert kinds == ["in", "out", "in", "out"]  # never both inside at once
    assert advisory_key("notify") != advisory_key("migrate") and -2**63 <= advisory_key("notify") < 2**63
