"""Alerts: tell the team when a run regressed (Slack today; another channel is another sender).

``message`` builds Block Kit payloads (pure), ``slack`` sends one (retries, no dependency),
``notify`` ties them to the store: what is pending, send, mark announced only once delivered.
"""

from perfwatch.alerts.announcement import build_message, build_messages
from perfwatch.alerts.notify import NotifyResult, Outgoing, notify_pending, pending_messages
from perfwatch.alerts.slack import SlackWebhook, WebhookRejected, WebhookUnavailable, webhook_from_config

__all__ = ["build_message", "build_messages", "NotifyResult", "Outgoing", "notify_pending", "pending_messages",
           "SlackWebhook", "WebhookRejected", "WebhookUnavailable", "webhook_from_config"]
