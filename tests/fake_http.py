"""A local HTTP endpoint that behaves like an alert receiver (Slack, a JSON webhook): it records
every POST, answers what a test scripts (a status, a 429 with Retry-After, a hang, an answer
trickled a byte at a time), and refuses what the real service would refuse. Subclasses say what is
well formed and how replies look."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedServer:
    path = "/"
    default: Any = 200  # the reply when the script is empty
    refused: Any = 400  # the reply to a malformed request, whatever the script says

    def __init__(self):
        self.requests = []  # (reply, parsed body) per POST, in order
        self.script = []
        self.delay = 0.0
        self.trickled = []  # per ("trickle", seconds) reply: (bytes sent, whether the whole reply went out)
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def well_formed(self, path: str, headers, doc: Any) -> bool:
        return path == self.path

    def response(self, item: Any) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) for a scripted reply."""
        raise NotImplementedError

    def reply(self, *items):
        self.script.extend(items)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    doc = json.loads(body)
                    ok = fake.well_formed(self.path, self.headers, doc)
                except ValueError:
                    doc, ok = None, False
                with fake._lock:
                    item = fake.script.pop(0) if fake.script else fake.default
                    if not ok:
                        item = fake.refused
                    fake.requests.append((item, doc))
                time.sleep(fake.delay)
                if item == "timeout":
                    fake.release.wait(2)  # longer than the client waits; then hang up without answering
                    return
                if isinstance(item, tuple) and item[0] == "trickle":
                    self._trickle(*item[1:])
                    return
                status, payload, headers = fake.response(item)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _trickle(self, every: float, at_once: int = 0):
                """A complete 200 answer, one byte every ``every`` seconds after its first ``at_once``
                bytes: each read gets a byte well within any socket timeout, the whole answer takes
                minutes. ``at_once`` past the headers: the status arrives, the body stalls."""
                raw = fake.trickle_reply()
                sent = 0
                try:
                    if at_once:
                        self.wfile.write(raw[:at_once])
                        self.wfile.flush()
                        sent = at_once
                    for i in range(sent, len(raw)):
                        if fake.release.wait(every):  # the test is over
                            break
                        self.wfile.write(raw[i:i + 1])
                        self.wfile.flush()
                        sent += 1
                except OSError:  # the client hung up
                    pass
                with fake._lock:
                    fake.trickled.append((sent, sent == len(raw)))

        return Handler

    def trickle_reply(self) -> bytes:
        """What a ("trickle", seconds) reply sends, byte by byte: a 200 with a short body."""
        body = b"ok"
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % len(body)) + body
