"""Alerts: tell the team when a run regressed, on every configured channel.

``announcement`` turns stored regressions into channel-neutral data (pure); each module of
``channels`` renders that for one service and sends it (``poster`` is their shared HTTP client
with retries); ``notify`` ties them to the store: what each channel has pending, send, mark
announced on that channel only once delivered.
"""

from perfwatch.alerts.announcement import Announcement, Item, build_announcement, build_announcements
from perfwatch.alerts.channels import Channel, channel, from_config
from perfwatch.alerts.notify import NotifyResult, Outgoing, notify_pending, pending_messages
from perfwatch.alerts.poster import JsonPoster, WebhookRejected, WebhookUnavailable

__all__ = ["Announcement", "Item", "build_announcement", "build_announcements", "Channel", "channel", "from_config",
           "NotifyResult", "Outgoing", "notify_pending", "pending_messages", "JsonPoster", "WebhookRejected",
           "WebhookUnavailable"]
