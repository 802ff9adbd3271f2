"""The real processes: ``frontdesk serve content``, ``frontdesk serve forms``, ``frontdesk worker``
and an aiosmtpd server writing a Maildir, talked to over HTTP as a user would."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import CLINIC_SITE, ROOT, TEST_REDIS_URL, free_port

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up in {timeout} s")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.content_port, self.forms_port, self.smtp_port = free_port(), free_port(), free_port()
        self.maildir = tmp / "mail"
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        self.env.update(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
                "FRONTDESK_CONTENT_PORT": str(self.content_port),
                "FRONTDESK_FORMS_PORT": str(self.forms_port),
                "FRONTDESK_SMTP_PORT": str(self.smtp_port),
            }
        )
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *argv: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def up(self) -> None:
        self.start(
            "smtp",
            str(BIN / "python"),
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{self.smtp_port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(self.maildir),
        )
        self.start("content", str(BIN / "frontdesk"), "serve", "content")
        self.start("forms", str(BIN / "frontdesk"), "serve", "forms")
        self.start("worker", str(BIN / "frontdesk"), "worker")
        wait_http(f"http://127.0.0.1:{self.content_port}/health/live")
        wait_http(f"http://127.0.0.1:{self.forms_port}/health/ready")

    def down(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def stack(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        running.up()
        yield running
    finally:
        running.down()


def test_page_and_form_end_to_end(stack: Stack) -> None:
    page = httpx.get(
        f"http://127.0.0.1:{stack.content_port}/v1/pages/dry-needling-therapy-for-joint-pain"
    ).json()
    assert len(page["sections"]) == 14
    empties = [s for s in page["sections"] if s["type"] == "collection" and s["state"] == "empty"]
    assert len(empties) == 6

    response = httpx.post(
        f"http://127.0.0.1:{stack.forms_port}/v1/forms/contact/submissions",
        json={
            "name": "Ann Example",
            "email": "ann@example.com",
            "phone": "+1 415 555 2671",
            "message": "Knee pain",
        },
    )
    assert response.status_code == 201
    assert response.json()["message"] == "Thank you! Your submission has been received!"
    submission_id = response.json()["id"]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not list((stack.maildir / "new").glob("*")):
        time.sleep(0.1)
    [raw] = [m.as_bytes() for m in mailbox.Maildir(stack.maildir, create=False)]
    message = message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "frontdesk@clinic.example"
    assert message["Reply-To"].addresses[0].addr_spec == "ann@example.com"
    assert message["Message-ID"] == f"<{submission_id}.staff@clinic.example>"
    assert "+14155552671" in message.get_body(("plain",)).get_content()
