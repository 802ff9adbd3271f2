"""Visitor text never becomes mail structure, through the real stack: the forms app, the RQ job on
a real worker, a real aiosmtpd relay.

An RFC 2047 encoded word in the visitor's email, name or a field the subject names is refused
with a 422 ``encoded_word``: Python 3.11.7 decodes encoded words while folding (CVE-2024-6923),
so one would become a ``Bcc:`` header or a spoofed display name. A record stored before that rule
still cannot do it: the worker parses what it is about to send with ``email.policy.strict`` and
refuses a message whose headers differ from the ones it built.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import update_submission
from services.forms.app import create_app
from tests.conftest import clinic_site_copy
from tests.relay import Relay, running
from tests.service.test_worker_messages import run_jobs, stored

URL = "/v1/forms/contact/submissions"
INJECTION = "\r\nBcc: v@evil.example\r\n\r\nSPOOF"
B_WORD = "=?utf-8?b?" + base64.b64encode(INJECTION.encode()).decode() + "?="
Q_WORD = "=?utf-8?q?x=0D=0ABcc:_v@evil.example?="
SPOOF_NAME = "=?utf-8?q?Dr_Who_=3Cboss=40clinic=2Eexample=3E?="
VISITOR = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "alt_email": "ann.work@example.com",
    "phone": "+1 415 555 2671",
    "reason": "knee",
    "message": "Knee pain since Monday",
}
FORM_EXTRA = """
spam:
  min_fill_seconds: 0
auto_reply:
  subject: "We got your message"
  body: "Thanks for writing to the clinic."
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The clinic site: a subject naming ``name`` and ``reason``, a second email field, an
    auto-reply."""
    site = tmp_path / "site"
    clinic_site_copy(site)  # a full staff email: the clinic's sends a summary
    form = site / "forms" / "contact.yaml"
    text = form.read_text()
    text = text.replace(
        'subject: "New inquiry from {name} via {form}"',
        'subject: "New inquiry from {name} about {reason} via {form}"',
    )
    text = text.replace(
        "  - {name: message,",
        "  - {name: alt_email, label: Work email, type: email}\n"
        "  - {name: reason, label: Reason, type: text, max_length: 100}\n"
        "  - {name: message,",
    )
    form.write_text(text + FORM_EXTRA)
    return site


@pytest.fixture
def relay(
    env: dict[str, str],
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[Relay]:
    """A real aiosmtpd relay the worker's settings point at."""
    relay = Relay()
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield relay


def post(values: dict[str, str]) -> tuple[int, dict[str, object]]:
    """Post as the form page does (its time-trap token, an allowed Origin): the auto-reply goes."""
    with TestClient(create_app(load_settings())) as client:
        token = client.get("/v1/forms/contact").json()["token"]
        response = client.post(
            URL,
            json={**values, "_token": token},
            headers={"Accept": "application/json", "Origin": "http://127.0.0.1:8000"},
        )
    return response.status_code, response.json()


def delivered(relay: Relay) -> list[bytes]:
    return [e.original_content or b"" for e in relay.accepted]


def header_names(raw: bytes) -> list[str]:
    """The header names of a received message, as any mail client would read them."""
    return [name.lower() for name in message_from_bytes(raw, policy=policy.compat32)]


BUILT_STAFF = ["from", "date", "message-id", "to", "reply-to", "subject", "mime-version"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", f"{B_WORD}@example.com"),
        ("alt_email", f"{B_WORD}@example.com"),
        ("name", Q_WORD),
        ("name", SPOOF_NAME),
        ("reason", Q_WORD),
    ],
)
def test_an_encoded_word_never_becomes_a_header(
    relay: Relay, redis_client: redis.Redis, field: str, value: str
) -> None:
    status, body = post(VISITOR | {field: value})
    run_jobs(redis_client)

    for raw in delivered(relay):
        names = header_names(raw)
        assert "bcc" not in names
        assert b"SPOOF" not in raw
        assert b"boss@clinic.example" not in raw
        assert names[:3] == ["from", "date", "message-id"]
        assert raw.count(b"\r\n\r\n") >= 1
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert b"evil.example" not in head
    assert status == 422, body
    [error] = body["errors"]  # type: ignore[misc]
    assert error == {
        "field": field,
        "code": "encoded_word",
        "message": "Encoded text of the form =?…?= is not accepted here.",
    }
    assert delivered(relay) == []


def test_an_encoded_word_in_a_body_only_field_is_kept_as_typed(
    relay: Relay, redis_client: redis.Redis
) -> None:
    message = "Is =?utf-8?q?this?= a problem? It is only text in the body."
    status, body = post(VISITOR | {"message": message})
    assert status == 201, body
    run_jobs(redis_client)
    staff = [
        message_from_bytes(raw, policy=policy.strict)
        for raw in delivered(relay)
        if b".staff@" in raw
    ]
    [mail] = staff
    assert message in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [n.lower() for n in mail][:7] == BUILT_STAFF


OLD_RECORDS = {
    # field: (stored value, the kinds of message it reaches)
    "email": (f"{B_WORD}@example.com", ["staff", "auto_reply"]),
    "name": (Q_WORD, ["staff"]),
    "reason": (Q_WORD, ["staff"]),
    "spoof_name": (SPOOF_NAME, ["staff"]),
}


@pytest.mark.parametrize("case", list(OLD_RECORDS))
def test_the_worker_refuses_a_stored_record_whose_headers_change_when_written(
    relay: Relay, redis_client: redis.Redis, case: str
) -> None:
    value, refused_kinds = OLD_RECORDS[case]
    field = "name" if case == "spoof_name" else case
    status, body = post(VISITOR)
    assert status == 201, body
    submission_id = str(body["id"])

    # As a version without the encoded_word rule stored it.
    def older_version(s: Submission) -> None:
        s.fields[field] = value

    update_submission(redis_client, submission_id, older_version)
    run_jobs(redis_client)

    for raw in delivered(relay):
        assert "bcc" not in header_names(raw)
        assert b"SPOOF" not in raw
        assert b"boss@clinic.example" not in raw
    kinds_sent = {
        kind
        for kind in ("staff", "auto_reply")
        for raw in delivered(relay)
        if f".{kind}@".encode() in raw
    }
    assert kinds_sent == {"staff", "auto_reply"} - set(refused_kinds)
    record = stored(redis_client, submission_id)
    for kind in refused_kinds:
        state = record.message(kind)  # type: ignore[arg-type]
        assert state is not None
        assert (state.status, state.attempts) == ("failed", 1)
        assert state.last_error is not None
        text = json.dumps(state.last_error.text)
        for visitor_text in (value, "evil", "Bcc", "SPOOF", "boss", *VISITOR.values()):
            assert visitor_text not in text
        assert "not sent" in state.last_error.text
    assert record.status == ("failed" if "staff" in refused_kinds else "notified")
    assert redis_client.zcard("rq:scheduled:frontdesk") == 0
