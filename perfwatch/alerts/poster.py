"""POSTing one JSON document to a webhook, with retries (urllib only, no dependency).

Every channel that is "an HTTPS URL that takes JSON" (Slack's incoming webhooks, the generic
webhook) delivers through ``JsonPoster``; a channel subclasses it only to name itself and to
explain its service's error codes. Retried: 5xx, timeouts, connection failures, and 429 after
its Retry-After. Not retried: any other 4xx (a revoked Slack webhook answers 404 ``no_service``).

``timeout`` bounds each attempt as a whole (connect, send, the whole answer), not each read: a
socket timeout alone restarts with every byte, so a server trickling one byte every few seconds
could hold an attempt open for minutes. Each attempt runs in a worker thread; at its deadline the
caller cuts the connection and counts a timeout.

The URL is a secret (whoever holds it can post to the channel): it lives in one private
attribute and never appears in an error, a log line or a repr.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
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
        """(None, None) when delivered; (seconds to wait or None for backoff, problem) to retry.
        Returns by the deadline (``timeout`` after the start) whatever the server does."""
        watch = _Watch()
        outcome: list = []

        def work() -> None:
            try:
                outcome.append(self._exchange(body, watch))
            except BaseException as exc:  # handed to the caller's thread, raised there
                outcome.append(exc)

        worker = threading.Thread(target=work, name="perfwatch-alert-post", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            watch.expire()  # unblocks the worker's read; a 2xx status already in hand still counts
            worker.join(_GRACE)
        if not outcome:  # still connecting (nothing to cut yet): abandon it; its socket timeout ends it
            return None, self._late()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _late(self) -> str:
        return f"no complete answer within {self.timeout:g} s"

    def _exchange(self, body: bytes, watch: "_Watch") -> tuple[float | None, str | None]:
        """One POST, run in the worker thread; every connection it opens is registered with ``watch``."""
        req = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": f"perfwatch/{__version__}"})
        opener = urllib.request.build_opener(_WatchedHTTP(watch), _WatchedHTTPS(watch))  # proxies from the environment still apply
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                try:  # the 2xx status is the service's yes; a body that stalls or breaks off does not undo it
                    resp.read(_MAX_BODY)
                except (http.client.HTTPException, OSError):
                    pass
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
            if watch.expired or isinstance(exc.reason, TimeoutError):
                return None, self._late()
            return None, f"cannot connect to {self.host}: {exc.reason}"
        except TimeoutError:  # the answer started but stalled
            return None, self._late()
        except (http.client.HTTPException, OSError) as exc:
            if watch.expired:
                return None, self._late()
            return None, f"connection to {self.host} failed: {type(exc).__name__}"


_GRACE = 1.0  # seconds the caller waits, after cutting the connection, for the worker to say what it got
_MAX_BODY = 64 * 1024  # an answer body is read only this far (Slack's is "ok")


class _Watch:
    """The sockets of one attempt, so that its deadline can cut them from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False

    def attach(self, sock) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:  # connected just after the deadline
                _cut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _cut(sock)


def _cut(sock) -> None:
    """Shut the connection down under a blocked read: the read returns at once. socket.socket's
    own shutdown, not SSLSocket's, which would drop the TLS state a reading thread is using."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watched(conn_class: type, watch: _Watch):
    class Watched(conn_class):
        def connect(self):
            super().connect()
            watch.attach(self.sock)  # after TLS (and any proxy tunnel): the socket the answer is read from

    return lambda *args, **kw: Watched(*args, **kw)


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch):
        super().__init__()
        self._watch = watch

    def do_open(self, http_class, req, **kw):
        return super().do_open(_watched(http_class, self._watch), req, **kw)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch):
        super().__init__()
        self._watch = watch

    def do_open(self, http_class, req, **kw):
        return super().do_open(_watched(http_class, self._watch), req, **kw)


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
