"""The real forms service (``frontdesk serve forms``) and worker (``frontdesk worker``) over a site
directory that breaks and is fixed while they run, with Redis and an aiosmtpd relay:

- a page file with a syntax error does not keep the forms service from starting and taking
  submissions (pages are the content service's);
- a broken form file answers 503 ``form_unavailable`` and is named on the internal readiness
  answer, while the other forms' submissions and emails flow;
- the edit that fixes it is picked up by both processes without a restart (file watching, and
  ``SIGHUP`` with watching off); a removed form file removes the form.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.content.loader import SiteError, load_site
from tests.conftest import CLINIC_SITE, TEST_REDIS_URL, free_port
from tests.processes import FRONTDESK, frontdesk_env, start, stop, wait_http
from tests.relay import Relay, running
from tests.service.forms_helpers import VALID

pytestmark = pytest.mark.e2e

BROKEN_YAML = "id: intake\ntitle: [unclosed\n"


def intake_form() -> str:
    """The clinic's contact form as a second form, ``intake``, mailing another address."""
    text = (CLINIC_SITE / "forms" / "contact.yaml").read_text()
    text = text.replace("id: contact", "id: intake", 1)
    return text.replace("[frontdesk@clinic.example]", "[intake@clinic.example]", 1)


class Stack:
    """The forms service and a worker over ``site``, mailing through a relay on ``smtp_port``."""

    def __init__(self, tmp: Path, site: Path, smtp_port: int, **settings: str) -> None:
        self.site = site
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.port, self.internal = free_port(), free_port()
        self.env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(site),
                "FRONTDESK_FORMS_PORT": str(self.port),
                "FRONTDESK_FORMS_INTERNAL_PORT": str(self.internal),
                "FRONTDESK_SMTP_HOST": "127.0.0.1",
                "FRONTDESK_SMTP_PORT": str(smtp_port),
                "FRONTDESK_SMTP_TIMEOUT": "3",
                "FRONTDESK_RETRY_BASE_SECONDS": "1",
                "FRONTDESK_WORKER_HEARTBEAT": "1",
                "FRONTDESK_WORKER_MAINTENANCE_INTERVAL": "1",
                "FRONTDESK_RATE_LIMITS": "off",
                "FRONTDESK_CONTENT_RELOAD_DEBOUNCE": "0.1",
                **settings,
            }
        )
        self.forms: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_forms(self) -> None:
        self.forms = start([FRONTDESK, "serve", "forms"], self.env, self.logs / "forms.log")
        wait_http(f"{self.url}/health/live")

    def start_worker(self) -> None:
        self.worker = start(
            [FRONTDESK, "worker"], self.env, self.logs / "worker.log", new_session=True
        )

    def stop(self) -> None:
        if self.worker is not None:
            stop(self.worker, timeout=20, group=True)
        if self.forms is not None:
            stop(self.forms)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def submit(self, form_id: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/forms/{form_id}/submissions", json=VALID, timeout=10)

    def ready(self) -> dict[str, Any]:
        answer = httpx.get(f"http://127.0.0.1:{self.internal}/health/ready", timeout=5)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def mailed_to(relay: Relay, address: str) -> int:
    return sum(address in envelope.rcpt_tos for envelope in relay.accepted)


@pytest.fixture
def relay() -> Relay:
    return Relay()


@pytest.fixture
def smtp_port(relay: Relay) -> Iterator[int]:
    with running(relay) as port:
        yield port


@pytest.fixture
def site(tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, copy)
    return copy


@pytest.fixture
def stacks(tmp_path: Path, redis_client: redis.Redis) -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()


def test_a_page_with_a_syntax_error_leaves_the_forms_service_taking_submissions(
    tmp_path: Path, site: Path, smtp_port: int, relay: Relay, stacks: list[Stack]
) -> None:
    page = next((site / "pages").glob("*.yaml"))
    page.write_text(page.read_text() + "\nsections: [unclosed\n")
    with pytest.raises(SiteError):
        load_site(site)  # the content service's loader refuses this site
    stack = Stack(tmp_path, site, smtp_port)
    stacks.append(stack)
    stack.start_forms()
    stack.start_worker()

    assert httpx.get(f"{stack.url}/v1/forms/contact").status_code == 200
    answer = stack.submit("contact")
    assert answer.status_code == 201, answer.text
    assert stack.ready() == {"status": "ok"}
    relay.wait(1, timeout=30)
    assert mailed_to(relay, "frontdesk@clinic.example") == 1


def test_a_broken_form_answers_503_the_others_flow_and_a_fix_is_picked_up_without_restart(
    tmp_path: Path, site: Path, smtp_port: int, relay: Relay, stacks: list[Stack]
) -> None:
    intake = site / "forms" / "intake.yaml"
    intake.write_text(BROKEN_YAML)
    stack = Stack(tmp_path, site, smtp_port)
    stacks.append(stack)
    stack.start_forms()
    stack.start_worker()

    # The broken form: 503 with a stable code and Retry-After, named on the internal readiness.
    for answer in (httpx.get(f"{stack.url}/v1/forms/intake"), stack.submit("intake")):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "form_unavailable"
        assert int(answer.headers["retry-after"]) > 0
    ready = stack.ready()
    assert ready["status"] == "degraded"
    assert ready["unavailable_forms"] == ["intake"]
    assert any(error.startswith("forms/intake.yaml: ") for error in ready["errors"])

    # The other form takes submissions and its email goes out.
    assert stack.submit("contact").status_code == 201
    relay.wait(1, timeout=30)
    assert mailed_to(relay, "frontdesk@clinic.example") == 1

    # The fix is picked up by the forms service and the worker, neither restarted.
    forms, worker = stack.forms, stack.worker
    assert forms is not None
    assert worker is not None
    intake.write_text(intake_form())
    eventually(
        lambda: httpx.get(f"{stack.url}/v1/forms/intake").status_code == 200,
        what="the forms service reloads the fixed form",
    )
    assert stack.ready() == {"status": "ok"}
    answer = stack.submit("intake")
    assert answer.status_code == 201, answer.text
    # The worker started without a definition of intake: only its reload can send this email.
    eventually(lambda: mailed_to(relay, "intake@clinic.example") == 1, timeout=30)
    assert forms.poll() is None
    assert worker.poll() is None
    assert "form intake not reloaded" in stack.log("worker")

    # A removed form file removes the form.
    intake.unlink()
    eventually(
        lambda: httpx.get(f"{stack.url}/v1/forms/intake").status_code == 404,
        what="the removed form is gone",
    )


def test_with_watching_off_sighup_reloads_the_forms_service_and_the_worker(
    tmp_path: Path, site: Path, smtp_port: int, relay: Relay, stacks: list[Stack]
) -> None:
    intake = site / "forms" / "intake.yaml"
    intake.write_text(BROKEN_YAML)
    stack = Stack(tmp_path, site, smtp_port, FRONTDESK_CONTENT_WATCH="off")
    stacks.append(stack)
    stack.start_forms()
    stack.start_worker()
    forms, worker = stack.forms, stack.worker
    assert forms is not None
    assert worker is not None
    eventually(lambda: "listening on queue" in stack.log("worker"), what="the worker starts")

    intake.write_text(intake_form())
    time.sleep(1)  # no watcher: nothing changes by itself
    assert httpx.get(f"{stack.url}/v1/forms/intake").status_code == 503

    os.kill(forms.pid, signal.SIGHUP)
    os.kill(worker.pid, signal.SIGHUP)
    eventually(
        lambda: httpx.get(f"{stack.url}/v1/forms/intake").status_code == 200,
        what="SIGHUP reloads the forms service",
    )
    assert stack.submit("intake").status_code == 201
    eventually(lambda: mailed_to(relay, "intake@clinic.example") == 1, timeout=30)
    assert forms.poll() is None
    assert worker.poll() is None
