"""A local HTTP endpoint that behaves like an alert receiver (Slack, a JSON webhook): it records
every POST, answers what a test scripts (a status, a 429 with Retry-After, a hang), and refuses
what the real service would refuse. Subclasses say what is well formed and how replies look."""

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
                status, payload, headers = fake.response(item)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        return Handler
