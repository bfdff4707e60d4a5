"""Slack Block Kit messages for regressions: a pure function of the stored regression rows.

One message per run that regressed (the run where the change was first seen), built from the
dicts of ``perfwatch.store.history.list_regressions``/``unannounced``. No I/O here, so the output
is golden-file tested (tests/golden/) and the sender stays a small, swappable piece.

Slack's limits (https://api.slack.com/reference/block-kit/blocks) are respected by construction:
at most MAX_LINES metric lines of at most MAX_LINE characters, packed into sections of at most
MAX_SECTION characters, so a message stays far below MAX_BLOCKS blocks.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlencode

MAX_BLOCKS = 50
MAX_SECTION = 3000  # characters of a section's text (and of the top-level `text` we send)
MAX_HEADER = 150
MAX_FIELD = 2000
MAX_LINES = 15  # metric lines shown; the rest are counted ("… and 12 more")
MAX_LINE = 400


def group_by_run(regressions: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Regressions grouped by the run where they were first seen, oldest run first (a backlog
    then reads in the order it happened)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in regressions:
        groups.setdefault(r["run_id"], []).append(r)
    return sorted(groups.values(), key=lambda g: (min(str(r["ts"]) for r in g), g[0]["run_id"]))


def build_messages(regressions: list[dict[str, Any]], dashboard_url: str | None,
                   resolved: bool = False) -> list[dict[str, Any]]:
    """One Block Kit payload (``{"text", "blocks"}``) per run, oldest run first."""
    return [build_message(group, dashboard_url, resolved) for group in group_by_run(regressions)]


def build_message(group: list[dict[str, Any]], dashboard_url: str | None, resolved: bool = False) -> dict[str, Any]:
    """The payload for the regressions of one run (all share run_id, machine and commit)."""
    rows = sorted(group, key=_severity)
    first = rows[0]
    n = len(rows)
    host = first.get("hostname") or "unknown host"
    title = (f"Resolved: {_count(n, 'regression')} in {first['suite']} on {host}" if resolved
             else f"Performance regression: {_count(n, 'metric')} worse in {first['suite']} on {host}")
    link = dashboard_link(dashboard_url, first["run_id"])

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(("✅ " if resolved else "🔴 ") + title, MAX_HEADER),
                                    "emoji": True}},
        {"type": "section", "fields": _run_fields(rows)},
    ]
    blocks += [_section(text) for text in _pack([_line(r) for r in rows[:MAX_LINES]])]
    if n > MAX_LINES:
        more = f"… and {_count(n - MAX_LINES, 'more regression')} in this run"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more + (" (see the dashboard)" if link else "")}]})
    shown = "" if n <= MAX_LINES else " (the regressions shown)"
    command = _esc(reproduce_command(rows[:MAX_LINES]))
    blocks.append(_section(_cut(f"*Reproduce*{shown}\n```{command}```", MAX_SECTION, tail="```")))
    if link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in dashboard"}, "url": link}]})
    return {"text": _fallback(title, rows), "blocks": blocks}


def dashboard_link(base: str | None, run_id: str) -> str | None:
    """The dashboard's regressions view filtered to one run (it reads view/run query params)."""
    if not base:
        return None
    return base.rstrip("/") + "/?" + urlencode({"view": "regressions", "run": run_id})


def reproduce_command(rows: list[dict[str, Any]]) -> str:
    """`perfwatch run` limited to the regressed benchmarks and modes of one run."""
    from perfwatch.domain.reproduce import run_command

    first = rows[0]
    dtypes = {r.get("dtype") for r in rows} - {None, "float32"}
    # float32 is the default; a mix of other dtypes cannot be one command: leave --dtype out then.
    command = run_command(first["suite"], (r["benchmark"] for r in rows), (r["mode"] for r in rows), first["backend"],
                          first.get("size"), dtypes.pop() if len(dtypes) == 1 else None, first.get("run_command"))
    return command.replace("`", "'")


# -- pieces ----------------------------------------------------------------------------------

def _severity(r: dict[str, Any]) -> tuple:
    change = r.get("change")
    size = abs(change) if isinstance(change, (int, float)) and change == change else 0.0
    return (-size, r["benchmark"], r["mode"], r["metric"], r.get("id") or 0)


def _run_fields(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    r = rows[0]
    run = f"`{_code(r['run_id'])}`"
    raised = {x.get("raised_run_id") for x in rows} - {None, r["run_id"]}
    if raised:  # the online detector confirms a change some runs after it started
        run += " (detected at " + ", ".join(f"`{_code(x)}`" for x in sorted(raised)) + ")"
    commit = f"`{_code((r.get('git_sha') or '')[:12])}`" if r.get("git_sha") else "unknown"
    if r.get("git_branch"):
        commit += f" on `{_code(r['git_branch'])}`"
    fields = [("Run", run), ("Commit", commit), ("torch", _esc(r.get("torch_version") or "unknown")),
              ("GPU", _esc(r.get("gpu") or "none (CPU)")), ("Backend / size", _esc(f"{r['backend']} / {r.get('size') or '?'}")),
              ("When", _when(r.get("ts")))]
    return [{"type": "mrkdwn", "text": _cut(f"*{name}*\n{value}", MAX_FIELD)} for name, value in fields]


def _line(r: dict[str, Any]) -> str:
    where = " · ".join(x for x in (r["mode"], r["backend"], r.get("dtype"), _params(r.get("params_key"))) if x)
    unit = r.get("unit") or ""
    line = (f"• `{_code(r['benchmark'])}` {_esc(where)} — `{_code(r['metric'])}` "
            f"{_value(r['before'], unit)} → {_value(r['after'], unit)}: *{_pct(r['change'])}* "
            f"(confidence {_confidence(r['pvalue'])})")
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


def _fallback(title: str, rows: list[dict[str, Any]]) -> str:
    """The top-level `text`: what notifications and clients without blocks show (the link is
    left to the button: a bare URL with `&` in it would need Slack's escaping rules)."""
    worst = rows[0]
    return _cut(_esc(f"{title}, run {worst['run_id']}. Worst: {worst['benchmark']} [{worst['mode']}] "
                     f"{worst['metric']} {_pct(worst['change'])}."), MAX_SECTION)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _params(key: str | None) -> str:
    return "" if key in (None, "", "{}") else key


def _value(v: float, unit: str) -> str:
    if unit == "bytes":
        for scale, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= scale:
                return f"{v / scale:.3g} {name}"
        return f"{v:.0f} B"
    num = f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:.4g}"
    return f"{num} {_esc(unit)}" if unit and unit not in ("count", "bool", "ratio", "abs") else num


def _pct(change: float) -> str:
    if change == float("inf"):
        return "+∞"
    if change == float("-inf"):
        return "−∞"
    return f"{change * 100:+.1f}%"


def _confidence(pvalue: float) -> str:
    if pvalue <= 0:
        return "exact"  # integer counters: the detector's p-value is 0 for an exact change
    if pvalue < 0.001:
        return ">99.9%"
    return f"{(1 - pvalue) * 100:.1f}%"


def _when(ts: Any) -> str:
    if not ts:
        return "unknown"
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    if dt.tzinfo is not None:  # the store writes UTC; SQLite hands it back without a zone
        dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M UTC")


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
