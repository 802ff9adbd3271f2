"""SIGTERM, as `docker stop` and Kubernetes send it: every process stops cleanly, and a worker in the
middle of a send finishes it first (hence the stop grace period longer than the job timeout)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from frontdesk.submissions.record import Submission
from tests.conftest import TEST_REDIS_URL, free_port
from tests.e2e.test_stack import Stack
from tests.processes import FRONTDESK
from tests.service.forms_helpers import VALID

pytestmark = pytest.mark.e2e


class SlowRelay:
    """An SMTP handler that takes ``delay`` seconds to accept a message, and says when it started."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = threading.Event()
        self.accepted: list[Envelope] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.started.set()
        await asyncio.sleep(self.delay)
        self.accepted.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def slow_relay() -> Iterator[tuple[SlowRelay, int]]:
    relay = SlowRelay(delay=3.0)
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    yield relay, port
    controller.stop()


def test_worker_finishes_its_send_on_sigterm(
    tmp_path: Path, redis_client: redis.Redis, slow_relay: tuple[SlowRelay, int]
) -> None:
    relay, smtp_port = slow_relay
    stack = Stack(tmp_path)
    stack.env["FRONTDESK_SMTP_PORT"] = str(smtp_port)
    try:
        stack.start("forms", FRONTDESK, "serve", "forms")
        stack.start("worker", FRONTDESK, "worker")
        forms, worker = stack.processes.running
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{stack.forms_port}/health/ready").is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "forms did not come up"
            time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{stack.forms_port}/v1/forms/contact/submissions", json=VALID
        )
        assert response.status_code == 201
        submission_id = response.json()["id"]
        assert relay.started.wait(20), "the worker never reached the relay"

        worker.send_signal(signal.SIGTERM)  # mid-send: the relay holds the DATA for 3 s
        forms.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert forms.wait(timeout=15) == 0
    finally:
        stack.down()

    assert len(relay.accepted) == 1
    raw = redis.Redis.from_url(TEST_REDIS_URL).get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    record = msgspec.json.decode(raw, type=Submission)
    assert record.status == "notified"
    assert [m.status for m in record.messages] == ["sent"]
    # Nothing was left for another worker to pick up.
    assert redis_client.llen("rq:queue:frontdesk") == 0


def test_content_stops_cleanly_on_sigterm(tmp_path: Path, redis_client: redis.Redis) -> None:
    stack = Stack(tmp_path)
    try:
        stack.start("content", FRONTDESK, "serve", "content")
        [content] = stack.processes.running
        url = f"http://127.0.0.1:{stack.content_port}/health/live"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "content did not come up"
            time.sleep(0.1)
        content.send_signal(signal.SIGTERM)
        assert content.wait(timeout=15) == 0
    finally:
        stack.down()
    log = (stack.logs / "content.log").read_text()
    assert "shutdown completed" in log.lower()
