"""Routing and copies through the real path: the forms app stores a post, the real worker job sends
the staff email to a real aiosmtpd relay, and the test reads what the relay received: the envelope
(``RCPT TO``) and the bytes, parsed with ``email``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from aiosmtpd.smtp import Envelope
from litestar.testing import TestClient
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from frontdesk.settings import load_settings
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission, update_submission
from services.forms.app import create_app
from tests.conftest import clinic_site_copy
from tests.relay import Relay, running
from worker.smtp import DeliveryError, deliver

DEFAULT = "frontdesk@clinic.example"
PHYSIO = "physio-a@clinic.example"
OFFICE = "office@clinic.example"
CC = ["manager@clinic.example", "Lead.Physio@clinic.example"]
BCC = ["records@clinic.example", "audit@clinic.example"]
COPIES = f"""
cc: [{", ".join(CC)}]
bcc: [{", ".join(BCC)}]
spam:
  min_fill_seconds: 0
"""


def visitor(**changes: str) -> dict[str, str]:
    values = {
        "name": "Ann Example",
        "email": "ann@example.com",
        "phone": "+1 415 555 2671",
        "message": "My lower back hurts when I sit.",
    }
    return values | changes


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The clinic site as shipped (its contact form routes "Back pain" and "Billing"), with a cc
    and a bcc list added.
    """
    site = tmp_path / "site"
    clinic_site_copy(site)  # a full staff email: the clinic's sends a summary
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + COPIES)
    return site


