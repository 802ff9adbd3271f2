"""A build-hook receiver for tests: a real HTTP server on an ephemeral loopback port that records
each POST and answers with the next scripted status (then 204), and the documented way to verify
a ``Frontdesk-Signature`` (docs/content.md "Build hooks").
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Every POST as ``(path, headers, body)``; ``statuses`` are answered first, in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.arrived = threading.Condition()

    def wait(
        self, count: int = 1, timeout: float = 20.0
    ) -> list[tuple[str, dict[str, str], bytes]]:
        """The requests once ``count`` have arrived; fails after ``timeout`` seconds."""
        with self.arrived:
            got = self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
        assert got, f"{len(self.requests)} of {count} request(s) in {timeout} s"
        return list(self.requests)


@contextlib.contextmanager
def receiving() -> Iterator[tuple[Receiver, str]]:
    """A running receiver and its URL (``http://127.0.0.1:<port>/build``)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with receiver.arrived:
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                receiver.arrived.notify_all()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/build"
    finally:
        server.shutdown()
        server.server_close()


def verify(key_hex: str, header: str, body: bytes, tolerance: float = 300.0) -> bool:
    """The receiver's check, as docs/content.md documents it: split ``t=<ts>,v1=<hex>``, refuse a
    timestamp more than ``tolerance`` seconds away, compare HMAC-SHA256(key text, ``t.body``) in
    constant time.
    """
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp, given = fields["t"], fields["v1"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(key_hex.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), given)
