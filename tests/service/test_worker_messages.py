"""What the worker sends and records, against real Redis and real aiosmtpd relays (in-process
SimpleWorker): headers, encodings, auto-reply, SMTPUTF8 policy, partial refusal, QUIT hang, TLS,
the sweep and ``frontdesk send-test``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from frontdesk.cli import main as cli_main
from frontdesk.settings import load_settings
from frontdesk.submissions.keys import job_id, sent_marker_key
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission, update_submission
from services.forms.app import create_app
from tests.conftest import clinic_site_copy
from tests.relay import Relay, running, self_signed, server_context
from worker.jobs import send_message
from worker.sweep import sweep

NAME = "Zoë Ødegård 李"
AUTO_REPLY_BODY = "Thanks for writing to the clinic.\n\nWe answer within one working day."
FORM_EXTRA = f"""
auto_reply:
  subject: "We got your message 🦴"
  body: {json.dumps(AUTO_REPLY_BODY)}
spam:
  min_fill_seconds: 0
"""


def visitor(**changes: str) -> dict[str, str]:
    values = {
        "name": NAME,
        "email": "zoe@example.com",
        "phone": "+1 415 555 2671",
        "message": "Knee pain <script>alert(1)</script> 🦵\nsince Monday",
    }
    return values | changes


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The clinic site with an emoji subject, an auto-reply and two staff recipients."""
    site = tmp_path / "site"
    clinic_site_copy(site)  # a full staff email: the clinic's sends a summary
    form = site / "forms" / "contact.yaml"
    text = form.read_text()
    text = text.replace('subject: "New inquiry', 'subject: "🦷 New inquiry')
    text = text.replace(
        "recipients: [frontdesk@clinic.example]",
        "recipients: [frontdesk@clinic.example, gone@clinic.example]",
    )
    form.write_text(text + FORM_EXTRA)
    return site


@pytest.fixture
def relay() -> Relay:
    return Relay()