@pytest.fixture
def relay(
    env: dict[str, str], site: Path, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[Relay]:
    relay = Relay()
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield relay


def submit(values: dict[str, str]) -> str:
    with TestClient(create_app(load_settings())) as client:
        response = client.post("/v1/forms/contact/submissions", json=values)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run_jobs(connection: redis.Redis) -> None:
    queue = Queue(load_settings().queue_name, connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


def staff_mail(relay: Relay) -> tuple[Envelope, EmailMessage, bytes]:
    """The one staff email the relay accepted: its envelope, its parsed message, its header bytes."""
    [envelope] = relay.accepted
    raw = envelope.original_content or b""
    message = message_from_bytes(raw, policy=policy.strict)
    assert isinstance(message, EmailMessage)
    return envelope, message, raw.split(b"\r\n\r\n", 1)[0]


def addresses(message: EmailMessage, name: str) -> list[str]:
    return [a.addr_spec for header in message.get_all(name, []) for a in header.addresses]


def assert_copies(envelope: Envelope, message: EmailMessage, headers: bytes, to: str) -> None:
    """To the routed address, Cc the cc list, RCPT TO for each, and no header naming a bcc."""
    assert envelope.mail_from == "no-reply@clinic.example"
    assert envelope.rcpt_tos == [to, *CC, *BCC]
    assert addresses(message, "To") == [to]
    assert addresses(message, "Cc") == CC
    assert message.get_all("Bcc") is None
    for address in BCC:
        assert address.lower().encode() not in headers.lower()
        assert address.split("@")[0].encode() not in headers
    assert b"\nbcc:" not in headers.lower()


@pytest.mark.parametrize(
    ("topic", "to"),
    [("Back pain", PHYSIO), ("Billing", OFFICE), ("Sports injury", DEFAULT), ("Other", DEFAULT)],
)
def test_topic_routes_the_staff_email_with_cc_and_blind_copies(
    relay: Relay, redis_client: redis.Redis, topic: str, to: str
) -> None:
    submit(visitor(topic=topic))
    run_jobs(redis_client)
    envelope, message, headers = staff_mail(relay)
    assert_copies(envelope, message, headers, to)
    body = message.get_body(("plain",))
    assert body is not None
    assert topic in body.get_content()


def test_no_topic_goes_to_the_default_recipients(relay: Relay, redis_client: redis.Redis) -> None:
    submit(visitor())
    run_jobs(redis_client)
    envelope, message, headers = staff_mail(relay)
    assert_copies(envelope, message, headers, DEFAULT)


@pytest.mark.parametrize("topic", [PHYSIO, "back pain", "Urgent", "Billing\nBcc: x@evil.example"])
def test_visitor_cannot_name_a_route_or_an_address(
    relay: Relay, redis_client: redis.Redis, topic: str
) -> None:
    """Only the select's options are accepted: an address, another spelling or a header injection
    in the routed field is refused at intake and nothing is sent.
    """
    with TestClient(create_app(load_settings())) as client:
        response = client.post("/v1/forms/contact/submissions", json=visitor(topic=topic))
    assert response.status_code == 422, response.text
    run_jobs(redis_client)
    assert relay.accepted == []


def test_stored_value_that_is_not_an_option_goes_to_the_default(
    relay: Relay, redis_client: redis.Redis
) -> None:
    """A record whose value is no longer one of the options (an option renamed after the post)
    gets the default recipients, never a route.
    """
    submission_id = submit(visitor(topic="Back pain"))

    def renamed(s: Submission) -> None:
        s.fields["topic"] = "Back pain (old)"

    update_submission(redis_client, submission_id, renamed)
    run_jobs(redis_client)
    envelope, message, headers = staff_mail(relay)
    assert_copies(envelope, message, headers, DEFAULT)
    stored = load_submission(redis_client, submission_id)
    assert stored is not None
    state = stored.message("staff")
    assert state is not None
    assert state.status == "sent"


def test_refused_blind_copy_is_recorded_and_the_others_still_get_it(
    relay: Relay, redis_client: redis.Redis
) -> None:
    relay.rcpt_replies[BCC[0]] = "550 5.1.1 no such mailbox"
    submission_id = submit(visitor(topic="Billing"))
    run_jobs(redis_client)
    [envelope] = relay.accepted
    assert envelope.rcpt_tos == [OFFICE, *CC, BCC[1]]
    stored = load_submission(redis_client, submission_id)
    assert stored is not None
    state = stored.message("staff")
    assert state is not None
    assert state.status == "sent"
    assert list(state.refused) == [BCC[0]]


def test_a_form_naming_a_domain_ops_do_not_allow_does_not_load(
    relay: Relay, redis_client: redis.Redis, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FRONTDESK_RECIPIENT_DOMAINS``: a bcc on another domain keeps the form from loading in the
    forms service (503) and in the worker (its mail waits), so no copy leaves for that domain.
    """
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text().replace("audit@clinic.example", "audit@elsewhere.example"))
    monkeypatch.setenv("FRONTDESK_RECIPIENT_DOMAINS", "clinic.example")
    with TestClient(create_app(load_settings())) as client:
        response = client.post("/v1/forms/contact/submissions", json=visitor(topic="Billing"))
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "form_unavailable"
        assert client.get("/v1/forms/contact").status_code == 503

    from worker.context import JobContext

    context = JobContext.build(load_settings())
    assert context.form("contact") is None
    assert any("audit@elsewhere.example" in p for p in context.catalog.problems)


def test_allowed_domains_let_the_form_load_and_deliver(
    relay: Relay, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_RECIPIENT_DOMAINS", "CLINIC.example, other.example")
    submit(visitor(topic="Back pain"))
    run_jobs(redis_client)
    envelope, message, headers = staff_mail(relay)
    assert_copies(envelope, message, headers, PHYSIO)


def test_a_message_with_a_bcc_header_is_refused_not_sent(relay: Relay) -> None:
    """Blind copies travel in the envelope only: a built message that carries a ``Bcc`` header
    (which would show every copy who else got it) fails permanently before DATA.
    """
    message = EmailMessage()
    message["From"] = "Clinic <no-reply@clinic.example>"
    message["To"] = DEFAULT
    message["Bcc"] = BCC[0]
    message["Subject"] = "x"
    message.set_content("x")
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(deliver(message, [DEFAULT, BCC[0]], load_settings()))
    assert caught.value.permanent
    assert "Bcc" in caught.value.text
    assert relay.accepted == []


def test_the_public_definition_names_no_staff_address(relay: Relay) -> None:
    """Routes, cc and bcc are the editor's and ops' business: the visitor sees only the options."""
    with TestClient(create_app(load_settings())) as client:
        answer = client.get("/v1/forms/contact")
    assert answer.status_code == 200
    [topic] = [f for f in answer.json()["fields"] if f["name"] == "topic"]
    assert topic["options"] == ["Back pain", "Sports injury", "Billing", "Other"]
    for address in [DEFAULT, PHYSIO, OFFICE, *CC, *BCC]:
        assert address.lower() not in answer.text.lower()
    assert "routes" not in answer.text
