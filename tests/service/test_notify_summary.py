"""``notify: summary``: the staff email of the clinic's contact form carries no visitor data — only
the form's title, the time and a link to the inquiry in the inbox — in no header and no part.

Through the real stack: the forms app stores a post full of canary values, RQ's worker (in-process
``SimpleWorker``) sends the staff email to a real aiosmtpd server.
"""

from __future__ import annotations

import datetime as dt
import shutil
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from frontdesk.submissions.definition import load_forms
from frontdesk.submissions.store import load_submission
from services.forms.app import create_app
from tests.conftest import CLINIC_SITE, Inbox
from tests.service.test_worker_delivery import run_jobs
from worker.templates import check_templates

INBOX = "https://inbox.clinic.example"
PAGE = "http://127.0.0.1:8000"
PREFERRED = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=9)).isoformat()
CANARIES = {
    "name": "Quillonby Zarkwether",
    "email": "quillonby.zark@zarkmail.example",
    "phone": "+1 415 555 0187",
    "topic": "Sports injury",
    "message": "Snorkelwhistle pain in my left knee since the ferrywood race",
    "preferred_date": PREFERRED,
    "_source_url": f"{PAGE}/zarkpage-knee.html?utm_source=zarkletter",
    "_source_title": "Zarkpage about knees",
    "_utm_source": "zarkletter",
    "_utm_medium": "zarkmedium",
    "_utm_campaign": "zarkcampaign",
    "_utm_term": "zarkterm",
    "_utm_content": "zarkcontent",
}
# Every form a value could take in a mail: as typed, its words, the phone as libphonenumber
# writes it, the address's parts.
FORBIDDEN = sorted(
    {
        *CANARIES.values(),
        "Quillonby",
        "Zarkwether",
        "quillonby.zark",
        "zarkmail",
        "Snorkelwhistle",
        "ferrywood",
        "Sports",
        "injury",
        "+14155550187",
        "14155550187",
        "415-555-0187",
        "(415) 555-0187",
        "5550187",
        "zarkpage",
        "Zarkpage",
        PREFERRED,
    }
)


@pytest.fixture
def smtp(
    env: dict[str, str],
    smtp_server: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("FRONTDESK_INBOX_URL", f"{INBOX}/")
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    return inbox


def post(values: dict[str, str]) -> str:
    """Post from the clinic page's origin (so the source and its campaign are kept)."""
    with TestClient(create_app(load_settings())) as client:
        answer = client.post("/v1/forms/contact/submissions", json=values, headers={"origin": PAGE})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def texts(message: EmailMessage) -> list[str]:
    """Every header value and every part's decoded text."""
    found = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        found += [f"{name}: {value}" for name, value in part.items()]
        if not part.is_multipart():
            found.append(str(part.get_content()))  # type: ignore[attr-defined]
    return found


def test_the_clinic_contact_form_sends_a_summary(smtp: Inbox, redis_client: redis.Redis) -> None:
    assert load_forms(CLINIC_SITE)["contact"].notify == "summary"
    submission_id = post(CANARIES)
    record = load_submission(redis_client, submission_id)
    assert record is not None
    # The canaries were stored (so their absence below means something).
    assert record.fields["name"] == CANARIES["name"]
    assert record.source is not None
    assert record.source.utm["utm_campaign"] == "zarkcampaign"
    assert record.phone is not None
    assert record.phone.e164 == "+14155550187"

    run_jobs(redis_client, load_settings())
    [raw_message] = [e.original_content or b"" for e in smtp.envelopes]
    [envelope] = smtp.envelopes
    message = message_from_bytes(raw_message, policy=policy.strict)
    assert isinstance(message, EmailMessage)

    # Nothing the visitor sent, in any header or part, decoded or raw.
    everything = "\n".join(texts(message))
    lowered = everything.lower()
    raw = raw_message.decode("utf-8", "replace").lower()
    for value in FORBIDDEN:
        assert value.lower() not in lowered, value
        assert value.lower() not in raw, value
    assert envelope.rcpt_tos == ["frontdesk@clinic.example"]

    # What it does hold: the form, the time, the link; a fixed subject and no Reply-To.
    link = f"{INBOX}/inquiries/{submission_id}"
    assert message["Subject"] == "New inquiry via Get In Touch"
    assert message["Reply-To"] is None
    assert message["From"] == "Clinic Website <no-reply@clinic.example>"
    assert message["To"] == "frontdesk@clinic.example"
    assert message["Message-ID"] == f"<{submission_id}.staff@clinic.example>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    received = record.created_at.strftime("%Y-%m-%d %H:%M UTC")
    for part in (text.get_content(), html.get_content()):  # type: ignore[attr-defined]
        assert "Get In Touch" in part
        assert received in part
        assert link in part
    assert f'<a href="{link}">' in html.get_content()  # type: ignore[attr-defined]
    stored = load_submission(redis_client, submission_id)
    assert stored is not None
    assert stored.status == "notified"


def test_a_summary_template_that_names_visitor_data_fails_and_is_reported(
    smtp: Inbox, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    override = site / "templates" / "contact"
    override.mkdir(parents=True)
    (override / "staff_summary.txt.j2").write_text("From {{ fields.name }}: {{ link }}\n")
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))

    problems = check_templates(site, load_forms(site))
    assert problems == [
        "templates/contact/staff_summary.txt.j2: names fields: a summary template gets only"
        " form, received, link (the form sends staff no visitor data: no visitor value)"
    ]
    submission_id = post({k: v for k, v in CANARIES.items() if not k.startswith("_")})
    run_jobs(redis_client, load_settings())
    assert smtp.envelopes == []
    record = load_submission(redis_client, submission_id)
    assert record is not None
    state = record.message("staff")
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    assert "a summary template gets only form, received, link" in state.last_error.text
