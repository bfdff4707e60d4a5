"""The generic JSON webhook channel against a local server that behaves like a receiver (an
incident tool, a Teams/Discord relay): its document, its retries, and per-channel exactly-once
beside Slack (each channel gets each regression once, whatever the other one does).
"""

import json
import threading

import pytest
from conftest import run_cli
from fake_http import ScriptedServer
from test_alerts_message import DASHBOARD, golden, reg, two_runs
from test_alerts_slack import FakeSlack, hook, runs_of, seed

from perfwatch.alerts.announcement import build_announcements
from perfwatch.alerts.channels import REGISTRY, channel, from_config, selected
from perfwatch.alerts.channels.webhook import MAX_ITEMS, JsonWebhook, render
from perfwatch.alerts.notify import notify_pending
from perfwatch.alerts.poster import WebhookRejected, WebhookUnavailable
from perfwatch.commands.notify import CHANNEL_CHOICES
from perfwatch.domain.config import Config
from perfwatch.domain.errors import AlertError
from perfwatch.store import history
from perfwatch.store.engine import make_engine

TOKEN = "whsec_0123456789abcdefSECRET"
ITEM_KEYS = {"id", "suite", "benchmark", "mode", "backend", "dtype", "params", "metric", "label", "unit", "direction",
             "before", "after", "change", "confidence", "exact", "run_id", "raised_run_id", "raised_at", "dashboard_url",
             "reproduce", "finding", "lead"}


class FakeReceiver(ScriptedServer):
    """A JSON webhook receiver on 127.0.0.1: answers 202 (or what the script says), records
    every request, refuses with 400 what is not a perfwatch document."""

    path = f"/hooks/{TOKEN}"
    default = 202
    refused = 400

    @property
    def delivered(self):
        return [doc for r, doc in self.requests if r == 202]

    def well_formed(self, path, headers, doc):
        return (path == self.path and headers.get("Content-Type", "").startswith("application/json")
                and doc.get("source") == "perfwatch" and isinstance(doc.get("items"), list))

    def response(self, item):
        status, headers = (429, {"Retry-After": str(item[1])}) if isinstance(item, tuple) else (item, {})
        return status, b"" if status == 202 else b'{"error": "nope"}', headers


@pytest.fixture(autouse=True)
def _only_the_channels_a_test_sets(monkeypatch):
    monkeypatch.delenv("PERFWATCH_WEBHOOK_URL", raising=False)


@pytest.fixture
def receiver():
    fake = FakeReceiver()
    yield fake
    fake.close()


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def web(fake, sleeps=None, **kw):
    return JsonWebhook(fake.url, timeout=kw.pop("timeout", 0.3), sleep=(sleeps if sleeps is not None else []).append, **kw)


def both(slack, receiver, **kw):
    return [channel("slack", hook(slack, **kw)), channel("webhook", web(receiver, **kw))]


def doc_runs(docs):
    return [d["run"]["id"] for d in docs]


# -- the document ---------------------------------------------------------------------------------

def test_the_document_follows_the_schema():
    docs = [render(a) for a in build_announcements(two_runs(), DASHBOARD)]
    assert [d["run"]["id"] for d in docs] == ["20261101-100000-a1b2", "20261102-100000-c3d4"]
    for d in docs:
        json.dumps(d, allow_nan=False)  # no Infinity/NaN: strict JSON parsers refuse those
        assert d["source"] == "perfwatch" and d["version"] == 1 and d["kind"] == "regressions"
        assert d["total"] == len(d["items"]) == 2
        for item in d["items"]:
            assert set(item) == ITEM_KEYS
            assert item["dashboard_url"] == DASHBOARD + "?view=regressions&run=" + d["run"]["id"]
            assert item["reproduce"].startswith(f"perfwatch run --suite llm --benchmarks {item['benchmark']} --modes {item['mode']} ")
    first, second = docs
    # Most severe finding first (a slower step outranks a bigger change of an uncatalogued figure),
    # labels and units from the metric catalogue (or derived from the unit when it has no entry).
    assert [i["metric"] for i in first["items"]] == ["step_time", "peak_memory"]
    assert first["findings"] == 2 and all(i["lead"] and i["finding"] == i["id"] for i in first["items"])
    step = first["items"][0]
    assert step["label"] == "step time" and step["unit"] == "ms" and step["direction"] == "lower_is_better"
    assert (step["before"], step["after"], step["change"]) == (10.0, 12.5, 0.25)
    assert step["confidence"] == pytest.approx(0.9996) and step["exact"] is False
    # a measured figure whose p-value is 0 is certain, never "exact": only counters are
    assert first["items"][1]["exact"] is False and first["items"][1]["confidence"] == 1.0
    # a 30% slower compile outranks 3 recompiles of another case (a counter's change counts as 25%)
    compile_time, recompiles = second["items"]
    assert recompiles["label"] == "recompilations" and recompiles["change"] is None  # 0 -> 3 is +inf
    assert recompiles["params"] == '{"seq": 128}' and compile_time["params"] is None
    assert first["run"]["detected_at_runs"] == ["20261103-090000-e5f6"]
    assert first["run"]["started_at"] == "2026-11-01T10:00:00+00:00"
    assert first["text"] == ("Performance regression: 2 findings in llm on gpu-runner-3, run 20261101-100000-a1b2. "
                             "Worst: train [eager] step time 10 ms → 12.5 ms (+25.0%).")
    assert second["text"].endswith("Worst: inference [default] compile time (cold) 40 s → 52 s (+30.0%).")
    golden("webhook_two_runs", docs)


