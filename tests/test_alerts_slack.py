"""Sending alerts to a local server that behaves like Slack's incoming-webhook endpoint.

The server answers each POST from a script (200 ok, 429 + Retry-After, 500, a timeout, 404
no_service, 400 invalid_payload), then 200 ok; it records every request. Backoff sleeps are
injected, so nothing here waits for real (the timeout case waits the client's 0.3 s).
"""

import json
import threading

import pytest
from fake_http import ScriptedServer
from conftest import REPO, TABLES, run_cli
from sqlalchemy import text
from test_alerts_message import check_limits
from test_store import make_case, make_run

from perfwatch.alerts.channels import channel, from_config
from perfwatch.alerts.channels.slack import SlackWebhook
from perfwatch.alerts.notify import notify_pending
from perfwatch.alerts.poster import WebhookRejected, WebhookUnavailable
from perfwatch.domain.config import Config
from perfwatch.domain.errors import AlertError
from perfwatch.store import history, writes
from perfwatch.store.engine import make_engine

SECRET = "T0SECRET/B0SECRET/xoxSecretToken42"


class FakeSlack(ScriptedServer):
    """Slack's webhook endpoint on 127.0.0.1 (a free port)."""

    path = f"/services/{SECRET}"
    default = "ok"
    refused = (400, "invalid_payload")  # like Slack: a malformed message is refused whatever else happens

    @property
    def delivered(self):
        """Payloads Slack accepted (answered 200 ok): what the channel shows."""
        return [p for r, p in self.requests if r == "ok"]

    def well_formed(self, path, headers, payload):
        return path == self.path and isinstance(payload, dict) and bool(payload.get("text") or payload.get("blocks"))

    def response(self, item):
        status, body, headers = 200, "ok", {"Content-Type": "text/html"}
        if item == "500":
            status, body = 500, "rollup_error"
        elif isinstance(item, tuple) and item[0] == 429:
            status, body, headers = 429, "rate_limited", {**headers, "Retry-After": str(item[1])}
        elif isinstance(item, tuple):
            status, body = item
        return status, body.encode(), headers


@pytest.fixture(autouse=True)
def _no_other_channel(monkeypatch):
    """A webhook exported in the developer's shell must not receive these tests' alerts."""
    monkeypatch.delenv("PERFWATCH_WEBHOOK_URL", raising=False)


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def hook(fake, sleeps=None, **kw):
    return SlackWebhook(fake.url, timeout=kw.pop("timeout", 0.3), sleep=(sleeps if sleeps is not None else []).append, **kw)


def on_slack(fake, sleeps=None, **kw):
    """The channel list `perfwatch notify` builds when only Slack is configured."""
    return [channel("slack", hook(fake, sleeps, **kw))]


