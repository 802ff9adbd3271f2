"""Hostile input against the real forms service (granian, ``frontdesk serve forms``).

Each hostile request must get a 4xx or have its connection cut off; meanwhile another client keeps
getting answers, and the server's memory (RSS of granian and its workers) stays bounded.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import CLINIC_SITE, TEST_REDIS_URL, free_port
from tests.processes import FRONTDESK, frontdesk_env, start, stop, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
SUBMIT = "/v1/forms/contact/submissions"
VALID = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "phone": "+1 415 555 2671",
    "message": "Knee pain",
}
# Growth of the server's resident memory allowed across one hostile request: it may keep a few
# buffers, but must not hold on to what it was sent (10 MB bodies, 10,000 fields).
RSS_GROWTH_LIMIT = 32 * 1024 * 1024
HEADER_READ_TIMEOUT = 2.0


def process_tree_rss(pid: int) -> int:
    """Resident memory in bytes of ``pid`` and all its descendants (Linux ``/proc``)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
    return total


BYSTANDER_PATHS = {
    "forms": "/v1/phone/check?number=%2B14155552671",
    "content": "/v1/pages/dry-needling-therapy-for-joint-pain",
}


def hostile_site(tmp: Path) -> Path:
    """The clinic site with the contact form's ``max_body_bytes`` at its maximum (10,000,000).

    At the default 64 KiB, 10,000 fields, JSON nested 100,000 deep or a 100,000-character phone
    are refused by size alone (413 ``body_too_large``, before the body is read; covered by
    tests/service/test_forms_intake.py); raised, each reaches the defence made for it.
    """
    site = tmp / "site"
    shutil.copytree(CLINIC_SITE, site)
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + "max_body_bytes: 10000000\n")
    return site


class Server:
    """``frontdesk serve <service>`` on a free port, with a short header read timeout."""

    def __init__(self, tmp: Path, service: str = "forms") -> None:
        self.port = free_port()
        self.bystander_path = BYSTANDER_PATHS[service]
        env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(hostile_site(tmp)),
                f"FRONTDESK_{service.upper()}_PORT": str(self.port),
                "FRONTDESK_RATE_LIMITS": "off",
                "FRONTDESK_HTTP_HEADER_READ_TIMEOUT": str(HEADER_READ_TIMEOUT),
            }
        )
        self.process = start([FRONTDESK, "serve", service], env, tmp / f"{service}.log")
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_http(self.url + "/health/live")
        except AssertionError:
            stop(self.process)
            raise

    def rss(self) -> int:
        return process_tree_rss(self.process.pid)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    running = Server(tmp_path_factory.mktemp("hostile"))
    # Warm up: the first requests allocate what every later one reuses.
    for _ in range(20):
        httpx.post(running.url + SUBMIT, json=VALID, timeout=10)
        httpx.get(running.url + "/v1/phone/check", params={"number": "+14155552671"})
    yield running
    running.stop()
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def content_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("hostile-content"), "content")
    yield running
    running.stop()


@dataclass
class Bystander:
    """Another client asking the service (``path``) every 50 ms while a hostile request runs."""

    url: str
    path: str
    answers: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.path)
                    self.answers.append(response.status_code)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.05)


