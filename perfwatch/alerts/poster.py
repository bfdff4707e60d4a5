"""POSTing one JSON document to a webhook, with retries (urllib only, no dependency).

Every channel that is "an HTTPS URL that takes JSON" (Slack's incoming webhooks, the generic
webhook) delivers through ``JsonPoster``; a channel subclasses it only to name itself and to
explain its service's error codes. Retried: 5xx, timeouts, connection failures, and 429 after
its Retry-After. Not retried: any other 4xx (a revoked Slack webhook answers 404 ``no_service``).

The URL is a secret (whoever holds it can post to the channel): it lives in one private
attribute and never appears in an error, a log line or a repr.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from perfwatch import __version__
from perfwatch.domain.errors import AlertError

log = logging.getLogger("perfwatch.alerts")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WebhookRejected(AlertError):
    """The endpoint answered a 4xx other than 429: sending the same thing again cannot help."""

    def __init__(self, message: str, status: int, code: str, payload_at_fault: bool):
        super().__init__(message)
        self.status = status
        self.code = code
        # True: this one message was refused (the others may go); False: the webhook itself was.
        self.payload_at_fault = payload_at_fault


class WebhookUnavailable(AlertError):
    """Every attempt failed (5xx, timeout, network), or the endpoint asked to wait longer than we will."""


class JsonPoster:
    """Deliver JSON payloads to one webhook URL. Subclasses set the names used in messages."""

    service = "the webhook endpoint"  # who answers: "Slack answered HTTP 404 ..."
    hook = "JSON webhook"  # what failed: "Slack webhook failed 5 time(s)"
    setting = "PERFWATCH_WEBHOOK_URL"  # where the URL comes from, named when it is not acceptable
    hints: dict[str, str] = {}  # the service's error codes (first line of the body) -> what to do
    refused = "the endpoint refused the message"
    payload_faults = (400,)  # statuses that refuse one message rather than the webhook

    def __init__(self, url: str, timeout: float = 10.0, max_attempts: int = 5, sleep: Callable[[float], Any] = time.sleep,
                 backoff: float = 1.0, max_backoff: float = 30.0, max_retry_after: float = 120.0):
        parts = urlsplit(url or "")
        # Plain http would send the secret in clear: only for a local endpoint (tests, a relay).
        if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
            raise AlertError(f"the {self.hook} ({self.setting}) is not an https:// URL")
        self._url = url
        self.host = parts.hostname
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.sleep = sleep
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    def send(self, payload: dict[str, Any]) -> None:
        """Deliver one message; raise WebhookRejected or WebhookUnavailable if it was not."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        delay = self.backoff
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            wait, problem = self._attempt(body)
            if problem is None:
                return
            if attempt == self.max_attempts:
                break
            wait = delay if wait is None else wait
            if wait > self.max_retry_after:
                raise WebhookUnavailable(f"{self.service} asks to wait {wait:.0f} s ({problem}); not waiting that long")
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", self.hook, attempt, self.max_attempts, problem, wait)
            self.sleep(wait)
            delay = min(delay * 2, self.max_backoff)
        raise WebhookUnavailable(f"{self.hook} failed {self.max_attempts} time(s), last: {problem}")

    def _attempt(self, body: bytes) -> tuple[float | None, str | None]:
        """(None, None) when delivered; (seconds to wait or None for backoff, problem) to retry."""
        req = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": f"perfwatch/{__version__}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
            return None, None
        except urllib.error.HTTPError as exc:
            code = _error_code(exc)
            if exc.code == 429:
                return _retry_after(exc.headers.get("Retry-After")), "HTTP 429 rate limited"
            if exc.code >= 500:
                return None, f"HTTP {exc.code} {code}".strip()
            hint = self.hints.get(code, self.refused)
            raise WebhookRejected(f"{self.service} answered HTTP {exc.code} {code}: {hint}".replace(" :", ":"), exc.code, code,
                                  exc.code in self.payload_faults) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return None, f"no answer within {self.timeout:g} s"
            return None, f"cannot connect to {self.host}: {exc.reason}"
        except TimeoutError:  # the answer started but stalled
            return None, f"no answer within {self.timeout:g} s"
        except (http.client.HTTPException, OSError) as exc:
            return None, f"connection to {self.host} failed: {type(exc).__name__}"


def _error_code(exc: urllib.error.HTTPError) -> str:
    """The body's first line (Slack's error code, `no_service`), short and printable."""
    try:
        text = exc.read(200).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return "".join(ch for ch in first if ch.isprintable())[:100]


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date); None: use our own backoff."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
