"""No visitor data in logs, stored errors or RQ job data, with a real ``frontdesk worker`` process
and a real aiosmtpd relay whose refusals quote the visitor, as relays do:
``450 4.1.2 <visitor@domain>: Recipient address rejected`` to the auto-reply's RCPT, and DATA
replies to the staff mail naming its Reply-To and Subject (the visitor's name).

The visitor's values are drill canaries (unique per run): name, email local part and domain, phone
as typed and in E.164, message. The test reads the stored ``last_error`` of each message, every
value RQ keeps under ``rq:*`` (job hashes with ``exc_info``, result streams, registries; zlib and
base64 undone) and the worker's whole output at DEBUG.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from litestar.testing import TestClient
from rq.job import Job
from rq.serializers import JSONSerializer

from frontdesk.settings import load_settings
from frontdesk.submissions.keys import job_id
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission
from services.forms.app import create_app
from tests.conftest import clinic_site_copy
from tests.drills.harness import Canaries, assert_no_canary
from tests.processes import FRONTDESK, start, stop
from tests.relay import Relay, running

pytestmark = pytest.mark.e2e
AUTO_REPLY = """
spam:
  min_fill_seconds: 0
auto_reply:
  subject: "We got your message"
  body: "Thanks for writing to the clinic."
"""
SETTINGS = {
    "FRONTDESK_RETRY_BASE_SECONDS": "1",
    "FRONTDESK_RETRY_MAX_HOURS": "0.001",  # retries after 1 s and 2 s, then the message fails
    "FRONTDESK_WORKER_HEARTBEAT": "1",
    "FRONTDESK_WORKER_MAINTENANCE_INTERVAL": "1",
    "FRONTDESK_SMTP_TIMEOUT": "3",
    "FRONTDESK_RATE_LIMITS": "off",
    "FRONTDESK_LOG_LEVEL": "DEBUG",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    # The relay quotes the staff email's Reply-To and Subject: a full one (the clinic's sends a
    # summary, which holds neither).
    site = clinic_site_copy(tmp_path / "site")
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + AUTO_REPLY)
    return site


@pytest.fixture
def worker_log(
    env: dict[str, str],
    site: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    relay: Relay,
) -> Iterator[Path]:
    """A real ``frontdesk worker`` (its own process group) for the relay; yields its log file."""
    for key, value in SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    log = tmp_path / "worker.log"
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        process = start([FRONTDESK, "worker"], dict(os.environ), log, new_session=True)
        try:
            yield log
        finally:
            stop(process, timeout=20, group=True)


@pytest.fixture
def relay() -> Relay:
    return Relay()


def rq_text(connection: redis.Redis) -> str:
    """Every value under ``rq:*`` as text, with RQ's zlib (``exc_info``) and base64+zlib (a
    result's ``exc_string``) undone."""
    values: list[bytes] = []
    for key in connection.scan_iter("rq:*"):
        kind = connection.type(key)
        if kind == b"hash":
            values += connection.hgetall(key).values()
        elif kind == b"stream":
            values += [v for _, entry in connection.xrange(key) for v in entry.values()]
        elif kind == b"list":
            values += connection.lrange(key, 0, -1)
        elif kind == b"zset":
            values += connection.zrange(key, 0, -1)
        elif kind == b"string":
            values.append(connection.get(key) or b"")
    texts = []
    for value in values:
        texts.append(value.decode("utf-8", "replace"))
        for unpack in (zlib.decompress, lambda v: zlib.decompress(base64.b64decode(v))):
            with contextlib.suppress(zlib.error, binascii.Error, ValueError):
                texts.append(unpack(value).decode("utf-8", "replace"))
    return "\n".join(texts)


def exc_strings(connection: redis.Redis, submission_id: str) -> list[str]:
    """The tracebacks RQ stored for the submission's message jobs."""
    found = []
    for kind in ("staff", "auto_reply"):
        job = Job.fetch(job_id(submission_id, kind), connection, serializer=JSONSerializer)
        exc_info = connection.hget(job.key, "exc_info")
        found += [zlib.decompress(exc_info).decode() if exc_info else ""]
        found += [r.exc_string or "" for r in job.results()]
    return [text for text in found if text]


def wait_until_failed(connection: redis.Redis, submission_id: str) -> Submission:
    deadline = time.monotonic() + 60
    while True:
        submission = load_submission(connection, submission_id)
        assert submission is not None
        if all(m.status == "failed" for m in submission.messages) or time.monotonic() > deadline:
            return submission
        time.sleep(0.2)


def test_relay_replies_quoting_the_visitor_reach_no_log_error_or_job(
    worker_log: Path, relay: Relay, redis_client: redis.Redis
) -> None:
    canaries = Canaries()
    visitor = canaries.canary(0)
    subject = f"New inquiry from {visitor.name} via Get In Touch"
    relay.rcpt_replies[visitor.email] = (
        f"450 4.1.2 <{visitor.email}>: Recipient address rejected: Domain not found"
    )
    relay.data_replies += [
        f"451 4.7.1 <{visitor.email}>: message '{subject}' greylisted, try again later",
        f"554 5.7.1 Message from {visitor.email} ({visitor.name}) rejected as spam",
    ]
    with TestClient(create_app(load_settings())) as client:
        # As the form page posts (token, allowed Origin): only such a post gets an auto-reply.
        token = client.get("/v1/forms/contact").json()["token"]
        response = client.post(
            "/v1/forms/contact/submissions",
            json={**visitor.fields(), "_token": token},
            headers={"Origin": "http://127.0.0.1:8000"},
        )
    assert response.status_code == 201, response.text
    submission_id = response.json()["id"]

    submission = wait_until_failed(redis_client, submission_id)
    states = {m.kind: m for m in submission.messages}
    assert {k: (m.status, m.attempts) for k, m in states.items()} == {
        "staff": ("failed", 2),
        "auto_reply": ("failed", 3),
    }
    errors = {k: m.last_error for k, m in states.items()}
    assert all(e is not None for e in errors.values())
    assert (errors["staff"].code, errors["auto_reply"].code) == (554, 450)  # type: ignore[union-attr]
    assert "4.1.2" in errors["auto_reply"].text  # type: ignore[union-attr]
    # RQ 3.0 logs the traceback of a job it retries and keeps it (exc_info, a result's
    # exc_string) only for a job that fails by raising; both are read, whatever RQ keeps.
    tracebacks = "\n".join(exc_strings(redis_client, submission_id))
    output = worker_log.read_text()
    assert "DeliveryError" in output

    places = {
        "stored message states": msgspec.json.encode(submission.messages).decode(),
        "RQ exc_info and results": tracebacks,
        "everything under rq:*": rq_text(redis_client),
        "worker output": output,
    }
    leaks = {place: canaries.leaks(text) for place, text in places.items()}
    assert {place: found for place, found in leaks.items() if found} == {}
    assert_no_canary(canaries, "\n".join(places.values()))