def _await_answers(bystander: Bystander, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(bystander.answers) + len(bystander.failures) < count:
        assert time.monotonic() < deadline, "the bystander got no answer"
        time.sleep(0.01)


@contextlib.contextmanager
def others_served(server: Server) -> Iterator[Bystander]:
    """Assert that a bystander is answered (200) throughout the block, and RSS stays bounded."""
    before = server.rss()
    bystander = Bystander(server.url, server.bystander_path)
    thread = threading.Thread(target=bystander.run)
    thread.start()
    try:
        _await_answers(bystander, 1)
        yield bystander
        _await_answers(bystander, len(bystander.answers) + 1)
    finally:
        bystander._stop.set()
        thread.join()
    assert bystander.failures == []
    assert set(bystander.answers) == {200}
    growth = server.rss() - before
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB"


Outcome = int | str  # an HTTP status, or "cut off"


def outcome_of(send: Callable[[], httpx.Response]) -> Outcome:
    try:
        return send().status_code
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        return f"cut off ({type(exc).__name__})"


def assert_refused(outcome: Outcome, *statuses: int) -> None:
    """A 4xx from ``statuses`` or a cut-off connection."""
    if isinstance(outcome, str):
        assert outcome.startswith("cut off")
    else:
        assert outcome in statuses


def post(server: Server, content: bytes, content_type: str) -> Callable[[], httpx.Response]:
    def send() -> httpx.Response:
        return httpx.post(
            server.url + SUBMIT,
            content=content,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=30,
        )

    return send


def test_10_mb_json_body_is_refused(server: Server) -> None:
    body = b'{"message": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    with others_served(server):
        outcome = outcome_of(post(server, body, "application/json"))
    assert_refused(outcome, 413)


def test_10_mb_urlencoded_body_is_refused(server: Server) -> None:
    body = b"message=" + b"a" * (10 * 1024 * 1024)
    with others_served(server):
        outcome = outcome_of(post(server, body, "application/x-www-form-urlencoded"))
    assert_refused(outcome, 413)


def test_10_mb_multipart_body_is_refused(server: Server) -> None:
    boundary = "drillboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\n'.encode()
        + b"a" * (10 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with others_served(server):
        outcome = outcome_of(post(server, body, f"multipart/form-data; boundary={boundary}"))
    assert_refused(outcome, 413)


def problem_code(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("application/problem+json")
    code: str = answer.json()["code"]
    return code


def test_10000_urlencoded_fields_are_refused(server: Server) -> None:
    body = "&".join(f"field{i}=x" for i in range(10_000)).encode()
    with others_served(server):
        response = post(server, body, "application/x-www-form-urlencoded")()
    assert response.status_code == 413
    assert problem_code(response) == "too_many_fields"


def test_10000_multipart_fields_are_refused(server: Server) -> None:
    boundary = "drillboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="field{i}"\r\n\r\nx\r\n'
        for i in range(10_000)
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    with others_served(server):
        response = post(server, body, f"multipart/form-data; boundary={boundary}")()
    # Litestar's multipart parser stops at 1000 parts with a 400 of its own.
    assert response.status_code in (400, 413)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_10000_json_fields_are_refused(server: Server) -> None:
    body = ("{" + ",".join(f'"field{i}": "x"' for i in range(10_000)) + "}").encode()
    with others_served(server):
        response = post(server, body, "application/json")()
    assert response.status_code == 413
    assert problem_code(response) == "too_many_fields"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_refused(server: Server, depth: int) -> None:
    body = ('{"message": ' + "[" * depth + "]" * depth + "}").encode()
    with others_served(server):
        response = post(server, body, "application/json")()
    assert response.status_code == 400
    assert problem_code(response) == "malformed_json"


BAD_NAME = b"Ann \xff\xfe Example"
URLENCODED_REST = b"&email=ann%40example.com&phone=%2B14155552671&message=Knee+pain"
MULTIPART_BAD = (
    b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n' + BAD_NAME + b"\r\n"
    b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nann@example.com\r\n'
    b'--b\r\nContent-Disposition: form-data; name="phone"\r\n\r\n+14155552671\r\n'
    b'--b\r\nContent-Disposition: form-data; name="message"\r\n\r\nKnee pain\r\n--b--\r\n'
)


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (
            "application/json",
            b'{"name": "' + BAD_NAME + b'", "email": "ann@example.com", '
            b'"phone": "+14155552671", "message": "Knee pain"}',
            "malformed_json",
        ),
        (
            "application/x-www-form-urlencoded",
            b"name=Ann+%FF%FE+Example" + URLENCODED_REST,
            "invalid_encoding",
        ),
        (
            "application/x-www-form-urlencoded",
            b"name=" + BAD_NAME + URLENCODED_REST,
            "invalid_encoding",
        ),
        ("multipart/form-data; boundary=b", MULTIPART_BAD, "invalid_encoding"),
    ],
    ids=["json", "urlencoded-escaped", "urlencoded-raw", "multipart"],
)
def test_invalid_utf8_is_refused(server: Server, content_type: str, body: bytes, code: str) -> None:
    """Invalid UTF-8 in an otherwise valid submission is refused, never stored as U+FFFD."""
    with others_served(server):
        response = post(server, body, content_type)()
    assert response.status_code == 400
    assert problem_code(response) == code


@pytest.mark.parametrize("field_name", ["name", "email", "phone", "message"])
def test_nul_bytes_are_refused(server: Server, field_name: str) -> None:
    fields = {**VALID, field_name: VALID[field_name][:3] + "\x00" + VALID[field_name][3:]}
    with others_served(server):
        response = httpx.post(server.url + SUBMIT, json=fields, timeout=10)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field_name]


