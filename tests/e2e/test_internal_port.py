"""Internals are not public: ``frontdesk serve`` answers metrics, worker health and health detail on
its internal port only; the public port keeps a bare ok/unavailable. The staff API is the inbox's
(``frontdesk serve inbox``), on neither port of the forms service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import CLINIC_SITE, TEST_REDIS_URL, free_port
from tests.processes import FRONTDESK, Processes, frontdesk_env, wait_http

pytestmark = pytest.mark.e2e

TOKEN = "ops-" + "k" * 40
STAFF = {"authorization": f"Bearer {TOKEN}"}


class Ports:
    """The two services on free public and internal ports and the inbox, on ``redis_url``."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.content, self.forms, self.inbox = free_port(), free_port(), free_port()
        self.content_internal, self.forms_internal = free_port(), free_port()
        self.processes = Processes(tmp / "logs")
        self.env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": redis_url,
                "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
                "FRONTDESK_CONTENT_PORT": str(self.content),
                "FRONTDESK_FORMS_PORT": str(self.forms),
                "FRONTDESK_CONTENT_INTERNAL_PORT": str(self.content_internal),
                "FRONTDESK_FORMS_INTERNAL_PORT": str(self.forms_internal),
                "FRONTDESK_INBOX_PORT": str(self.inbox),
                "FRONTDESK_STAFF_TOKENS": f"ops:{TOKEN}",
            }
        )

    def up(self) -> None:
        self.processes.start("content", [FRONTDESK, "serve", "content"], self.env)
        self.processes.start("forms", [FRONTDESK, "serve", "forms"], self.env)
        wait_http(f"http://127.0.0.1:{self.content}/health/live")
        wait_http(f"http://127.0.0.1:{self.forms}/health/live")

    def inbox_up(self) -> None:
        self.processes.start("inbox", [FRONTDESK, "serve", "inbox"], self.env)
        wait_http(f"http://127.0.0.1:{self.inbox}/health/live")


@pytest.fixture
def ports(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Ports]:
    running = Ports(tmp_path, TEST_REDIS_URL)
    try:
        running.up()
        yield running
    finally:
        running.processes.stop()


INTERNAL_ONLY = [
    ("GET", "/metrics"),
    ("GET", "/health/workers"),
    ("GET", "/v1/submissions/x"),
    ("DELETE", "/v1/submissions/x"),
    ("POST", "/v1/submissions/x/release"),
    ("POST", "/v1/submissions/x/resend"),
    ("POST", "/v1/erasures"),
]


def test_public_ports_answer_404_for_internals(ports: Ports) -> None:
    forms = f"http://127.0.0.1:{ports.forms}"
    for method, path in INTERNAL_ONLY:
        answer = httpx.request(method, forms + path, headers=STAFF, json={"email": "a@b.example"})
        assert answer.status_code == 404, (method, path, answer.status_code)
    # The submission path takes POST publicly; its staff GET is not served there.
    listing = httpx.get(f"{forms}/v1/forms/contact/submissions", headers=STAFF)
    assert listing.status_code == 405
    assert "GET" not in listing.headers["allow"]
    assert httpx.get(f"http://127.0.0.1:{ports.content}/metrics").status_code == 404
    schema = httpx.get(f"{forms}/schema/openapi.json").json()
    assert "/v1/submissions/{submission_id}" not in schema["paths"]
    assert "/v1/erasures" not in schema["paths"]
    assert "get" not in schema["paths"]["/v1/forms/{form_id}/submissions"]
    for port in (ports.forms, ports.content):
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready")
        assert ready.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/health/live").json() == {"status": "ok"}


def test_internal_ports_serve_metrics_and_health_the_inbox_the_staff_api(ports: Ports) -> None:
    forms = f"http://127.0.0.1:{ports.forms_internal}"
    content = f"http://127.0.0.1:{ports.content_internal}"
    assert "frontdesk_redis_up 1.0" in httpx.get(f"{forms}/metrics").text
    assert "frontdesk_content_reloads_total" in httpx.get(f"{content}/metrics").text
    assert httpx.get(f"{forms}/health/workers").json()["code"] == "no_workers"
    assert httpx.get(f"{forms}/health/ready").json() == {"status": "ok"}
    assert httpx.get(f"{content}/health/ready").json() == {"status": "ok"}
    # The staff API is not on the forms service's internal port: the inbox serves it.
    for method, path in INTERNAL_ONLY[2:]:
        answer = httpx.request(method, forms + path, headers=STAFF, json={"email": "a@b.example"})
        assert answer.status_code == 404, (method, path, answer.status_code)
    assert httpx.get(f"{forms}/v1/forms/contact/submissions", headers=STAFF).status_code == 404
    schema = httpx.get(f"{forms}/schema/openapi.json").json()
    assert not [p for p in schema["paths"] if p.startswith("/v1/")]
    ports.inbox_up()
    inbox = f"http://127.0.0.1:{ports.inbox}"
    listing = httpx.get(f"{inbox}/v1/forms/contact/submissions", headers=STAFF)
    assert listing.status_code == 200
    assert listing.json() == {"items": [], "next_cursor": None}
    assert httpx.get(f"{inbox}/v1/submissions/x", headers=STAFF).status_code == 404
    assert httpx.get(f"{inbox}/v1/submissions/x").status_code == 401
    schema = httpx.get(f"{inbox}/schema/openapi.json").json()
    assert "/v1/erasures" in schema["paths"]
    # Submissions are public business, not the inbox's.
    assert "post" not in schema["paths"]["/v1/forms/{form_id}/submissions"]


def test_public_ready_gives_no_detail_when_redis_is_down(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    running = Ports(tmp_path, down)
    try:
        running.up()
        public = httpx.get(f"http://127.0.0.1:{running.forms}/health/ready")
        assert public.status_code == 503
        assert public.json() == {"status": "unavailable"}
        assert "127.0.0.1" not in public.text
        assert "Error" not in public.text
        internal = httpx.get(f"http://127.0.0.1:{running.forms_internal}/health/ready")
        assert internal.status_code == 503
        assert internal.json()["code"] == "redis_unavailable"
        assert "connecting to 127.0.0.1" in internal.json()["detail"]
    finally:
        running.processes.stop()
