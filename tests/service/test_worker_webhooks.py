"""Webhook deliveries against a real HTTP server and real Redis (in-process SimpleWorker)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from frontdesk.submissions.secret import derive
from tests.conftest import CLINIC_SITE
from tests.relay import Relay, running
from tests.service.test_worker_messages import run_jobs, stored, submit, visitor

SECRET = "webhook-test-master-key-0123456789abcdef"


class Receiver:
    """Records each POST (headers, body) and answers with the next scripted status (then 204)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((dict(self.headers.items()), body))
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver, f"http://127.0.0.1:{server.server_address[1]}/hooks/frontdesk"
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    receiver: tuple[Receiver, str],
) -> Iterator[Receiver]:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + f"\nwebhook:\n  url: {receiver[1]}\n")
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", SECRET)
    # The receiver listens on loopback over plain HTTP: ops allow both here.
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_HTTP", "on")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    with running(Relay()) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield receiver[0]


def test_webhook_posts_the_signed_submission(hooked: Receiver, redis_client: redis.Redis) -> None:
    submission_id = submit(visitor())
    run_jobs(redis_client)

    [(headers, body)] = hooked.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["Frontdesk-Delivery"] == f"{submission_id}.webhook"
    timestamp, _, digest = headers["Frontdesk-Signature"].partition(",v1=")
    timestamp = timestamp.removeprefix("t=")
    key = derive(SECRET.encode(), "webhooks").hex().encode()
    expected = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(digest, expected.hexdigest())
    payload = json.loads(body)
    assert payload["id"] == submission_id
    assert payload["fields"]["name"] == visitor()["name"]
    assert payload["phone"]["e164"] == "+14155552671"
    assert "messages" not in payload

    record = stored(redis_client, submission_id)
    state = record.message("webhook")
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 1)
    assert record.status == "notified"


def test_webhook_5xx_is_retried_and_4xx_is_permanent(
    hooked: Receiver, redis_client: redis.Redis
) -> None:
    hooked.statuses += [503]
    retried = submit(visitor())
    run_jobs(redis_client)
    state = stored(redis_client, retried).message("webhook")
    assert state is not None
    assert (state.status, state.attempts) == ("queued", 1)
    assert state.last_error is not None
    assert state.last_error.code == 503
    assert redis_client.zrange("rq:scheduled:frontdesk", 0, -1) == [f"{retried}-webhook".encode()]

    hooked.statuses += [410]
    refused = submit(visitor(email="other@example.com"))
    run_jobs(redis_client)
    state = stored(redis_client, refused).message("webhook")
    assert state is not None
    assert (state.status, state.attempts) == ("failed", 1)
    assert state.last_error is not None
    assert state.last_error.code == 410
    # The webhook has its own state: the staff email of the same submission went out.
    assert stored(redis_client, refused).status == "notified"
