"""Alert channels: where an announcement goes. A channel is one module here plus one line in
REGISTRY; the module provides

- ``NAME``, ``LABEL`` (how summaries name it), ``SETTING`` (the Config field with its URL) and
  ``MISSING`` (the error when that setting is empty, saying how to set it);
- ``render(announcement) -> dict``: the payload, pure (golden-file testable);
- ``Sender``: a class taking the URL (and the retry knobs of ``JsonPoster``) whose
  ``send(payload)`` delivers or raises AlertError.

Modules are imported when asked for, so an unused channel costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Protocol

from perfwatch.alerts.announcement import Announcement
from perfwatch.domain.errors import AlertError, UsageError

REGISTRY = {
    "slack": "perfwatch.alerts.channels.slack",
    "webhook": "perfwatch.alerts.channels.webhook",
}
ALL = "all"


class Sender(Protocol):
    def send(self, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Channel:
    """A configured channel: its name (the key of its announced state), how it renders, who sends."""

    name: str
    label: str
    render: Callable[[Announcement], dict[str, Any]]
    sender: Sender


def module(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise UsageError(f"unknown alert channel {name!r}; known: {', '.join(REGISTRY)}, {ALL}")
    return importlib.import_module(REGISTRY[name])


def channel(name: str, sender: Sender) -> Channel:
    """Channel ``name`` sending through ``sender`` (a test's, or ``module(name).Sender(url)``)."""
    m = module(name)
    return Channel(name, m.LABEL, m.render, sender)


def selected(cfg, which: str | None = None) -> list[str]:
    """The channel names ``which`` means: one name, or (None / "all") every configured channel;
    all of them when none is configured (what a dry run previews)."""
    if which not in (None, ALL):
        module(which)
        return [which]
    configured = [n for n in REGISTRY if getattr(cfg, module(n).SETTING, None)]
    return configured or list(REGISTRY)


def from_config(cfg, which: str | None = None, **sender_kwargs: Any) -> list[Channel]:
    """The channels to post to, each with its sender; AlertError (exit 4) when a named channel,
    or every channel, lacks its URL."""
    if which not in (None, ALL):
        m = module(which)
        url = getattr(cfg, m.SETTING, None)
        if not url:
            raise AlertError(m.MISSING)
        return [channel(which, m.Sender(url, **sender_kwargs))]
    out = [channel(n, module(n).Sender(getattr(cfg, module(n).SETTING), **sender_kwargs))
           for n in REGISTRY if getattr(cfg, module(n).SETTING, None)]
    if not out:
        mods = [module(n) for n in REGISTRY]
        raise AlertError("no alert channel configured: export " + " or ".join(f"{m.Sender.setting} ({m.LABEL})" for m in mods)
                         + ", or set " + " / ".join(m.SETTING for m in mods) + " in perfwatch.toml; see docs/alerts.md")
    return out
