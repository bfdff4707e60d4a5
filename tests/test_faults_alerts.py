"""Issue 20, item 12: an alert's timeout bounds the whole request, not each read.

A local server answers one byte at a time, each byte well within the socket timeout, so that a
complete answer would take minutes. The sender must give up at its deadline, cut the connection,
and leave the regressions pending (AlertError, exit 4). Bounds on elapsed time are generous: the
point is giving up long before the trickle ends, not a precise figure.
"""

from __future__ import annotations

import time

import pytest
from conftest import run_cli
from fake_http import ScriptedServer
from test_alerts_slack import FakeSlack, seed

from perfwatch.alerts.channels import channel
from perfwatch.alerts.channels.slack import SlackWebhook
from perfwatch.alerts.channels.webhook import JsonWebhook
from perfwatch.alerts.notify import notify_pending
from perfwatch.alerts.poster import WebhookUnavailable
from perfwatch.domain.errors import EXIT_ALERT, AlertError
from perfwatch.store import history
from perfwatch.store.engine import make_engine

PAYLOAD = {"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]}


class AnyJson(ScriptedServer):
    default = 200

    def response(self, item):
        return item, b"", {}


@pytest.fixture(autouse=True)
def _no_other_channel(monkeypatch):
    monkeypatch.delenv("PERFWATCH_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("PERFWATCH_SLACK_WEBHOOK", raising=False)


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def wait_for(cond, seconds=15.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def full_trickle_s(fake, every):
    return len(fake.trickle_reply()) * every


@pytest.mark.parametrize("sender", [SlackWebhook, JsonWebhook])
def test_a_trickled_answer_is_cut_at_the_deadline(sender, slack):
    fake = slack if sender is SlackWebhook else AnyJson()
    try:
        every = 0.4  # each read gets a byte in 0.4 s: a 1 s socket timeout alone never fires
        assert full_trickle_s(fake, every) > 30
        fake.reply(("trickle", every), ("trickle", every))
        sleeps = []
        with pytest.raises(WebhookUnavailable, match=r"failed 2 time.*no complete answer within 1 s"):
            sender(fake.url, timeout=1.0, max_attempts=2, sleep=sleeps.append).send(PAYLOAD)
        assert sleeps == [1.0] and len(fake.requests) == 2
        # the connection was cut: the server saw the client hang up mid-answer, both times
        assert wait_for(lambda: len(fake.trickled) == 2)
        assert [done for _, done in fake.trickled] == [False, False]
    finally:
        if fake is not slack:
            fake.close()


def test_a_2xx_whose_body_stalls_is_delivered_once(slack):
    # The status is the service's answer: a body that never completes must not make perfwatch
    # post the same message again.
    head = len(slack.trickle_reply()) - 2  # status and headers at once, then "ok" a byte every 30 s
    slack.reply(("trickle", 30.0, head))
    sleeps = []
    SlackWebhook(slack.url, timeout=1.0, max_attempts=3, sleep=sleeps.append).send(PAYLOAD)
    assert len(slack.requests) == 1 and sleeps == []


def test_notify_leaves_trickled_regressions_pending(db_url, slack):
    engine = make_engine(db_url)
    seed(engine)
    slack.reply(*[("trickle", 0.4)] * 4)
    result = notify_pending(engine, [channel("slack", SlackWebhook(slack.url, timeout=1.0, max_attempts=2,
                                                                   sleep=lambda s: None))], None)
    assert wait_for(lambda: len(slack.trickled) == 2) and not any(done for _, done in slack.trickled)
    assert result.sent_messages == 0 and len(result.pending) == 3 and "no complete answer" in result.errors[0]
    with pytest.raises(AlertError) as err:
        result.raise_for_errors()
    assert err.value.exit_code == EXIT_ALERT
    assert len(history.unannounced(engine)) == 3  # nothing marked announced: the next notify sends them


@pytest.mark.slow
def test_cli_notify_gives_up_on_a_trickling_slack(sqlite_url, slack):
    """The command as documented: 10 s per attempt, 5 attempts, backoff 1+2+4+8 s (about 65 s in
    all) against an answer that would take 5 minutes per attempt. Marked slow for its minute."""
    from perfwatch.store.migrate import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)  # `perfwatch run` would have made the store; seed() writes straight into it
    seed(engine)
    every = 3.0
    assert full_trickle_s(slack, every) > 240
    slack.reply(*[("trickle", every)] * 5)
    res = run_cli("notify", "--channel", "slack", "--db", sqlite_url, env={"PERFWATCH_SLACK_WEBHOOK": slack.url},
                  timeout=200)
    assert res.returncode == EXIT_ALERT, res.stderr
    assert "no complete answer within 10 s" in res.stderr and "stay pending" in res.stderr
    assert wait_for(lambda: len(slack.trickled) == 5)
    assert not any(done for _, done in slack.trickled)  # it hung up on every attempt, never waited one out
    assert len(history.unannounced(make_engine(sqlite_url))) == 3
