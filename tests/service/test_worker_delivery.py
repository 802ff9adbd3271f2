"""The worker's job against a real Redis and a real aiosmtpd server (in-process SimpleWorker)."""

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from litestar.testing import TestClient
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from frontdesk.settings import Settings, load_settings
from frontdesk.submissions.record import Submission
from services.forms.app import create_app
from services.forms.internal import create_internal_app
from tests.conftest import Inbox, clinic_site_copy

VALID = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "phone": "+1 415 555 2671",
    "message": "Knee pain <script>alert(1)</script>",
}


@pytest.fixture
def smtp_env(
    env: dict[str, str],
    smtp_server: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    # The staff email's content is checked: a full one (the clinic's sends a summary).
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(clinic_site_copy(tmp_path / "site")))
    return inbox


@pytest.fixture
def forms(smtp_env: Inbox, redis_client: redis.Redis) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(load_settings())) as client:
        yield client


def run_jobs(connection: redis.Redis, settings: Settings) -> None:
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


def record(connection: redis.Redis, submission_id: str) -> Submission:
    raw = connection.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    return msgspec.json.decode(raw, type=Submission)


def test_staff_email_reaches_relay(
    forms: TestClient, smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = forms.post("/v1/forms/contact/submissions", json=VALID).json()["id"]
    run_jobs(redis_client, load_settings())
    [message] = smtp_env.wait(1)
    [envelope] = smtp_env.envelopes
    assert envelope.mail_from == "no-reply@clinic.example"
    assert envelope.rcpt_tos == ["frontdesk@clinic.example"]
    assert message["From"] == "Clinic Website <no-reply@clinic.example>"
    assert message["To"] == "frontdesk@clinic.example"
    assert message["Reply-To"].addresses[0].addr_spec == "ann@example.com"
    assert "Ann Example" in message["Subject"]
    assert "Get In Touch" in message["Subject"]
    assert message["Message-ID"] == f"<{submission_id}.staff@clinic.example>"
    text = message.get_body(("plain",)).get_content()
    assert "+1 415 555 2671" in text
    assert "+14155552671" in text
    assert "+1 415-555-2671" in text
    assert "Knee pain" in text
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html

    stored = record(redis_client, submission_id)
    assert stored.status == "notified"
    [staff] = stored.messages
    assert (staff.status, staff.attempts) == ("sent", 1)
    assert staff.message_id == message["Message-ID"]


def test_rerun_does_not_send_twice(
    forms: TestClient, smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    from worker.jobs import send_message

    submission_id = forms.post("/v1/forms/contact/submissions", json=VALID).json()["id"]
    run_jobs(redis_client, load_settings())
    smtp_env.wait(1)
    assert send_message(submission_id, "staff") == "already_sent"
    assert len(smtp_env.envelopes) == 1


def test_permanent_refusal_fails_without_retry(
    forms: TestClient, smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    smtp_env.replies.append("550 5.7.1 rejected by policy")
    submission_id = forms.post("/v1/forms/contact/submissions", json=VALID).json()["id"]
    run_jobs(redis_client, load_settings())
    stored = record(redis_client, submission_id)
    assert stored.status == "failed"
    [staff] = stored.messages
    assert staff.status == "failed"
    assert staff.last_error is not None
    assert staff.last_error.code == 550
    assert redis_client.zcard("rq:scheduled:frontdesk") == 0


def test_transient_refusal_is_scheduled_for_retry(
    forms: TestClient, smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    smtp_env.replies.append("451 4.3.0 try again later")
    submission_id = forms.post("/v1/forms/contact/submissions", json=VALID).json()["id"]
    run_jobs(redis_client, load_settings())
    stored = record(redis_client, submission_id)
    assert stored.status == "received"
    [staff] = stored.messages
    assert (staff.status, staff.attempts) == ("queued", 1)
    assert staff.last_error is not None
    assert staff.last_error.code == 451
    assert redis_client.zrange("rq:scheduled:frontdesk", 0, -1) == [
        f"{submission_id}-staff".encode()
    ]


def test_message_outcomes_reach_the_metrics(
    forms: TestClient, smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    internal = TestClient(create_internal_app(load_settings()))  # /metrics is internal

    def outcomes() -> dict[str, float]:
        text = internal.get("/metrics").text
        return {
            s.labels["outcome"]: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "frontdesk_messages_total" and s.labels.get("kind") == "staff"
        }

    smtp_env.replies.append("451 4.3.0 try again later")
    forms.post("/v1/forms/contact/submissions", json=VALID)
    run_jobs(redis_client, load_settings())
    assert outcomes() == {"retried": 1}
    smtp_env.replies.append("550 5.7.1 rejected by policy")
    forms.post("/v1/forms/contact/submissions", json={**VALID, "message": "Another inquiry"})
    run_jobs(redis_client, load_settings())
    forms.post("/v1/forms/contact/submissions", json={**VALID, "message": "A third inquiry"})
    run_jobs(redis_client, load_settings())
    assert outcomes() == {"retried": 1, "failed": 1, "sent": 1}
