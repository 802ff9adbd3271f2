"""Replying to a visitor from the inbox: ``POST /inquiries/{id}/replies`` through the inbox app,
the reply's job run by a real RQ worker (in-process ``SimpleWorker``) against a real aiosmtpd
server, the record and the audit log in the real test Redis.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from frontdesk.cli import main as cli_main
from frontdesk.settings import load_settings
from frontdesk.staff_accounts import parse_staff
from frontdesk.submissions.audit import read_audit
from frontdesk.submissions.keys import job_id, sent_marker_key
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import SubmissionStore, load_submission, update_submission
from services.forms.app import create_app as create_forms_app
from tests.conftest import CLINIC_SITE, Inbox
from tests.inbox_sessions import StaffClient, staff_client
from tests.service.test_worker_delivery import run_jobs

DESK = "desk@clinic.example"
READER = "reader@clinic.example"
ADMIN = "dpo@clinic.example"
SENDER = "Clinic Website <no-reply@clinic.example>"
AUTO_REPLY_SUBJECT = "We got your message"
VISITOR = {
    "name": "Canary Visitorname",
    "email": "canary.visitor@example.com",
    "phone": "+1 415 555 0132",
    "message": "Canary message about my knee",
}
AUTO_REPLY = f"""
auto_reply:
  subject: {json.dumps(AUTO_REPLY_SUBJECT)}
  body: "Thanks for writing to the clinic."
"""
FORM_EXTRA = AUTO_REPLY + "spam: {min_fill_seconds: 0}\n"
NO_EMAIL_FORM = """
id: callme
title: Call me
fields:
  - {name: name, label: Name, required: true, max_length: 200}
  - {name: phone, label: Phone, type: phone, required: true}
recipients: [frontdesk@clinic.example]
sender: "Clinic Website <no-reply@clinic.example>"
spam: {min_fill_seconds: 0}
"""


class Clock:
    """The inbox's clock (Unix seconds); tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The clinic site, its contact form with an auto-reply, and a form without an email field."""
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    contact = site / "forms" / "contact.yaml"
    contact.write_text(contact.read_text() + FORM_EXTRA)
    (site / "forms" / "callme.yaml").write_text(NO_EMAIL_FORM)
    return site


