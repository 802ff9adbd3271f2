"""The real processes: ``frontdesk serve content``, ``frontdesk serve forms``, ``frontdesk worker``
and an aiosmtpd server writing a Maildir, talked to over HTTP as a user would."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import CLINIC_SITE, TEST_REDIS_URL, free_port
from tests.processes import FRONTDESK, PYTHON, Processes, frontdesk_env, wait_http

pytestmark = pytest.mark.e2e


class Stack:
    """The four processes on free ports, logging under ``tmp/logs``."""

    def __init__(self, tmp: Path) -> None:
        self.content_port, self.forms_port, self.smtp_port = free_port(), free_port(), free_port()
        self.maildir = tmp / "mail"
        self.logs = tmp / "logs"
        self.processes = Processes(self.logs)
        self.env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
                "FRONTDESK_CONTENT_PORT": str(self.content_port),
                "FRONTDESK_FORMS_PORT": str(self.forms_port),
                "FRONTDESK_SMTP_PORT": str(self.smtp_port),
            }
        )
        # Free ports chosen by frontdesk_env: health detail, metrics and the staff API.
        self.content_internal_port = int(self.env["FRONTDESK_CONTENT_INTERNAL_PORT"])
        self.forms_internal_port = int(self.env["FRONTDESK_FORMS_INTERNAL_PORT"])

    def start(self, name: str, *argv: str) -> None:
        self.processes.start(name, list(argv), self.env)

    def up(self) -> None:
        smtp = ["-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}"]
        self.start("smtp", PYTHON, *smtp, "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir))
        self.start("content", FRONTDESK, "serve", "content")
        self.start("forms", FRONTDESK, "serve", "forms")
        self.start("worker", FRONTDESK, "worker")
        wait_http(f"http://127.0.0.1:{self.content_port}/health/live")
        wait_http(f"http://127.0.0.1:{self.forms_port}/health/ready")

    def down(self) -> None:
        self.processes.stop()


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
    assert message["Message-ID"] == f"<{submission_id}.staff@clinic.example>"
    # The clinic's contact form sends staff a summary: a link to the inquiry in the inbox, no
    # visitor data in any header or part.
    assert message["Subject"] == "New inquiry via Get In Touch"
    assert message["Reply-To"] is None
    assert f"/inquiries/{submission_id}" in message.get_body(("plain",)).get_content()
    for value in (b"Ann", b"ann@example.com", b"2671", b"Knee pain"):
        assert value not in raw
