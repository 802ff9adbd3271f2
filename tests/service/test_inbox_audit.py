"""The audit log: what writes an entry (inbox pages and the bearer JSON API), that no entry and no
log line holds visitor data, retention, erasure, and the admin pages (/audit, /export, /erase).

Real Redis (the test database), a real aiosmtpd server for the sign-in link, the forms service
storing real submissions; the inbox's clock is one the tests move (no sleeps).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from frontdesk.submissions.audit import (
    AuditEntry,
    forget_submissions,
    page_audit,
    read_audit,
    record_audit,
    trim_audit,
)
from frontdesk.submissions.keys import AUDIT_LOG, submission_audit_key, submission_key
from tests.conftest import Inbox
from tests.inbox_sessions import staff_client
from tests.service.test_inbox import Clock, ask, client_for, local, mailed_link

ADMIN = "ops@clinic.example"
RESPONDER = "desk@clinic.example"
READER = "nurse@clinic.example"
TOKEN = "audit-api-token-" + "t" * 32
ROBOT = "robot"
DAY = 86_400
CANARY = {
    "name": "Canaryname Zyxwv",
    "email": "canary.zyxwv@example.com",
    "phone": "+1 415 555 0177",
    "message": "Canarymessage qjxz about my shoulder",
}
# What a visitor's values may become on the way: normalised, split, lower-cased.
CANARY_STRINGS = [
    *CANARY.values(),
    "Canaryname",
    "Zyxwv",
    "zyxwv",
    "4155550177",
    "555 0177",
    "Canarymessage",
    "qjxz",
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smtp(
    env: dict[str, str], smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("FRONTDESK_STAFF", f"{ADMIN}:admin,{RESPONDER}:responder,{READER}:reader")
    monkeypatch.setenv("FRONTDESK_STAFF_TOKENS", f"{ROBOT}:{TOKEN}")
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    return inbox


@pytest.fixture
def forms(smtp: Inbox, redis_client: redis.Redis) -> Iterator[TestClient[Any]]:
    from services.forms.app import create_app as create_forms_app

    with TestClient(create_forms_app(load_settings())) as client:
        yield client


def submit(forms: TestClient[Any], **fields: str) -> str:
    answer = forms.post("/v1/forms/contact/submissions", json={**CANARY, **fields})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def log_entries(connection: redis.Redis) -> list[AuditEntry]:
    """The whole log, oldest first."""
    return [msgspec.json.decode(m, type=AuditEntry) for m in connection.zrange(AUDIT_LOG, 0, -1)]


def newest(connection: redis.Redis) -> AuditEntry:
    return read_audit(connection, limit=1)[0]


def every_audit_member(connection: redis.Redis) -> list[bytes]:
    """Every member of the log and of every trail, raw."""
    keys = [AUDIT_LOG.encode(), *connection.keys(submission_audit_key("*"))]
    return [m for key in keys for m in connection.zrange(key, 0, -1)]


def confirm_export(staff: Any, form: str = "contact", fmt: str = "csv", **extra: str) -> Any:
    data = {"form": form, "format": fmt, "from": "", "to": "", **extra}
    return staff.post("/export", {**data, "confirm": "yes"})


# --- every audited action writes its entry ------------------------------------------------------


def test_inbox_sign_in_view_export_erase_and_sign_out_everywhere_are_audited(
    smtp: Inbox, forms: TestClient[Any], redis_client: redis.Redis, clock: Clock
) -> None:
    first = submit(forms)
    with client_for(clock) as inbox:
        assert ask(inbox, ADMIN).status_code == 200
        link = mailed_link(smtp, redis_client)
        assert inbox.get(local(link), follow_redirects=False).status_code == 303
        signed_in = newest(redis_client)
        assert (signed_in.actor, signed_in.action, signed_in.at) == (ADMIN, "sign_in", clock.now)

        clock.now += 60
        detail = inbox.get(f"/inquiries/{first}")
        assert detail.status_code == 200
        viewed = newest(redis_client)
        assert (viewed.actor, viewed.action, viewed.submission_id) == (ADMIN, "view", first)
        # The detail page shows its trail, this view included.
        assert "Audit trail of this inquiry" in detail.text
        assert re.search(r"<td>ops@clinic\.example</td><td>view</td>", detail.text)

        token = re.search(r'name="_csrf" value="([^"]+)"', detail.text)
        assert token
        csrf = token.group(1)
        clock.now += 1  # one entry a second: "newest" is the last one written
        exported = inbox.post(
            "/export",
            data={"_csrf": csrf, "form": "contact", "format": "jsonl", "confirm": "yes"},
        )
        assert exported.status_code == 200
        entry = newest(redis_client)
        assert (entry.action, entry.detail, entry.submission_id) == (
            "export",
            "contact jsonl",
            None,
        )

        clock.now += 1
        erased = inbox.post(
            "/erase", data={"_csrf": csrf, "email": CANARY["email"], "confirm": "yes"}
        )
        assert erased.status_code == 200
        entry = newest(redis_client)
        assert (entry.actor, entry.action, entry.detail) == (ADMIN, "erase", "1")

        clock.now += 1
        out = inbox.post("/sign-out/everywhere", data={"_csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        entry = newest(redis_client)
        assert (entry.actor, entry.action) == (ADMIN, "sign_out_everywhere")


def test_bearer_api_view_release_resend_export_delete_and_erase_are_audited(
    smtp: Inbox, forms: TestClient[Any], redis_client: redis.Redis, clock: Clock
) -> None:
    kept = submit(forms)
    held = submit(forms, message="Another one", _gotcha="bot")
    doomed = submit(forms, message="A third one")
    start = clock.now
    with client_for(clock) as api:

        def call(method: str, path: str, **kwargs: Any) -> Any:
            clock.now += 1  # one entry a second: the newest is the last one written
            return api.request(method, path, headers=bearer(), **kwargs)

        assert call("GET", f"/v1/submissions/{kept}").status_code == 200
        assert call("POST", f"/v1/submissions/{held}/release").status_code == 200
        assert call("POST", f"/v1/submissions/{kept}/resend").status_code == 200
        assert call("GET", "/v1/forms/contact/submissions?format=csv").status_code == 200
        # A JSON page is a list, not an export: no entry.
        assert call("GET", "/v1/forms/contact/submissions").status_code == 200
        assert call("DELETE", f"/v1/submissions/{doomed}").status_code == 204
        answer = call("POST", "/v1/erasures", json={"email": CANARY["email"]})
        assert answer.json() == {"erased": 2}
    # The erased ids are "erased" in the log now (kept and held were erased by address).
    assert [
        (e.at - start, e.actor, e.action, e.submission_id, e.detail)
        for e in log_entries(redis_client)
    ] == [
        (1, ROBOT, "view", "erased", None),
        (2, ROBOT, "release", "erased", None),
        (3, ROBOT, "resend", "erased", None),
        (4, ROBOT, "export", None, "contact csv"),
        (6, ROBOT, "delete", "erased", "1"),
        (7, ROBOT, "erase", None, "2"),
    ]


def test_bearer_api_entries_name_the_inquiry_until_it_is_erased(
    smtp: Inbox, forms: TestClient[Any], redis_client: redis.Redis, clock: Clock
) -> None:
    kept = submit(forms)
    with client_for(clock) as api:
        assert api.get(f"/v1/submissions/{kept}", headers=bearer()).status_code == 200
        clock.now += 1
        assert api.post(f"/v1/submissions/{kept}/resend", headers=bearer()).status_code == 200
    assert [(e.action, e.submission_id) for e in read_audit(redis_client, kept)] == [
        ("resend", kept),
        ("view", kept),
    ]
    assert {e.actor for e in log_entries(redis_client)} == {ROBOT}


# --- no visitor data anywhere ---------------------------------------------------------------------


def test_no_canary_value_reaches_an_audit_entry_or_a_log_line(
    smtp: Inbox,
    forms: TestClient[Any],
    redis_client: redis.Redis,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records
    viewed = submit(forms)
    read = submit(forms, message=CANARY["message"] + " two")
    held = submit(forms, message=CANARY["message"] + " three", _gotcha="bot")
    deleted = submit(forms, message=CANARY["message"] + " four")
    ids = {viewed, read, held, deleted}
    with client_for(clock) as inbox:
        assert ask(inbox, ADMIN).status_code == 200
        link = mailed_link(smtp, redis_client)
        assert inbox.get(local(link), follow_redirects=False).status_code == 303
        detail = inbox.get(f"/inquiries/{viewed}")
        assert CANARY["message"] in detail.text  # shown to staff, kept out of the log
        token = re.search(r'name="_csrf" value="([^"]+)"', detail.text)
        assert token
        csrf = token.group(1)
        assert inbox.get(f"/v1/submissions/{read}", headers=bearer()).status_code == 200
        assert inbox.post(f"/v1/submissions/{held}/release", headers=bearer()).status_code == 200
        assert inbox.post(f"/v1/submissions/{read}/resend", headers=bearer()).status_code == 200
        for fmt in ("csv", "jsonl"):
            data = {"_csrf": csrf, "form": "contact", "format": fmt}
            assert "4 inquiries" in inbox.post("/export", data=data).text
            file = inbox.post("/export", data={**data, "confirm": "yes"})
            assert CANARY["name"] in file.text
            api_file = inbox.get(f"/v1/forms/contact/submissions?format={fmt}", headers=bearer())
            assert CANARY["name"] in api_file.text
        assert inbox.delete(f"/v1/submissions/{deleted}", headers=bearer()).status_code == 204
        asked = inbox.post("/erase", data={"_csrf": csrf, "email": CANARY["email"]})
        assert "3 inquiries hold" in asked.text
        done = inbox.post(
            "/erase", data={"_csrf": csrf, "email": CANARY["email"], "confirm": "yes"}
        )
        assert "3 inquiries were erased" in done.text
        again = submit(forms, message=CANARY["message"] + " five")
        ids.add(again)
        answer = inbox.post("/v1/erasures", json={"email": CANARY["email"]}, headers=bearer())
        assert answer.json() == {"erased": 1}
        assert inbox.get("/audit").status_code == 200
        out = inbox.post("/sign-out/everywhere", data={"_csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303

    actions = {e.action for e in log_entries(redis_client)}
    assert actions >= {
        "sign_in",
        "view",
        "release",
        "resend",
        "export",
        "delete",
        "erase",
        "sign_out_everywhere",
    }
    raw = b"\n".join(every_audit_member(redis_client)).decode()
    # The test relay's own protocol log (mail.log) is the test's, not Frontdesk's: it carries the
    # mails themselves.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert "frontdesk.audit" in {r.name for r in caplog.records}
    for canary in CANARY_STRINGS:
        assert canary not in raw
        assert canary.casefold() not in raw.casefold()
        assert canary not in logged
    # Every erased or deleted id is "erased" in the log now, and their trails are gone.
    for submission_id in ids:
        assert submission_id not in raw
        assert redis_client.exists(submission_audit_key(submission_id)) == 0
        assert redis_client.exists(submission_key(submission_id)) == 0


# --- erasure and retention, on the store ----------------------------------------------------------


def test_forget_submissions_rewrites_ids_and_keeps_the_rest(redis_client: redis.Redis) -> None:
    gone = AuditEntry(at=100.0, actor=ADMIN, action="view", submission_id="s-gone", detail="x")
    other = AuditEntry(at=101.0, actor=ADMIN, action="view", submission_id="s-kept")
    for entry in (gone, other):
        record_audit(redis_client, entry, 365)
    assert forget_submissions(redis_client, ["s-gone"]) == 1
    entries = log_entries(redis_client)
    assert [e.submission_id for e in entries] == ["erased", "s-kept"]
    rewritten = entries[0]
    assert (rewritten.at, rewritten.actor, rewritten.action, rewritten.detail, rewritten.nonce) == (
        gone.at,
        gone.actor,
        gone.action,
        gone.detail,
        gone.nonce,
    )
    assert redis_client.exists(submission_audit_key("s-gone")) == 0
    assert read_audit(redis_client, "s-kept") == [other]
    assert redis_client.zscore(AUDIT_LOG, msgspec.json.encode(rewritten)) == 100.0


def test_retention_drops_old_entries_from_the_log_and_from_their_trails(
    redis_client: redis.Redis,
) -> None:
    start = 1_900_000_000.0
    old = AuditEntry(at=start, actor=ADMIN, action="view", submission_id="s-old")
    edge = AuditEntry(at=start + DAY, actor=ADMIN, action="view", submission_id="s-edge")
    record_audit(redis_client, old, 30)
    record_audit(redis_client, edge, 30)
    # 30 days after the edge entry: the edge entry is exactly 30 days old and stays.
    late = AuditEntry(at=start + 31 * DAY, actor=READER, action="sign_in")
    record_audit(redis_client, late, 30)
    assert log_entries(redis_client) == [edge, late]
    assert read_audit(redis_client, "s-old") == []
    assert redis_client.exists(submission_audit_key("s-old")) == 0
    assert read_audit(redis_client, "s-edge") == [edge]
    # Trails expire by themselves too, when no write comes to trim them.
    assert 0 < redis_client.ttl(submission_audit_key("s-edge")) <= 30 * DAY
    # Trimming without a write (the audit page does before reading).
    assert trim_audit(redis_client, start + 31 * DAY + 1, 30) == 1
    assert log_entries(redis_client) == [late]
    assert redis_client.exists(submission_audit_key("s-edge")) == 0


def test_page_audit_pages_newest_first_with_ties_and_filters(redis_client: redis.Redis) -> None:
    entries = [
        AuditEntry(at=100.0 + (n // 2), actor=ADMIN if n % 2 else RESPONDER, action="view")
        for n in range(7)
    ]
    for entry in entries:
        record_audit(redis_client, entry, 365)
    seen: list[AuditEntry] = []
    cursor = None
    while True:
        found = page_audit(redis_client, 2, cursor)
        seen += found.entries
        # An entry written meanwhile (newer) does not shift the next page.
        record_audit(redis_client, AuditEntry(at=500.0, actor=READER, action="sign_in"), 365)
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert sorted(seen, key=lambda e: e.nonce) == sorted(entries, key=lambda e: e.nonce)
    assert [e.at for e in seen] == sorted((e.at for e in entries), reverse=True)
    admins = page_audit(redis_client, 10, None, actor=ADMIN.upper(), action="view")
    assert len(admins.entries) == 3
    assert {e.actor for e in admins.entries} == {ADMIN}
    assert page_audit(redis_client, 10, None, action="export").entries == []


# --- the admin pages --------------------------------------------------------------------------------


def test_the_audit_page_is_for_admins_only(
    smtp: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    for address in (READER, RESPONDER):
        with staff_client(address, clock) as staff:
            page = staff.client.get("/inquiries")
            assert page.status_code == 200
            assert 'href="/audit"' not in page.text
            assert staff.client.get("/audit").status_code == 403
    with staff_client(ADMIN, clock) as staff:
        assert 'href="/audit"' in staff.client.get("/inquiries").text
        record_audit(
            redis_client,
            AuditEntry(at=clock.now, actor=RESPONDER, action="view", submission_id="abc"),
            365,
        )
        record_audit(redis_client, AuditEntry(at=clock.now, actor=ADMIN, action="sign_in"), 365)
        page = staff.client.get("/audit")
        assert page.status_code == 200
        assert "<caption>" in page.text
        assert '<th scope="col">Staff</th>' in page.text
        assert 'href="/inquiries/abc"' in page.text
        only = staff.client.get("/audit", params={"actor": RESPONDER, "action": "view"})
        assert RESPONDER in only.text.split("<tbody>")[1]
        assert "sign_in</td>" not in only.text
    with client_for(clock) as anonymous:
        answer = anonymous.get("/audit", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in"


def test_the_audit_page_pages_and_trims_old_entries(
    smtp: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    for n in range(51):
        record_audit(redis_client, AuditEntry(at=clock.now - n, actor=ADMIN, action="view"), 365)
    too_old = AuditEntry(at=clock.now - 366 * DAY, actor=READER, action="sign_in")
    record_audit(redis_client, too_old, 400)  # kept by its own write's (longer) retention
    assert too_old in log_entries(redis_client)
    with staff_client(ADMIN, clock) as staff:
        first = staff.client.get("/audit")
        assert first.text.count("<td>view</td>") == 50
        older = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert older
        second = staff.client.get(older.group(1).replace("&amp;", "&"))
        assert second.text.count("<td>view</td>") == 1
        assert 'rel="next"' not in second.text
        assert READER not in second.text  # trimmed: older than the retention
        assert too_old not in log_entries(redis_client)
        assert staff.client.get("/audit", params={"cursor": "!!"}).status_code == 200


def test_export_asks_first_then_sends_the_file(
    smtp: Inbox, forms: TestClient[Any], redis_client: redis.Redis, clock: Clock
) -> None:
    submit(forms, message="=HYPERLINK(1)")
    with staff_client(ADMIN, clock) as staff:
        form = staff.client.get("/export")
        assert form.status_code == 200
        assert 'name="format"' in form.text
        data = {"form": "contact", "format": "csv", "from": "", "to": ""}
        asked = staff.post("/export", data)
        assert asked.status_code == 200
        assert "1 inquiry of the form contact" in asked.text
        assert 'name="confirm" value="yes"' in asked.text
        assert "content-disposition" not in asked.headers
        assert redis_client.zcard(AUDIT_LOG) == 0  # the first POST changes nothing
        file = staff.post("/export", {**data, "confirm": "yes"})
        assert file.status_code == 200
        assert file.headers["content-disposition"] == (
            'attachment; filename="contact-submissions.csv"'
        )
        assert file.headers["cache-control"] == "no-store"
        assert file.headers["content-type"].startswith("text/csv")
        assert "'=HYPERLINK(1)" in file.text  # the formula-injection defence
        assert newest(redis_client).action == "export"
        # A date range: the whole of the day that holds no inquiry exports none.
        empty = staff.post("/export", {**data, "from": "2001-01-01", "to": "2001-01-31"})
        assert "0 inquiries" in empty.text
        bad = staff.post("/export", {**data, "from": "yesterday"})
        assert bad.status_code == 400
        assert staff.post("/export", {**data, "form": "nope"}).status_code == 400
        ranged = confirm_export(staff, fmt="jsonl", **{"from": "2001-01-01", "to": "2001-01-31"})
        assert ranged.text == ""
        assert newest(redis_client).detail == "contact jsonl 2001-01-01..2001-01-31"
        # Without the CSRF token: refused, nothing sent or recorded.
        count = redis_client.zcard(AUDIT_LOG)
        refused = staff.client.post("/export", data={**data, "confirm": "yes"})
        assert refused.status_code == 403
        assert "content-disposition" not in refused.headers
        assert redis_client.zcard(AUDIT_LOG) == count
    for address in (READER, RESPONDER):
        with staff_client(address, clock) as staff:
            assert staff.client.get("/export").status_code == 403
            denied = confirm_export(staff)
            assert denied.status_code == 403
            assert "content-disposition" not in denied.headers


def test_erase_asks_first_then_erases(
    smtp: Inbox, forms: TestClient[Any], redis_client: redis.Redis, clock: Clock
) -> None:
    first = submit(forms)
    second = submit(forms, message="Another message")
    with staff_client(ADMIN, clock) as staff:
        assert staff.client.get(f"/inquiries/{first}").status_code == 200  # a trail to rewrite
        assert staff.client.get("/erase").status_code == 200
        asked = staff.post("/erase", {"email": CANARY["email"].upper()})
        assert asked.status_code == 200
        assert "2 inquiries hold" in asked.text
        # The first POST changes nothing.
        assert redis_client.exists(submission_key(first), submission_key(second)) == 2
        assert [e.action for e in log_entries(redis_client)] == ["view"]
        refused = staff.client.post("/erase", data={"email": CANARY["email"], "confirm": "yes"})
        assert refused.status_code == 403
        assert redis_client.exists(submission_key(first)) == 1
        for address in (READER, RESPONDER):
            with staff_client(address, clock) as other:
                assert other.client.get("/erase").status_code == 403
                denied = other.post("/erase", {"email": CANARY["email"], "confirm": "yes"})
                assert denied.status_code == 403
        assert redis_client.exists(submission_key(first)) == 1
        assert staff.post("/erase", {"email": "not an address"}).status_code == 400
        clock.now += 1
        done = staff.post("/erase", {"email": CANARY["email"], "confirm": "yes"})
        assert done.status_code == 200
        assert "2 inquiries were erased" in done.text
        assert redis_client.exists(submission_key(first), submission_key(second)) == 0
        entries = log_entries(redis_client)
        assert [(e.action, e.submission_id, e.detail) for e in entries] == [
            ("view", "erased", None),
            ("erase", None, "2"),
        ]
        assert redis_client.exists(submission_audit_key(first)) == 0
        nothing = staff.post("/erase", {"email": CANARY["email"]})
        assert "nothing to erase" in nothing.text