def test_resolved_and_long_documents():
    [d] = [render(a) for a in build_announcements([reg(1, state="resolved")], None, resolved=True)]
    assert d["kind"] == "resolved" and d["text"].startswith("Resolved: 1 finding in llm")
    assert d["run"]["dashboard_url"] is None and d["items"][0]["dashboard_url"] is None
    regs = [reg(i, benchmark=f"b{i:03d}", change=i / 1000) for i in range(1, MAX_ITEMS + 21)]
    [d] = [render(a) for a in build_announcements(regs, None)]
    assert d["total"] == MAX_ITEMS + 20 and len(d["items"]) == MAX_ITEMS
    assert d["items"][0]["benchmark"] == f"b{MAX_ITEMS + 20:03d}"  # the worst are kept


# -- the sender -----------------------------------------------------------------------------------

def test_accepted_is_any_2xx_and_retries_are_slacks(receiver):
    doc = {"source": "perfwatch", "items": []}
    sleeps = []
    web(receiver, sleeps).send(doc)
    receiver.reply((429, 3), 500, "timeout")
    web(receiver, sleeps).send(doc)
    assert [r for r, _ in receiver.requests] == [202, (429, 3), 500, "timeout", 202]
    assert sleeps == [3.0, 2.0, 4.0]  # Retry-After, then the backoff (which doubled meanwhile, as for Slack)


def test_gives_up_and_refusals(receiver, caplog):
    doc = {"source": "perfwatch", "items": []}
    receiver.reply(*[503] * 5)
    with pytest.raises(WebhookUnavailable, match="JSON webhook failed 5 time.*HTTP 503"):
        web(receiver).send(doc)
    receiver.reply(413)
    with pytest.raises(WebhookRejected, match="HTTP 413") as exc:
        web(receiver).send(doc)
    assert exc.value.payload_at_fault  # too large: this message, the next may go
    receiver.reply(404)
    with pytest.raises(WebhookRejected, match="the webhook endpoint answered HTTP 404") as exc:
        web(receiver).send(doc)
    assert not exc.value.payload_at_fault
    for shown in (caplog.text, str(exc.value), repr(web(receiver))):
        assert TOKEN not in shown
    with pytest.raises(AlertError, match=r"JSON webhook \(PERFWATCH_WEBHOOK_URL\) is not an https:// URL"):
        JsonWebhook(f"http://hooks.example.com/{TOKEN}")


def test_registry_and_configuration(receiver):
    assert set(CHANNEL_CHOICES) == set(REGISTRY) | {"all"}  # the CLI offers every registered channel
    cfg = Config(webhook_url=receiver.url)
    assert [c.name for c in from_config(cfg)] == ["webhook"]
    assert [c.name for c in from_config(Config(slack_webhook="https://hooks.slack.com/x", webhook_url=receiver.url))] == [
        "slack", "webhook"]
    with pytest.raises(AlertError, match="no JSON webhook configured.*PERFWATCH_WEBHOOK_URL"):
        from_config(Config(slack_webhook="https://hooks.slack.com/x"), "webhook")
    assert selected(Config(), None) == list(REGISTRY) and selected(cfg, "all") == ["webhook"]


# -- exactly once per channel ------------------------------------------------------------------

