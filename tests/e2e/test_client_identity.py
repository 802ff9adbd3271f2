"""The client identity and body limits of a real ``frontdesk serve forms`` (granian), talked to over a
raw socket: what a proxy sends (repeated ``X-Forwarded-For`` lines) and what a slow client sends (a
chunked body) are not what an HTTP client library lets a test send."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import CLINIC_SITE, TEST_REDIS_URL, free_port
from tests.processes import FRONTDESK, Processes, frontdesk_env, wait_http
from tests.service.forms_helpers import VALID

pytestmark = pytest.mark.e2e

URL = "/v1/forms/contact/submissions"
PROXY = "203.0.113.7"  # the address the (trusted) proxy saw and appended


class Forms:
    """``frontdesk serve forms`` behind a "proxy" on 127.0.0.1: the test itself."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.processes = Processes(tmp / "logs")
        env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
                "FRONTDESK_FORMS_PORT": str(self.port),
                "FRONTDESK_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
            }
        )
        self.processes.start("forms", [FRONTDESK, "serve", "forms"], env)
        wait_http(f"http://127.0.0.1:{self.port}/health/ready")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def forms(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Forms]:
    running = Forms(tmp_path)
    try:
        yield running
    finally:
        running.processes.stop()


def early_in_a_minute(needed: float = 15) -> None:
    """Rate limits count per fixed minute: start a burst early in one."""
    if 60 - time.time() % 60 < needed:
        time.sleep(60 - time.time() % 60)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """``(status, body)`` of one HTTP/1.1 answer with a ``Content-Length``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed mid-answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), body[:length]


def post(forms: Forms, body: bytes, header_lines: list[str]) -> int:
    """The status of one JSON post sent with ``header_lines`` as written (repeats kept)."""
    head = [
        f"POST {URL} HTTP/1.1",
        f"Host: 127.0.0.1:{forms.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *header_lines,
    ]
    with forms.connect() as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status, _ = read_answer(sock)
    return status


def submission(index: int) -> bytes:
    return json.dumps({**VALID, "email": f"p{index}@example.com"}).encode()


def test_a_second_forwarded_for_line_appended_by_the_proxy_is_the_client(forms: Forms) -> None:
    """A visitor sends its own ``X-Forwarded-For`` line, varied per post; the proxy appends a second
    line with the address it saw. The lines are one list (RFC 9110 §5.3) read from the right: the
    client is the address the proxy appended, so its sixth post in a minute is refused (5 a minute
    per IP)."""
    early_in_a_minute()
    statuses = [
        post(
            forms,
            submission(i),
            [f"X-Forwarded-For: 198.51.100.{i}", f"X-Forwarded-For: {PROXY}"],
        )
        for i in range(8)
    ]
    assert statuses == [201] * 5 + [429] * 3, str(statuses)


def test_an_empty_forwarded_for_line_does_not_let_the_visitor_pick_the_bucket(
    forms: Forms,
) -> None:
    """The proxy appends an empty line (a variable its configuration left unset) after the
    visitor's own, varied per post. An empty entry is no address: the walk ends at the proxy that
    wrote it (127.0.0.1 here), so the sixth post in a minute is refused, as for any bucket."""
    early_in_a_minute()
    statuses = [
        post(forms, submission(i), [f"X-Forwarded-For: 198.51.100.{i}", "X-Forwarded-For: "])
        for i in range(8)
    ]
    assert statuses == [201] * 5 + [429] * 3, str(statuses)


def test_posts_from_one_ipv6_64_share_one_bucket(forms: Forms) -> None:
    """Every address of one /64 (one customer's network, FRONTDESK_IPV6_PREFIX's default) counts
    against one budget; another /64 has its own."""
    early_in_a_minute()
    statuses = [
        post(forms, submission(i), [f"X-Forwarded-For: 2001:db8:1:2::{i + 1:x}"]) for i in range(8)
    ]
    assert statuses == [201] * 5 + [429] * 3, str(statuses)
    other = post(forms, submission(99), ["X-Forwarded-For: 2001:db8:1:3::1"])
    assert other == 201
    # IPv4-mapped IPv6 is the IPv4 address: one bucket with the plain form.
    mapped = [
        post(forms, submission(100 + i), [f"X-Forwarded-For: {a}"])
        for i, a in enumerate(["::ffff:192.0.2.9", "192.0.2.9"] * 3)
    ]
    assert mapped == [201] * 5 + [429], str(mapped)


def test_a_chunked_body_over_the_forms_limit_is_refused_before_it_is_all_sent(
    forms: Forms,
) -> None:
    """The contact form takes 64 KiB. A client streams a chunked body, 16 KiB at a time, up to
    4 MB, and looks for an answer after each chunk: the form's 413 arrives after the server has
    read little more than the limit, long before the client has sent everything (the route's 10 MB
    read cap would otherwise be read in full first)."""
    chunk = b"x" * 16_384
    head = [
        f"POST {URL} HTTP/1.1",
        f"Host: 127.0.0.1:{forms.port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "Origin: http://127.0.0.1:8000",
    ]
    sent = 0
    answered_after: int | None = None
    with forms.connect() as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < 4_000_000:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server closed the connection after answering
                break
            sent += len(chunk)
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                answered_after = sent
                break
        if answered_after is None:
            readable, _, _ = select.select([sock], [], [], 5)
            assert readable, f"no answer within 5 s after {sent} bytes"
        status, body = read_answer(sock)
    assert (status, json.loads(body)["code"]) == (413, "body_too_large")
    assert answered_after is not None, f"the answer came only after all {sent} bytes were sent"
    assert answered_after < 1_000_000
