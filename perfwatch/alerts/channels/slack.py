"""The Slack channel: an announcement as a Block Kit message, posted to an incoming webhook.

``render`` is pure, so its output is golden-file tested (tests/golden/alerts_*.json). Slack's
limits (https://api.slack.com/reference/block-kit/blocks) are respected by construction: at
most MAX_LINES metric lines of at most MAX_LINE characters, packed into sections of at most
MAX_SECTION characters, so a message stays far below MAX_BLOCKS blocks.
"""

from __future__ import annotations

from typing import Any

from perfwatch.alerts.announcement import Announcement, Item, count, figure, pct
from perfwatch.alerts.poster import JsonPoster

NAME = "slack"
LABEL = "Slack"  # in summaries: "sent 2 Slack message(s)"
SETTING = "slack_webhook"  # the Config field holding the webhook URL ($PERFWATCH_SLACK_WEBHOOK)
MISSING = ("no Slack webhook configured: export PERFWATCH_SLACK_WEBHOOK=https://hooks.slack.com/services/... "
           "(or slack_webhook in perfwatch.toml); see docs/alerts.md")

MAX_BLOCKS = 50
MAX_SECTION = 3000  # characters of a section's text (and of the top-level `text` we send)
MAX_HEADER = 150
MAX_FIELD = 2000
MAX_LINES = 8  # findings shown: a digest, the rest counted ("… and 12 more findings") with the dashboard link
MAX_ALSO = 4  # evidence shown per finding ("also: throughput −20.1%, …")
MAX_LINE = 400

_NEW_WEBHOOK = "create a new incoming webhook and set PERFWATCH_SLACK_WEBHOOK (see docs/alerts.md)"


class SlackWebhook(JsonPoster):
    service = "Slack"
    hook = "Slack webhook"
    setting = "PERFWATCH_SLACK_WEBHOOK"
    refused = "Slack refused the message"
    hints = {  # Slack's documented webhook errors -> what to do
        "no_service": "the webhook was revoked or its Slack app removed: " + _NEW_WEBHOOK,
        "invalid_token": "the webhook's token is invalid: " + _NEW_WEBHOOK,
        "channel_not_found": "the webhook's channel no longer exists: " + _NEW_WEBHOOK,
        "channel_is_archived": "the webhook's channel is archived: unarchive it or " + _NEW_WEBHOOK,
        "action_prohibited": "a workspace admin restricted posting to the webhook's channel",
        "posting_to_general_channel_denied": "only admins may post to that channel: " + _NEW_WEBHOOK,
        "invalid_payload": "Slack could not read this message (a perfwatch bug: please report it)",
        "too_many_attachments": "Slack refused this message as too large (a perfwatch bug: please report it)",
    }


Sender = SlackWebhook


def render(a: Announcement) -> dict[str, Any]:
    """The Block Kit payload (``{"text", "blocks"}``) of one announcement."""
    rows = a.findings or tuple((i, ()) for i in a.items)
    n = len(rows)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(("✅ " if a.resolved else "🔴 ") + a.title, MAX_HEADER),
                                    "emoji": True}},
        {"type": "section", "fields": _run_fields(a)},
    ]
    blocks += [_section(text) for text in _pack([_line(lead, also) for lead, also in rows[:MAX_LINES]])]
    if n > MAX_LINES:
        more = f"… and {count(n - MAX_LINES, 'more finding')} in this run"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more + (" (see the dashboard)" if a.dashboard_url else "")}]})
    if a.backlog:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(_esc(a.backlog.text), MAX_SECTION)}]})
    shown = "" if n <= MAX_LINES else " (the findings shown)"
    command = _esc(a.reproduce([lead for lead, _ in rows[:MAX_LINES]]))
    blocks.append(_section(_cut(f"*Reproduce*{shown}\n```{command}```", MAX_SECTION, tail="```")))
    if a.dashboard_url:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in dashboard"}, "url": a.dashboard_url}]})
    return {"text": _fallback(a), "blocks": blocks}


def _run_fields(a: Announcement) -> list[dict[str, str]]:
    run = f"`{_code(a.run_id)}`"
    if a.detected_at_runs:  # the online detector confirms a change some runs after it started
        run += " (detected at " + ", ".join(f"`{_code(x)}`" for x in a.detected_at_runs) + ")"
    commit = f"`{_code(a.git_sha[:12])}`" if a.git_sha else "unknown"
    if a.git_branch:
        commit += f" on `{_code(a.git_branch)}`"
    when = a.started_at.strftime("%Y-%m-%d %H:%M UTC") if a.started_at else "unknown"
    fields = [("Run", run), ("Commit", commit), ("torch", _esc(a.torch_version or "unknown")),
              ("GPU", _esc(a.gpu or "none (CPU)")), ("Backend / size", _esc(f"{a.backend} / {a.size or '?'}")),
              ("When", when)]
    return [{"type": "mrkdwn", "text": _cut(f"*{name}*\n{value}", MAX_FIELD)} for name, value in fields]


def _line(r: Item, also: tuple[Item, ...] = ()) -> str:
    where = " · ".join(x for x in (r.mode, r.backend, r.dtype, r.params) if x)
    line = (f"• `{_code(r.benchmark)}` {_esc(where)} — *{_esc(r.label)}* "
            f"{_esc(figure(r.before, r.unit))} → {_esc(figure(r.after, r.unit))}: *{pct(r.change)}* "
            f"({_confidence(r)})")
    if also:
        shown = ", ".join(f"{_esc(e.label)} {pct(e.change)}" for e in also[:MAX_ALSO])
        line += f"\n     also: {shown}" + (f" and {len(also) - MAX_ALSO} more" if len(also) > MAX_ALSO else "")
    return _cut(line, MAX_LINE)


def _pack(lines: list[str]) -> list[str]:
    """Lines joined into as few section texts as fit MAX_SECTION each."""
    out: list[str] = []
    for line in lines:
        if out and len(out[-1]) + 1 + len(line) <= MAX_SECTION:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fallback(a: Announcement) -> str:
    """The top-level `text`: what notifications and clients without blocks show (the link is
    left to the button: a bare URL with `&` in it would need Slack's escaping rules)."""
    worst = a.leads[0]
    return _cut(_esc(f"{a.title}, run {a.run_id}. Worst: {worst.benchmark} [{worst.mode}] "
                     f"{worst.label} {pct(worst.change)}."), MAX_SECTION)


def _confidence(r: Item) -> str:
    if r.exact:
        return "exact counter"  # graph breaks, accuracy: the change is a fact, not an estimate
    if r.pvalue < 0.001:  # a measured metric's p rounds to 0 at most; never "exact"
        return "confidence >99.9%"
    return f"confidence {(1 - r.pvalue) * 100:.1f}%"


def _esc(s: str) -> str:
    """Slack's three control characters in mrkdwn text."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(s: str) -> str:
    """Text inside `code`: a backtick would end the span early."""
    return _esc(s).replace("`", "'")


def _cut(s: str, limit: int, tail: str = "") -> str:
    if len(s) <= limit:
        return s
    return s[: limit - 1 - len(tail)] + "…" + tail