def test_100000_character_phone_is_refused(server: Server) -> None:
    fields = {**VALID, "phone": "1" * 100_000}
    with others_served(server):
        response = httpx.post(server.url + SUBMIT, json=fields, timeout=10)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "phone"
    assert error["code"] == "too_long"


def test_100000_character_phone_check_is_refused(server: Server) -> None:
    request = (
        b"GET /v1/phone/check?number=" + b"1" * 100_000 + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    with others_served(server):
        answer = raw_exchange(server, request)
    # granian refuses a 100 kB request line before the app sees it.
    if answer:
        assert status_of(answer) == 414


@pytest.mark.parametrize("field_name", ["name", "email", "phone"])
def test_cr_lf_in_single_line_fields_is_refused(server: Server, field_name: str) -> None:
    value = f"{VALID[field_name]}\r\nBcc: victim@example.com"
    with others_served(server):
        response = httpx.post(server.url + SUBMIT, json={**VALID, field_name: value}, timeout=10)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field_name]


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer."""
    return int(answer.split(b"\r\n", 1)[0].split()[1])


def raw_exchange(server: Server, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection; returns what came back until close or ``timeout``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "header",
    [
        b"X-Request-Id: abc\rInjected: 1",
        b"X-Request-Id: abc\nInjected: 1",
        b"Idempotency-Key: abc\r\n Injected: folded",
        b"X-Request-Id: abc\x00def",
    ],
    ids=["bare-cr", "bare-lf", "obs-fold", "nul"],
)
def test_cr_lf_in_header_values_is_refused_or_harmless(server: Server, header: bytes) -> None:
    import json

    body = json.dumps(VALID).encode()
    request = (
        b"POST " + SUBMIT.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        + header
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with others_served(server):
        answer = raw_exchange(server, request)
    if not answer:
        return  # cut off
    # A server that splits a bare LF into two header lines reads a valid request: 201 is the right
    # answer then, and the injected header is just another header. Never a 5xx.
    assert status_of(answer) in (400, 201), answer[:200]


@pytest.mark.parametrize("service", ["forms", "content"])
def test_slow_client_is_cut_off(service: str, server: Server, content_server: Server) -> None:
    """Slowloris: 20 connections trickle header bytes; the server closes them after its header
    read timeout while answering everybody else."""
    server = server if service == "forms" else content_server
    sockets = []
    with others_served(server) as bystander:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)
        closed = [False] * len(sockets)
        deadline = time.monotonic() + HEADER_READ_TIMEOUT * 5
        while not all(closed) and time.monotonic() < deadline:
            for index, sock in enumerate(sockets):
                if closed[index]:
                    continue
                try:
                    sock.sendall(b"X-Slow: a\r\n")
                    sock.settimeout(0.01)
                    with contextlib.suppress(TimeoutError):
                        if sock.recv(65536) == b"":
                            closed[index] = True
                except (BrokenPipeError, ConnectionResetError):
                    closed[index] = True
            time.sleep(0.5)
        answered_meanwhile = len(bystander.answers)
    for sock in sockets:
        sock.close()
    assert all(closed), f"{closed.count(False)} slow connections still open"
    assert answered_meanwhile > 10


def test_slow_body_does_not_block_others(server: Server) -> None:
    """A client that announces a body and trickles it: others are answered meanwhile, and the
    request ends in a 4xx or a cut-off, never in a stored submission."""
    with others_served(server):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(
            b"POST " + SUBMIT.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        for _ in range(6):
            time.sleep(0.5)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b" ")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        sock.close()
    if answer:
        assert status_of(answer) == 400
        assert b"incomplete_body" in answer


def test_content_refuses_a_100000_character_slug(content_server: Server) -> None:
    request = (
        b"GET /v1/pages/" + b"a" * 100_000 + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    with others_served(content_server):
        answer = raw_exchange(content_server, request)
    if answer:
        assert status_of(answer) == 414


def test_content_refuses_a_10_mb_body(content_server: Server) -> None:
    body = b"a" * (10 * 1024 * 1024)
    with others_served(content_server):
        outcome = outcome_of(
            lambda: httpx.post(
                content_server.url + "/v1/pages/dry-needling-therapy-for-joint-pain",
                content=body,
                timeout=30,
            )
        )
    assert_refused(outcome, 405, 413)