PAYLOAD = {"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]}


# -- the sender alone -----------------------------------------------------------------------------

def test_ok_is_sent_once(slack):
    sleeps = []
    hook(slack, sleeps).send(PAYLOAD)
    assert slack.requests == [("ok", PAYLOAD)] and sleeps == []


def test_429_waits_retry_after(slack):
    sleeps = []
    slack.reply((429, 7))
    hook(slack, sleeps).send(PAYLOAD)
    assert [r for r, _ in slack.requests] == [(429, 7), "ok"] and sleeps == [7.0]


def test_5xx_backs_off_then_delivers(slack):
    sleeps = []
    slack.reply("500", "500")
    hook(slack, sleeps).send(PAYLOAD)
    assert len(slack.requests) == 3 and slack.delivered == [PAYLOAD] and sleeps == [1.0, 2.0]


def test_5xx_gives_up_after_max_attempts(slack):
    sleeps = []
    slack.reply(*["500"] * 5)
    with pytest.raises(WebhookUnavailable, match="failed 5 time.*HTTP 500 rollup_error"):
        hook(slack, sleeps, max_attempts=5).send(PAYLOAD)
    assert len(slack.requests) == 5 and slack.delivered == [] and sleeps == [1.0, 2.0, 4.0, 8.0]


def test_timeout_is_retried(slack):
    sleeps = []
    slack.reply("timeout")
    hook(slack, sleeps).send(PAYLOAD)
    assert [r for r, _ in slack.requests] == ["timeout", "ok"] and sleeps == [1.0]


def test_404_no_service_gives_up_at_once_with_a_clear_message(slack):
    sleeps = []
    slack.reply((404, "no_service"))
    with pytest.raises(WebhookRejected, match="HTTP 404 no_service: the webhook was revoked.*PERFWATCH_SLACK_WEBHOOK") as exc:
        hook(slack, sleeps).send(PAYLOAD)
    assert len(slack.requests) == 1 and sleeps == [] and not exc.value.payload_at_fault


def test_400_invalid_payload_is_not_retried(slack):
    with pytest.raises(WebhookRejected, match="400 invalid_payload") as exc:
        hook(slack).send({"nothing": "useful"})
    assert len(slack.requests) == 1 and exc.value.payload_at_fault


def test_a_long_retry_after_is_not_waited_for(slack):
    sleeps = []
    slack.reply((429, 3600))
    with pytest.raises(WebhookUnavailable, match="wait 3600 s"):
        hook(slack, sleeps).send(PAYLOAD)
    assert len(slack.requests) == 1 and sleeps == []


def test_unreachable_and_bad_urls():
    sleeps = []
    free = FakeSlack()
    url = free.url
    free.close()  # nothing listens there any more
    with pytest.raises(WebhookUnavailable, match="cannot connect"):
        SlackWebhook(url, max_attempts=2, sleep=sleeps.append).send(PAYLOAD)
    assert sleeps == [1.0]
    for bad in ("", "hooks.slack.com/services/x", f"http://hooks.slack.com/services/{SECRET}", "ftp://127.0.0.1/x"):
        with pytest.raises(AlertError, match="not an https:// URL") as exc:
            SlackWebhook(bad)
        assert SECRET not in str(exc.value)
    SlackWebhook(f"https://hooks.slack.com/services/{SECRET}")
    with pytest.raises(AlertError, match="no Slack webhook configured.*PERFWATCH_SLACK_WEBHOOK"):
        from_config(Config(), "slack")
    with pytest.raises(AlertError, match="no alert channel configured.*PERFWATCH_SLACK_WEBHOOK.*PERFWATCH_WEBHOOK_URL"):
        from_config(Config())


def test_the_url_never_appears_in_errors_logs_or_repr(slack, caplog):
    caplog.set_level("DEBUG")
    slack.reply("500", (429, 0), "timeout", (404, "no_service"))
    sender = hook(slack)
    with pytest.raises(AlertError) as exc:
        sender.send(PAYLOAD)
    assert "retrying" in caplog.text  # the retries were logged...
    for shown in (caplog.text, str(exc.value), repr(sender)):
        assert SECRET not in shown and "/services/" not in shown  # ...without the secret


# -- with the store -------------------------------------------------------------------------------

def seed(engine):
    """Two runs that regressed: r1 on two metrics, r2 on one. Returns {run_id: [regression ids]}."""
    ids = {}
    for n, run_id in enumerate(("r1", "r2")):
        run = make_run(run_id, f"2026-11-0{n + 1}T10:00:00+00:00")
        writes.write_run(engine, run)
        writes.write_case(engine, run, make_case(run, f"c{n}"))
        series = history.find_series(engine, run_id=run_id)[: 2 - n]
        ids[run_id] = history.record(engine, [
            dict(series_id=s["id"], run_id=run_id, ts=writes.parse_time(run.created_at), raised_run_id=run_id,
                 before=10.0, after=12.0, change=0.2, pvalue=0.001) for s in series])
    return ids


def runs_of(payloads):
    return [next(r for r in ("r1", "r2") if f"`{r}`" in json.dumps(p)) for p in payloads]


def test_each_run_is_announced_once(db_url, slack):
    engine = make_engine(db_url)
    ids = seed(engine)
    result = notify_pending(engine, on_slack(slack), "https://dash.example")
    assert result.ok and result.sent_messages == 2 and result.pending == ()
    assert sorted(result.announced_ids) == sorted(ids["r1"] + ids["r2"])
    assert runs_of(slack.delivered) == ["r1", "r2"]
    for p in slack.delivered:
        check_limits(p)
    # r1 regressed on step time and graph breaks: two groups of figures, two findings
    assert "2 findings" in slack.delivered[0]["blocks"][0]["text"]["text"]
    assert history.unannounced(engine) == []
    again = notify_pending(engine, on_slack(slack), None)
    assert again.sent_messages == 0 and again.summary() == "no regressions to announce"
    assert len(slack.requests) == 2


def test_slack_down_keeps_everything_pending_then_sends_once(db_url, slack):
    engine = make_engine(db_url)
    ids = seed(engine)
    slack.reply(*["500"] * 5)
    result = notify_pending(engine, on_slack(slack, max_attempts=5), None)
    assert not result.ok and result.sent_messages == 0 and result.announced_ids == ()
    assert sorted(result.pending) == sorted(ids["r1"] + ids["r2"])  # stopped: r2 would fail the same way
    assert len(slack.requests) == 5 and "still pending" in result.summary()
    with pytest.raises(AlertError, match="run r1: Slack webhook failed 5 time.*3 regression\\(s\\) stay pending"):
        result.raise_for_errors()
    assert len(history.unannounced(engine)) == 3
    retry = notify_pending(engine, on_slack(slack), None)  # Slack is back
    assert retry.ok and retry.sent_messages == 2
    assert runs_of(slack.delivered) == ["r1", "r2"]  # nothing lost, nothing twice


def test_revoked_webhook_stops_and_keeps_pending(db_url, slack):
    engine = make_engine(db_url)
    seed(engine)
    slack.reply((404, "no_service"))
    result = notify_pending(engine, on_slack(slack), None)
    assert len(slack.requests) == 1 and result.sent_messages == 0 and len(result.pending) == 3
    assert "no_service" in result.errors[0] and "revoked" in result.errors[0]
    assert len(history.unannounced(engine)) == 3


def test_rejected_message_is_skipped_the_others_go(db_url, slack):
    engine = make_engine(db_url)
    ids = seed(engine)
    slack.reply((400, "invalid_payload"), (429, 1), "timeout")
    result = notify_pending(engine, on_slack(slack), None)
    assert result.sent_messages == 1 and sorted(result.pending) == sorted(ids["r1"]) and "invalid_payload" in result.errors[0]
    assert runs_of(slack.delivered) == ["r2"]
    assert notify_pending(engine, on_slack(slack), None).sent_messages == 1
    assert runs_of(slack.delivered) == ["r2", "r1"]
    assert notify_pending(engine, on_slack(slack), None).sent_messages == 0


def test_resolved_is_announced_once_when_asked(db_url, slack):
    engine = make_engine(db_url)
    ids = seed(engine)
    history.set_state(engine, ids["r2"][0], "resolved")  # resolved before announced: never announced at all
    assert notify_pending(engine, on_slack(slack), None).sent_messages == 1
    history.set_state(engine, ids["r1"][0], "resolved")
    assert notify_pending(engine, on_slack(slack), None).sent_messages == 0  # not without the option
    result = notify_pending(engine, on_slack(slack), None, announce_resolved=True)
    assert result.sent_messages == 1 and result.announced_ids == (ids["r1"][0],)
    assert slack.delivered[-1]["blocks"][0]["text"]["text"].startswith("✅ Resolved: 1 finding")
    assert notify_pending(engine, on_slack(slack), None, announce_resolved=True).sent_messages == 0
    assert len(slack.delivered) == 2


def test_concurrent_notifiers_send_each_message_once(db_url, slack):
    seed(make_engine(db_url))
    slack.delay = 0.2  # both notifiers are in flight at the same time
    results = []
    threads = [threading.Thread(target=lambda: results.append(notify_pending(make_engine(db_url), on_slack(slack), None)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.sent_messages for r in results) == [0, 2]
    assert runs_of(slack.delivered) == ["r1", "r2"]


def test_no_sender_is_a_clear_error(db_url):
    with pytest.raises(AlertError, match="no alert channel configured"):
        notify_pending(make_engine(db_url), [], None)


# -- the command ---------------------------------------------------------------------------------

def assert_secret_nowhere(db_url, *outputs):
    for out in outputs:
        assert SECRET not in out and "/services/" not in out
    with make_engine(db_url).connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert SECRET not in str(rows), f"the webhook leaked into {table}"


def test_cli_notify(db_url, slack):
    seed(make_engine(db_url))
    env = {"PERFWATCH_SLACK_WEBHOOK": slack.url, "PERFWATCH_DASHBOARD_URL": "https://dash.example"}
    dry = run_cli("notify", "--dry-run", "--db", db_url, env=env)
    assert dry.returncode == 0, dry.stderr
    assert runs_of(json.loads(dry.stdout)) == ["r1", "r2"] and slack.requests == []

    slack.reply((404, "no_service"))
    failed = run_cli("notify", "--db", db_url, env=env)
    assert failed.returncode == 4
    assert "no_service" in failed.stderr and "3 regression(s) stay pending" in failed.stderr
    assert len(history.unannounced(make_engine(db_url))) == 3

    ok = run_cli("notify", "--db", db_url, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "sent 2 Slack message(s) announcing 3 regression(s)" in ok.stdout
    assert runs_of(slack.delivered) == ["r1", "r2"]
    assert slack.delivered[0]["blocks"][-1]["elements"][0]["url"] == "https://dash.example/?view=regressions&run=r1"
    again = run_cli("notify", "--db", db_url, env=env)
    assert again.returncode == 0 and "no regressions to announce" in again.stdout and len(slack.delivered) == 2
    assert_secret_nowhere(db_url, dry.stdout, dry.stderr, failed.stdout, failed.stderr, ok.stdout, ok.stderr)


def test_cli_notify_without_webhook(sqlite_url):
    res = run_cli("notify", "--db", sqlite_url)
    assert res.returncode == 4 and "no alert channel configured" in res.stderr
    res = run_cli("notify", "--channel", "slack", "--db", sqlite_url, env={"PERFWATCH_WEBHOOK_URL": "https://example.com/x"})
    assert res.returncode == 4 and "no Slack webhook configured" in res.stderr


# -- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_regression_makes_exactly_one_message(sqlite_url, slack):
    env = {"PERFWATCH_SLACK_WEBHOOK": slack.url}  # exported for every command, as a user would
    run = ["run", "--suite", str(REPO / "tests" / "data" / "fault_suite.py"), "--benchmarks", "add", "--modes", "eager", "--backend", "cpu",
           "--min-time", "0.05", "--db", sqlite_url,
           # a loose precision target: on a loaded machine a missed ±1% would make the slow run's
           # step time `imprecise`, which by design cannot raise the regression this test is about
           "--precision", "0.1"]
    for _ in range(4):
        # The baseline without the run's own gate: a microsecond step is noisy, and this test is
        # about the alert of the one real slowdown, not about the gate's threshold.
        res = run_cli(*run, "--no-detect", env=env)
        assert res.returncode == 0, res.stderr
    slow = run_cli(*run, "--notify", env={**env, "FAULT_SUITE_SLEEP": "0.002"})
    assert slow.returncode == 0, slow.stderr
    slow_run = next(line.split()[1].rstrip(":") for line in slow.stdout.splitlines() if line.startswith("run "))
    assert len(slack.requests) == 1 and len(slack.delivered) == 1  # the run announced its own regression
    [payload] = slack.delivered
    check_limits(payload)
    body = json.dumps(payload)
    assert f"`{slow_run}`" in body and "*step time*" in body and f"--suite {REPO / 'tests' / 'data' / 'fault_suite.py'} --benchmarks add --modes eager" in body

    detect = run_cli("detect", "--db", sqlite_url, env=env)  # found again: stored once, not re-announced
    assert detect.returncode == 0, detect.stderr
    sent = run_cli("notify", "--db", sqlite_url, env=env)
    assert sent.returncode == 0, sent.stderr
    again = run_cli("notify", "--db", sqlite_url, env=env)
    assert again.returncode == 0 and "no regressions to announce" in again.stdout
    assert len(slack.requests) == 1
    assert_secret_nowhere(sqlite_url, *(r.stdout + r.stderr for r in (slow, detect, sent, again)))
