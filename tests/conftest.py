"""Shared fixtures: a real Redis database flushed per test, a real aiosmtpd server, settings."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from frontdesk.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
CLINIC_SITE = ROOT / "examples" / "clinic-site"
TEST_REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def clinic_site_copy(destination: Path, *, notify: str = "full") -> Path:
    """A copy of the clinic site at ``destination``, its contact form's staff email ``notify``.

    The clinic's own contact form sends staff a summary (``notify: summary``: no visitor data), so
    tests of what a full staff email holds (fields, headers built from them, templates) use a copy
    set to ``full``.
    """
    shutil.copytree(CLINIC_SITE, destination)
    contact = destination / "forms" / "contact.yaml"
    text = contact.read_text()
    assert "notify: summary" in text, "the clinic's contact form sends a summary"
    contact.write_text(text.replace("notify: summary", f"notify: {notify}"))
    return destination


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """Put the root logger's handlers and level back after each test.

    A test that runs ``frontdesk.cli.main`` gets the CLI's logging: a handler on that test's
    captured stderr, which pytest closes when the test ends. Left in place, a later line from any
    thread (aiosmtpd's "connection lost", say) printed "I/O operation on closed file" tracebacks
    into the run's output.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


LISTEN_PORTS = range(20_000, 32_000)
"""Where tests' servers listen: below Linux's ephemeral range (32768–60999), which outgoing
connections take their local ports from. A port the kernel hands out for a listener (bind to 0)
is in that range, and a client connection opened before the server binds it may take it first
(seen: "the internal port … is in use" in a drill)."""


def free_port() -> int:
    """A loopback port nothing listens on now, from :data:`LISTEN_PORTS` (chosen at random, so
    parallel runs rarely pick the same one)."""
    for _ in range(200):
        port = secrets.choice(LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {LISTEN_PORTS}")


@contextmanager
def flushed_test_db() -> Iterator[redis.Redis]:
    """The test database, flushed before and after; fails loudly when Redis does not answer."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {TEST_REDIS_URL} does not answer ({exc}); start redis-server")
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """:func:`flushed_test_db` for one test."""
    with flushed_test_db() as client:
        yield client


class Inbox:
    """What a test SMTP server received: envelopes and the parsed messages (``email.policy.strict``)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.arrived = threading.Condition()
        self.replies: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        with self.arrived:
            self.envelopes.append(envelope)
            self.arrived.notify_all()
        return self.replies.pop(0) if self.replies else "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(e.original_content or b"", policy=policy.strict)  # type: ignore[misc]
            for e in self.envelopes
        ]

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.envelopes) >= count, timeout=timeout)
        return self.messages()


@contextlib.contextmanager
def running_inbox() -> Iterator[tuple[Inbox, int]]:
    """A real aiosmtpd server on an ephemeral port while the block runs: ``(inbox, port)``."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real aiosmtpd server on an ephemeral port: ``(inbox, port)``."""
    with running_inbox() as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``FRONTDESK_*`` variables for the test Redis and the clinic site; tests may add more."""
    values = {
        "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
        "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
        "FRONTDESK_RETRY_BASE_SECONDS": "1",
    }
    for key in [k for k in os.environ if k.startswith("FRONTDESK_")]:
        monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings()