@pytest.fixture
def smtp(
    env: dict[str, str],
    site: Path,
    smtp_server: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv(
        "FRONTDESK_STAFF",
        f"{DESK}:responder:name=Anna Berg,{READER}:reader,{ADMIN}:admin",
    )
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    return inbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(smtp: Inbox, clock: Clock) -> Iterator[StaffClient]:
    with staff_client(DESK, clock) as client:
        yield client


def submit(form: str = "contact", **changes: str) -> str:
    """Post as the form page does (its time-trap token, an allowed Origin): the auto-reply goes.
    The ``callme`` form gets the visitor's name and phone only.
    """
    values = {**VISITOR, **changes}
    if form == "callme":
        values = {"name": values["name"], "phone": values["phone"]}
    with TestClient(create_forms_app(load_settings())) as client:
        token = client.get(f"/v1/forms/{form}").json()["token"]
        answer = client.post(
            f"/v1/forms/{form}/submissions",
            json={**values, "_token": token},
            headers={"origin": "http://127.0.0.1:8000"},
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def stored(connection: redis.Redis, submission_id: str) -> Submission:
    record = load_submission(connection, submission_id)
    assert record is not None
    return record


def replies_to(smtp: Inbox) -> list[EmailMessage]:
    """The messages whose Message-ID says they are replies, in the order they arrived."""
    return [m for m in smtp.messages() if ".reply-" in str(m["Message-ID"])]


def send_reply(staff: StaffClient, submission_id: str, text: str) -> None:
    answer = staff.post(f"/inquiries/{submission_id}/replies", {"text": text})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/inquiries/{submission_id}"


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def test_a_reply_reaches_the_visitor_threaded_after_the_auto_reply(
    desk: StaffClient,
    smtp: Inbox,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    submission_id = submit()
    run_jobs(redis_client, load_settings())
    smtp.wait(2)  # the staff notification and the auto-reply
    auto_reply = stored(redis_client, submission_id).message("auto_reply")
    assert auto_reply is not None
    assert auto_reply.status == "sent"
    auto_reply_id = f"<{submission_id}.auto_reply@clinic.example>"
    assert auto_reply.message_id == auto_reply_id

    send_reply(desk, submission_id, "Dear Canary,\nwe can see you on Monday at 9.")
    record = stored(redis_client, submission_id)
    assert record.inquiry_status == "answered"
    [first] = record.replies
    assert (first.author, first.signature) == (DESK, "Anna Berg")
    state = record.message("reply", first.id)
    assert state is not None
    assert state.status == "queued"

    run_jobs(redis_client, load_settings())
    smtp.wait(3)
    [message] = replies_to(smtp)
    envelope = smtp.envelopes[-1]
    assert envelope.mail_from == "no-reply@clinic.example"
    assert envelope.rcpt_tos == [VISITOR["email"]]
    assert message["From"] == SENDER
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (VISITOR["name"], VISITOR["email"])
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["frontdesk@clinic.example"]
    assert message["Subject"] == f"Re: {AUTO_REPLY_SUBJECT}"
    assert message["Message-ID"] == first.message_id
    assert message["In-Reply-To"] == auto_reply_id
    assert message["References"] == auto_reply_id
    assert message["Auto-Submitted"] is None
    assert body(message) == "Dear Canary,\nwe can see you on Monday at 9.\n\nAnna Berg\n"
    state = stored(redis_client, submission_id).message("reply", first.id)
    assert state is not None
    assert (state.status, state.attempts, state.message_id) == ("sent", 1, first.message_id)

    # The second reply answers the first, and References carries the whole chain.
    send_reply(desk, submission_id, "One more thing: bring your scans.")
    run_jobs(redis_client, load_settings())
    smtp.wait(4)
    _, second = replies_to(smtp)
    second_record = stored(redis_client, submission_id).replies[1]
    assert second["Message-ID"] == second_record.message_id != first.message_id
    assert second["In-Reply-To"] == first.message_id
    assert second["References"] == f"{auto_reply_id} {first.message_id}"
    assert second["Subject"] == f"Re: {AUTO_REPLY_SUBJECT}"

    page = desk.client.get(f"/inquiries/{submission_id}").text
    assert page.count("sent, 1 attempt") == 2
    assert "we can see you on Monday at 9." in page
    assert "Anna Berg" in page

    # Audited (who replied to which inquiry), never the text; no log line holds it either.
    entries = [e for e in read_audit(redis_client, submission_id) if e.action == "reply"]
    assert [(e.actor, e.submission_id) for e in entries] == [(DESK, submission_id)] * 2
    assert all(e.detail is None for e in entries)
    for key in redis_client.scan_iter(match="frontdesk:audit*"):
        for member in redis_client.zrange(key, 0, -1):
            assert b"Monday" not in member
            assert b"scans" not in member
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for value in [*VISITOR.values(), "Monday", "scans"]:
        assert value not in logged


def test_reply_to_is_the_forms_reply_to_and_the_subject_the_title_without_an_auto_reply(
    smtp: Inbox, site: Path, clock: Clock, redis_client: redis.Redis
) -> None:
    contact = site / "forms" / "contact.yaml"
    text = contact.read_text().replace(AUTO_REPLY, "")
    contact.write_text(text + "reply_to: answers@clinic.example\n")
    submission_id = submit()
    run_jobs(redis_client, load_settings())
    with staff_client(ADMIN, clock) as admin:
        send_reply(admin, submission_id, "Hello")
    run_jobs(redis_client, load_settings())
    smtp.wait(2)
    [message] = replies_to(smtp)
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["answers@clinic.example"]
    assert message["Subject"] == "Re: Get In Touch"
    assert message["In-Reply-To"] is None
    assert message["References"] is None
    # A member without a display name signs with their address.
    assert body(message) == f"Hello\n\n{ADMIN}\n"


def test_an_smtp_outage_is_retried_and_the_delivery_state_shows_it(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = submit()
    run_jobs(redis_client, load_settings())
    smtp.wait(2)
    send_reply(desk, submission_id, "We will call you back.")
    smtp.replies.append("451 4.3.0 try again later")
    run_jobs(redis_client, load_settings())
    record = stored(redis_client, submission_id)
    [reply] = record.replies
    state = record.message("reply", reply.id)
    assert state is not None
    assert (state.status, state.attempts) == ("queued", 1)
    assert state.last_error is not None
    assert state.last_error.code == 451
    reply_job = job_id(submission_id, f"reply-{reply.id}")
    settings = load_settings()
    queue = Queue(settings.queue_name, connection=redis_client, serializer=JSONSerializer)
    assert queue.scheduled_job_registry.get_job_ids() == [reply_job]
    page = desk.client.get(f"/inquiries/{submission_id}").text
    assert "queued, 1 attempt: 451 4.3.0 try again later" in page

    # The retry comes due: RQ's scheduler moves it to the queue, the worker sends it.
    redis_client.zadd(queue.scheduled_job_registry.key, {reply_job: 0})
    scheduler = RQScheduler([queue], connection=redis_client, serializer=JSONSerializer)
    scheduler.acquire_locks()
    try:
        scheduler.enqueue_scheduled_jobs()
    finally:
        scheduler.release_locks()
    run_jobs(redis_client, settings)
    smtp.wait(4)  # the refused attempt reached DATA too
    state = stored(redis_client, submission_id).message("reply", reply.id)
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 2)
    assert "sent, 2 attempts" in desk.client.get(f"/inquiries/{submission_id}").text


def test_a_failed_reply_can_be_resent_by_its_id(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = submit()
    run_jobs(redis_client, load_settings())
    smtp.wait(2)
    send_reply(desk, submission_id, "We will call you back.")
    smtp.replies.append("550 5.1.1 mailbox unavailable")
    run_jobs(redis_client, load_settings())
    [reply] = stored(redis_client, submission_id).replies
    state = stored(redis_client, submission_id).message("reply", reply.id)
    assert state is not None
    assert state.status == "failed"
    page = desk.client.get(f"/inquiries/{submission_id}").text
    assert "failed, 1 attempt: 550 5.1.1 mailbox unavailable" in page

    assert cli_main(["resend", submission_id, "--reply", reply.id]) == 0
    run_jobs(redis_client, load_settings())
    smtp.wait(4)
    record = stored(redis_client, submission_id)
    state = record.message("reply", reply.id)
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 2)
    assert record.status == "notified"  # the staff message's outcome is untouched
    # Resent under the same Message-ID: the thread holds together.
    [first, again] = replies_to(smtp)
    assert first["Message-ID"] == again["Message-ID"] == reply.message_id


def test_an_htmx_reply_gets_the_partial(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = submit()
    answer = desk.post(
        f"/inquiries/{submission_id}/replies",
        {"text": "<b>Hello</b> there"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert answer.text.strip().startswith('<section id="replies"')
    assert "&lt;b&gt;Hello&lt;/b&gt; there" in answer.text
    assert "queued" in answer.text
    assert answer.headers["cache-control"] == "no-store"


def test_an_htmx_reply_also_updates_the_workflow_panels_status(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    # A reply makes the inquiry Answered; with htmx only "Replies" was swapped, so the panel above
    # still said "New" (and its status select offered New's choices) until a reload.
    submission_id = submit()
    answer = desk.post(
        f"/inquiries/{submission_id}/replies",
        {"text": "Hello there"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert answer.text.strip().startswith('<section id="replies"')
    panel = answer.text[answer.text.index('<section id="workflow"') :]
    assert panel.startswith(
        '<section id="workflow" class="workflow" aria-labelledby="workflow-heading"'
        ' hx-swap-oob="true">'
    )
    assert "<dt>Inquiry status</dt><dd>Answered</dd>" in panel


def test_header_injection_in_the_text_and_the_name_makes_no_header(
    smtp: Inbox,
    clock: Clock,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A staff name may not break a line: the list does not load.
    with pytest.raises(ValueError, match="line break"):
        parse_staff(f"{DESK}:responder:name=Anna\r\nBcc: evil@attacker.example")
    # An encoded word in the name is only text in the body: the name is no header.
    sneaky = "=?utf-8?q?Anna=0D=0ABcc=3A_evil@attacker.example?="
    monkeypatch.setenv("FRONTDESK_STAFF", f"{DESK}:responder:name={sneaky}")
    submission_id = submit()
    # A record stored before the encoded-word rule: the visitor's name is one.
    old_name = "=?utf-8?q?Eve=0D=0ABcc:_evil@attacker.example?="
    update_submission(redis_client, submission_id, lambda s: s.fields.update(name=old_name))
    run_jobs(redis_client, load_settings())
    smtp.wait(2)
    text = (
        "Hello\r\nBcc: evil@attacker.example\r\nSubject: pwned\r\n\r\n"
        "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?="
    )
    with staff_client(DESK, clock) as desk:
        send_reply(desk, submission_id, text)
    run_jobs(redis_client, load_settings())
    smtp.wait(3)
    [message] = replies_to(smtp)
    assert smtp.envelopes[-1].rcpt_tos == [VISITOR["email"]]
    assert message["Bcc"] is None
    assert message["Subject"] == f"Re: {AUTO_REPLY_SUBJECT}"
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("", VISITOR["email"])
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "In-Reply-To",
            "References",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    content = body(message)
    assert "Bcc: evil@attacker.example\nSubject: pwned" in content
    assert content.endswith(f"\n\n{sneaky}\n")
    raw = smtp.envelopes[-1].original_content or b""
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"attacker" not in header_block
    assert b"pwned" not in header_block


def test_a_reader_may_not_reply(smtp: Inbox, clock: Clock, redis_client: redis.Redis) -> None:
    submission_id = submit()
    with staff_client(READER, clock) as reader:
        answer = reader.post(f"/inquiries/{submission_id}/replies", {"text": "Hello"})
        assert answer.status_code == 403
        assert "does not allow this" in answer.text
        assert "Send reply" not in reader.client.get(f"/inquiries/{submission_id}").text
    record = stored(redis_client, submission_id)
    assert (record.replies, record.inquiry_status) == ([], "new")
    assert redis_client.exists(f"rq:job:{submission_id}-reply") == 0
    assert not list(redis_client.scan_iter(match=f"rq:job:{submission_id}-reply*"))


def test_a_reply_without_the_csrf_token_is_refused(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = submit()
    answer = desk.client.post(
        f"/inquiries/{submission_id}/replies", data={"text": "Hello"}, follow_redirects=False
    )
    assert answer.status_code == 403
    forged = desk.client.post(
        f"/inquiries/{submission_id}/replies",
        data={"text": "Hello", "_csrf": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert stored(redis_client, submission_id).replies == []


def test_no_email_quarantined_empty_and_unknown_are_refused_clearly(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    no_email = submit("callme")
    answer = desk.post(f"/inquiries/{no_email}/replies", {"text": "Hello"})
    assert answer.status_code == 422
    assert "This inquiry has no email address to reply to." in answer.text
    page = desk.client.get(f"/inquiries/{no_email}").text
    assert "no email address to reply to" in page
    assert "Send reply" not in page

    held = submit()

    def quarantine(s: Submission) -> None:
        s.status = "quarantined"

    update_submission(redis_client, held, quarantine)
    answer = desk.post(f"/inquiries/{held}/replies", {"text": "Hello"})
    assert answer.status_code == 409
    assert "quarantined: release it before you reply" in answer.text
    htmx = desk.post(f"/inquiries/{held}/replies", {"text": "Hi"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200
    assert "release it before you reply" in htmx.text

    fine = submit(email="other.visitor@example.com", message="Another message")
    answer = desk.post(f"/inquiries/{fine}/replies", {"text": "  \r\n "})
    assert answer.status_code == 422
    assert "The reply is empty." in answer.text
    answer = desk.post(f"/inquiries/{fine}/replies", {"text": "bell \x07"})
    assert answer.status_code == 422
    assert "control character" in answer.text
    assert "bell" in answer.text  # the text is kept for another try

    assert desk.post("/inquiries/0123456789abcdef/replies", {"text": "Hi"}).status_code == 404
    for submission_id in (no_email, held, fine):
        record = stored(redis_client, submission_id)
        assert (record.replies, record.inquiry_status) == ([], "new")
        assert not [m for m in record.messages if m.kind == "reply"]


def test_erasure_takes_the_replies_jobs_and_markers(
    desk: StaffClient, smtp: Inbox, redis_client: redis.Redis
) -> None:
    submission_id = submit()
    run_jobs(redis_client, load_settings())
    smtp.wait(2)
    send_reply(desk, submission_id, "Sent one")
    run_jobs(redis_client, load_settings())
    smtp.wait(3)
    send_reply(desk, submission_id, "Queued one")
    replies = stored(redis_client, submission_id).replies
    assert redis_client.exists(sent_marker_key(submission_id, f"reply-{replies[0].id}"))
    assert redis_client.exists(f"rq:job:{job_id(submission_id, f'reply-{replies[1].id}')}")

    settings = load_settings()
    store = SubmissionStore(redis_client, settings.queue_name, [1], 60)
    assert store.erase(VISITOR["email"]) == [submission_id]
    # The audit log names the inquiry (who replied to it), never what it held: not erased here.
    left = [
        key
        for key in redis_client.scan_iter()
        if not key.startswith(b"frontdesk:audit")
        and (
            submission_id.encode() in key
            or any(submission_id.encode() in m for m in _members(redis_client, key))
        )
    ]
    assert left == []


def _members(connection: redis.Redis, key: bytes) -> list[bytes]:
    """The members of a list, set or sorted set (the queue and the registries), else nothing."""
    kind = connection.type(key)
    if kind == b"list":
        return list(connection.lrange(key, 0, -1))
    if kind == b"zset":
        return list(connection.zrange(key, 0, -1))
    if kind == b"set":
        return list(connection.smembers(key))
    return []