@pytest.fixture
def worker_env(
    env: dict[str, str], site: Path, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> pytest.MonkeyPatch:
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    return monkeypatch


@pytest.fixture
def smtp_port(worker_env: pytest.MonkeyPatch, relay: Relay) -> Iterator[int]:
    with running(relay) as port:
        worker_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield port


def submit(values: dict[str, str], *, from_page: bool = False) -> str:
    """Post ``values``; ``from_page``: as the form page does (its time-trap token, an allowed
    Origin), the only posts that get an auto-reply (the form's ``min_fill_seconds`` must be 0).
    """
    with TestClient(create_app(load_settings())) as client:
        if not from_page:
            response = client.post("/v1/forms/contact/submissions", json=values)
        else:
            token = client.get("/v1/forms/contact").json()["token"]
            response = client.post(
                "/v1/forms/contact/submissions",
                json={**values, "_token": token},
                headers={"origin": "http://127.0.0.1:8000"},
            )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit_from_page(values: dict[str, str]) -> str:
    return submit(values, from_page=True)


def run_jobs(connection: redis.Redis) -> None:
    settings = load_settings()
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


def stored(connection: redis.Redis, submission_id: str) -> Submission:
    submission = load_submission(connection, submission_id)
    assert submission is not None
    return submission


def by_kind(messages: list[EmailMessage], kind: str) -> EmailMessage:
    [message] = [m for m in messages if f".{kind}@" in str(m["Message-ID"])]
    return message


def raw_headers(relay: Relay, kind: str) -> bytes:
    [envelope] = [e for e in relay.accepted if f".{kind}@".encode() in (e.original_content or b"")]
    return (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]


def test_staff_mail_carries_unicode_escapes_html_and_shows_flags(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor())

    def add_flags(s: Submission) -> None:
        s.flags += ["phone_unverified", "origin_unknown", "no_token"]

    update_submission(redis_client, submission_id, add_flags)
    run_jobs(redis_client)

    staff = by_kind(relay.wait(2), "staff")
    [envelope] = [e for e in relay.accepted if e.rcpt_tos != ["zoe@example.com"]]
    assert envelope.mail_from == "no-reply@clinic.example"
    assert envelope.rcpt_tos == ["frontdesk@clinic.example", "gone@clinic.example"]
    assert [a.addr_spec for a in staff["To"].addresses] == envelope.rcpt_tos
    [reply_to] = staff["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (NAME, "zoe@example.com")
    assert staff["Subject"] == f"🦷 New inquiry from {NAME} via Get In Touch"
    assert staff["Date"] is not None
    assert staff["Message-ID"] == f"<{submission_id}.staff@clinic.example>"
    # Non-ASCII display names and subjects travel as RFC 2047 encoded-words over plain SMTP.
    headers = raw_headers(relay, "staff")
    assert headers.isascii()
    assert b"=?utf-8?" in headers
    text = staff.get_body(("plain",)).get_content()
    html = staff.get_body(("html",)).get_content()
    assert NAME in text
    assert NAME in html
    assert "🦵" in text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    for flag in ("phone_unverified", "origin_unknown", "no_token"):
        assert flag in text
        assert flag in html

    record = stored(redis_client, submission_id)
    assert record.status == "notified"
    state = record.message("staff")
    assert state is not None
    assert (state.status, state.attempts, state.message_id) == ("sent", 1, staff["Message-ID"])
    assert state.sent_at is not None


def test_auto_reply_text_comes_from_the_form_definition(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, site: Path
) -> None:
    override = site / "templates" / "contact"
    override.mkdir(parents=True)
    (override / "auto_reply.txt.j2").write_text("{{ auto_reply.body }}\n-- \nThe clinic team\n")
    submission_id = submit_from_page(visitor(message="Please send me a prize <b>now</b>"))
    run_jobs(redis_client)

    reply = by_kind(relay.wait(2), "auto_reply")
    assert reply["Auto-Submitted"] == "auto-replied"
    assert [a.addr_spec for a in reply["To"].addresses] == ["zoe@example.com"]
    assert reply["Reply-To"] is None
    assert reply["Subject"] == "We got your message 🦴"
    assert reply["Message-ID"] == f"<{submission_id}.auto_reply@clinic.example>"
    text = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = reply.get_body(("html",)).get_content()
    assert text == AUTO_REPLY_BODY + "\n-- \nThe clinic team\n"
    assert "We answer within one working day." in html
    for body in (text, html):
        assert "prize" not in body
        assert NAME not in body
    record = stored(redis_client, submission_id)
    assert [(m.kind, m.status) for m in record.messages] == [
        ("staff", "sent"),
        ("auto_reply", "sent"),
    ]


def test_non_ascii_mailbox_goes_over_smtputf8(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor(email="zoë@exämple.com"))
    run_jobs(redis_client)

    messages = relay.wait(2)
    staff, reply = by_kind(messages, "staff"), by_kind(messages, "auto_reply")
    assert staff["Reply-To"].addresses[0].addr_spec == "zoë@exämple.com"
    assert all("SMTPUTF8" in e.mail_options for e in relay.accepted)
    assert [a.addr_spec for a in reply["To"].addresses] == ["zoë@exämple.com"]
    assert b"=?utf-8?" not in raw_headers(relay, "staff").split(b"Reply-To:")[1].split(b"\r\n")[0]
    record = stored(redis_client, submission_id)
    assert [m.status for m in record.messages] == ["sent", "sent"]


def test_without_smtputf8_a_non_ascii_mailbox_is_never_encoded(
    worker_env: pytest.MonkeyPatch, relay: Relay, redis_client: redis.Redis
) -> None:
    with running(relay, enable_SMTPUTF8=False) as port:
        worker_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        submission_id = submit_from_page(visitor(email="zoë@example.com"))
        run_jobs(redis_client)

    [staff] = relay.messages()
    assert staff["Reply-To"] is None
    assert "zoë@example.com" in staff.get_body(("plain",)).get_content()
    record = stored(redis_client, submission_id)
    assert record.status == "notified"
    auto_reply = record.message("auto_reply")
    assert auto_reply is not None
    # SMTPNotSupported is permanent: failed at once, never scheduled for a retry.
    assert (auto_reply.status, auto_reply.attempts) == ("failed", 1)
    assert auto_reply.last_error is not None
    assert "SMTPUTF8" in auto_reply.last_error.text
    assert redis_client.zcard("rq:scheduled:frontdesk") == 0


def test_partial_refusal_is_recorded_per_recipient(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    relay.rcpt_replies["gone@clinic.example"] = "550 5.1.1 no such mailbox"
    submission_id = submit_from_page(visitor())
    run_jobs(redis_client)

    staff = by_kind(relay.wait(2), "staff")
    assert staff is not None
    record = stored(redis_client, submission_id)
    assert record.status == "notified"
    state = record.message("staff")
    assert state is not None
    assert state.status == "sent"
    assert list(state.refused) == ["gone@clinic.example"]
    assert state.refused["gone@clinic.example"].code == 550


def test_relay_that_never_answers_quit_still_counts_as_sent(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    relay.hang_quit = True
    submission_id = submit_from_page(visitor())
    run_jobs(redis_client)

    record = stored(redis_client, submission_id)
    assert [(m.status, m.attempts) for m in record.messages] == [("sent", 1), ("sent", 1)]
    assert redis_client.zcard("rq:scheduled:frontdesk") == 0
    assert send_message(submission_id, "staff") == "already_sent"
    assert len(relay.accepted) == 2


@pytest.mark.parametrize(("security", "implicit"), [("tls", True), ("starttls", False)])
def test_tls_relays_deliver_with_the_configured_ca(
    worker_env: pytest.MonkeyPatch,
    relay: Relay,
    redis_client: redis.Redis,
    tmp_path: Path,
    security: str,
    implicit: bool,
) -> None:
    cert, key = self_signed(tmp_path)
    context = server_context(cert, key)
    options = (
        {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    )
    with running(relay, **options) as port:
        worker_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        worker_env.setenv("FRONTDESK_SMTP_SECURITY", security)
        worker_env.setenv("FRONTDESK_SMTP_CA_FILE", str(cert))
        submission_id = submit_from_page(visitor())
        run_jobs(redis_client)

    assert len(relay.accepted) == 2
    assert stored(redis_client, submission_id).status == "notified"


def test_tls_relay_with_an_untrusted_certificate_is_not_sent_to(
    worker_env: pytest.MonkeyPatch, relay: Relay, redis_client: redis.Redis, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    with running(relay, ssl_context=server_context(cert, key)) as port:
        worker_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        worker_env.setenv("FRONTDESK_SMTP_SECURITY", "tls")
        submission_id = submit_from_page(visitor())
        run_jobs(redis_client)

    assert relay.accepted == []
    state = stored(redis_client, submission_id).message("staff")
    assert state is not None
    assert state.status == "queued"
    assert state.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in state.last_error.text


def test_sweep_requeues_a_message_whose_job_was_lost(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor())
    for kind in ("staff", "auto_reply"):
        Job.fetch(job_id(submission_id, kind), connection=redis_client).delete()
    run_jobs(redis_client)
    assert relay.accepted == []

    assert sweep(redis_client, load_settings()) == 2
    run_jobs(redis_client)
    assert len(relay.wait(2)) == 2
    assert stored(redis_client, submission_id).status == "notified"
    assert sweep(redis_client, load_settings()) == 0


def test_sweep_trusts_the_sent_marker_over_a_stale_record(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor())
    # A crash between the relay's 250 and the record update leaves only the marker behind.
    redis_client.set(sent_marker_key(submission_id, "staff"), f"<{submission_id}.staff@x>")
    Job.fetch(job_id(submission_id, "staff"), connection=redis_client).delete()

    sweep(redis_client, load_settings())
    record = stored(redis_client, submission_id)
    assert record.status == "notified"
    state = record.message("staff")
    assert state is not None
    assert (state.status, state.message_id) == ("sent", f"<{submission_id}.staff@x>")


def test_send_test_prints_the_relay_answer(
    smtp_port: int, relay: Relay, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["send-test", "--to", "ops@clinic.example"]) == 0
    [message] = relay.wait(1)
    assert message["To"] == "ops@clinic.example"
    assert message["From"] == "Clinic Website <no-reply@clinic.example>"
    assert "2.0.0 queued as test" in capsys.readouterr().out


def test_send_test_reports_a_refusal(
    smtp_port: int, relay: Relay, capsys: pytest.CaptureFixture[str]
) -> None:
    relay.data_replies.append("554 5.7.1 relaying denied")
    assert cli_main(["send-test", "--to", "ops@clinic.example"]) == 1
    assert "554 5.7.1 relaying denied" in capsys.readouterr().err


def test_resend_queues_a_failed_message_again(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    relay.data_replies.append("550 5.7.1 rejected by policy")
    submission_id = submit_from_page(visitor())
    run_jobs(redis_client)
    assert stored(redis_client, submission_id).status == "failed"

    assert cli_main(["resend", submission_id]) == 0
    assert "queued: staff" in capsys.readouterr().out
    run_jobs(redis_client)
    record = stored(redis_client, submission_id)
    assert record.status == "notified"
    state = record.message("staff")
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 2)
    assert cli_main(["resend", "0" * 28]) == 1


def test_quarantined_submission_is_neither_sent_nor_swept(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor())

    def quarantine(s: Submission) -> None:
        s.status = "quarantined"

    update_submission(redis_client, submission_id, quarantine)
    Job.fetch(job_id(submission_id, "auto_reply"), connection=redis_client).delete()
    run_jobs(redis_client)
    assert sweep(redis_client, load_settings()) == 0
    run_jobs(redis_client)
    assert relay.accepted == []
    record = stored(redis_client, submission_id)
    assert [m.status for m in record.messages] == ["queued", "queued"]


def test_sweep_marks_a_message_failed_when_its_job_ended(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    submission_id = submit_from_page(visitor())
    queue = Queue("frontdesk", connection=redis_client, serializer=JSONSerializer)
    job = Job.fetch(job_id(submission_id, "staff"), connection=redis_client)
    queue.remove(job)
    job.set_status(JobStatus.FAILED)

    assert sweep(redis_client, load_settings()) == 1
    record = stored(redis_client, submission_id)
    assert record.status == "failed"
    state = record.message("staff")
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    assert "ended failed" in state.last_error.text


def test_send_test_refuses_what_is_not_an_address(
    smtp_port: int, relay: Relay, capsys: pytest.CaptureFixture[str]
) -> None:
    # A user report: `send-test --to not-an-address` printed OK.
    assert cli_main(["send-test", "--to", "not-an-address"]) == 2
    assert "@-sign" in capsys.readouterr().err
    assert (relay.accepted, relay.data_attempts) == ([], 0)