def test_each_channel_gets_each_regression_once(db_url, slack, receiver):
    engine = make_engine(db_url)
    ids = seed(engine)
    result = notify_pending(engine, both(slack, receiver), "https://dash.example")
    assert result.ok and result.sent_messages == 4
    assert result.summary() == ("sent 2 Slack message(s) announcing 3 regression(s); "
                                "sent 2 webhook message(s) announcing 3 regression(s)")
    assert runs_of(slack.delivered) == ["r1", "r2"] and doc_runs(receiver.delivered) == ["r1", "r2"]
    assert sorted(i["id"] for d in receiver.delivered for i in d["items"]) == sorted(ids["r1"] + ids["r2"])
    again = notify_pending(engine, both(slack, receiver), "https://dash.example")
    assert again.sent_messages == 0 and again.summary() == "no regressions to announce"
    assert len(slack.requests) == 2 and len(receiver.requests) == 2


def test_one_channel_down_does_not_hold_back_the_other(db_url, slack, receiver):
    engine = make_engine(db_url)
    seed(engine)
    slack.reply(*["500"] * 5)
    result = notify_pending(engine, both(slack, receiver), None)
    assert not result.ok and [c.sent_messages for c in result.channels] == [0, 2]
    assert len(result.pending) == 3 and "Slack webhook failed 5 time" in result.errors[0]
    assert history.unannounced(engine, channel="webhook") == [] and len(history.unannounced(engine, channel="slack")) == 3
    retry = notify_pending(engine, both(slack, receiver), None)
    assert retry.ok and [c.sent_messages for c in retry.channels] == [2, 0]
    assert runs_of(slack.delivered) == ["r1", "r2"] and doc_runs(receiver.delivered) == ["r1", "r2"]


def test_a_new_channel_catches_up_and_resolutions_follow_each_channel(db_url, slack, receiver):
    engine = make_engine(db_url)
    ids = seed(engine)
    assert notify_pending(engine, [channel("slack", hook(slack))], None).sent_messages == 2
    history.set_state(engine, ids["r1"][0], "resolved")
    # The webhook never announced r1's regression, so it announces no resolution of it either;
    # it does get what is still open (r1's other metric, r2).
    result = notify_pending(engine, both(slack, receiver), None, announce_resolved=True)
    assert [(c.channel, c.sent_messages) for c in result.channels] == [("slack", 1), ("webhook", 2)]
    assert slack.delivered[-1]["blocks"][0]["text"]["text"].startswith("✅ Resolved: 1 finding")
    assert [d["kind"] for d in receiver.delivered] == ["regressions", "regressions"]
    assert sorted(i["id"] for d in receiver.delivered for i in d["items"]) == sorted([ids["r1"][1]] + ids["r2"])


def test_concurrent_notifiers_on_two_channels(db_url, slack, receiver):
    seed(make_engine(db_url))
    slack.delay = receiver.delay = 0.15
    results = []
    threads = [threading.Thread(target=lambda: results.append(notify_pending(make_engine(db_url), both(slack, receiver), None)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.sent_messages for r in results) == [0, 4]
    assert runs_of(slack.delivered) == ["r1", "r2"] and doc_runs(receiver.delivered) == ["r1", "r2"]


# -- the command ---------------------------------------------------------------------------------

def test_cli_channel_flag(sqlite_url, slack, receiver):
    from perfwatch.store.migrate import upgrade

    upgrade(make_engine(sqlite_url))
    seed(make_engine(sqlite_url))
    env = {"PERFWATCH_SLACK_WEBHOOK": slack.url, "PERFWATCH_WEBHOOK_URL": receiver.url}
    dry = run_cli("notify", "--dry-run", "--channel", "webhook", "--db", sqlite_url, env=env)
    assert dry.returncode == 0, dry.stderr
    assert doc_runs(json.loads(dry.stdout)) == ["r1", "r2"] and receiver.requests == []
    only = run_cli("notify", "--channel", "webhook", "--db", sqlite_url, env=env)
    assert only.returncode == 0, only.stderr
    assert "sent 2 webhook message(s) announcing 3 regression(s)" in only.stdout
    assert doc_runs(receiver.delivered) == ["r1", "r2"] and slack.requests == []
    rest = run_cli("notify", "--db", sqlite_url, env=env)  # default: every configured channel; the webhook has all
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.strip() == "sent 2 Slack message(s) announcing 3 regression(s)"
    assert len(receiver.requests) == 2 and runs_of(slack.delivered) == ["r1", "r2"]
    bad = run_cli("notify", "--channel", "pager", "--db", sqlite_url, env=env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    for out in (dry, only, rest):
        assert TOKEN not in out.stdout + out.stderr
