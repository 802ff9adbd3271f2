"""Working an inquiry in the inbox: status transitions (reopen included, refusals with a sentence),
the assignee (staff who see the form only), internal notes (bounded, escaped, newest last), readers
(``read_by``), CSRF, concurrent changes, and that all of it lives on the record: its TTL is kept
and an erasure takes it.

Real Redis (the test database), the inbox app through Litestar's TestClient signed in with
tests/inbox_sessions.py, a clock the tests hold.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterator

import pytest
import redis

from frontdesk.settings import load_settings
from frontdesk.submissions.audit import read_audit
from frontdesk.submissions.keys import submission_key
from frontdesk.submissions.record import Submission, new_submission_id
from frontdesk.submissions.store import SubmissionStore, load_submission, update_submission
from frontdesk.submissions.workflow import NOTE_MAX_CHARS
from services.inbox.sessions import SESSION_COOKIE, cookie_name
from tests.conftest import TEST_REDIS_URL
from tests.inbox_sessions import StaffClient, staff_client
from tests.service.test_inbox import Clock, dump
from tests.storing import store_submission

DESK = "desk@clinic.example"  # responder, every form
NURSE = "nurse@clinic.example"  # reader, contact only
OPS = "ops@clinic.example"  # admin, every form
CALLBACKS = "callbacks@clinic.example"  # responder, the callback form only
STAFF = (
    f"{DESK}:responder,{NURSE}:reader:forms=contact,{OPS}:admin,"
    f"{CALLBACKS}:responder:forms=callback"
)
RETENTION_DAYS = 90
VISITOR_EMAIL = "canary.visitor@example.com"


@pytest.fixture
def staff_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("FRONTDESK_STAFF", STAFF)
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    return env


@pytest.fixture
def clock() -> Clock:
    return Clock()


def stored_inquiry(connection: redis.Redis, form: str = "contact") -> str:
    """Store an inquiry of ``form`` as the forms service does (kept :data:`RETENTION_DAYS`)."""
    submission = Submission(
        id=new_submission_id(),
        form=form,
        status="notified",
        created_at=dt.datetime.now(dt.UTC),
        fields={
            "name": "Canary Visitorname",
            "email": VISITOR_EMAIL,
            "message": "Canary message about my knee",
        },
    )
    store = SubmissionStore(connection, load_settings().queue_name, [], 60)
    store_submission(TEST_REDIS_URL, store, submission, RETENTION_DAYS, [])
    return submission.id


def record(connection: redis.Redis, submission_id: str) -> Submission:
    found = load_submission(connection, submission_id)
    assert found is not None
    return found


def raw(connection: redis.Redis, submission_id: str) -> bytes | None:
    value: bytes | None = connection.get(submission_key(submission_id))
    return value


@pytest.fixture
def inquiry(staff_env: dict[str, str], redis_client: redis.Redis) -> str:
    return stored_inquiry(redis_client)


@pytest.fixture
def desk(
    staff_env: dict[str, str], redis_client: redis.Redis, clock: Clock
) -> Iterator[StaffClient]:
    """Signed in after the database was flushed (``redis_client``), so the session stays."""
    with staff_client(DESK, clock) as staff:
        yield staff


def set_status(staff: StaffClient, submission_id: str, status: str) -> int:
    answer = staff.post(f"/inquiries/{submission_id}/status", {"status": status})
    if answer.status_code == 303:
        assert answer.headers["location"] == f"/inquiries/{submission_id}"
    return int(answer.status_code)


# --- status -----------------------------------------------------------------------------------


def test_the_status_moves_through_the_workflow_and_reopens(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    assert record(redis_client, inquiry).inquiry_status == "new"
    for status in ("in_progress", "answered", "closed", "in_progress", "closed"):
        assert set_status(desk, inquiry, status) == 303
        assert record(redis_client, inquiry).inquiry_status == status
    # The detail page shows it and offers what may come next: reopening only.
    page = desk.client.get(f"/inquiries/{inquiry}").text
    select = re.search(r'<select id="workflow-status".*?</select>', page, re.S)
    assert select
    assert re.findall(r'value="(\w+)"', select.group(0)) == ["closed", "in_progress"]


@pytest.mark.parametrize(
    ("path", "wanted", "code"),
    [
        ([], "answered", 409),  # new → answered: a reply does that, or in progress first
        (["in_progress"], "new", 409),  # never back to new
        (["in_progress", "closed"], "answered", 409),  # closed: reopen first
        (["in_progress", "closed"], "new", 409),
        ([], "bogus", 422),
        ([], "", 422),
    ],
)
def test_a_refused_transition_changes_nothing_and_says_why(
    desk: StaffClient,
    inquiry: str,
    redis_client: redis.Redis,
    path: list[str],
    wanted: str,
    code: int,
) -> None:
    for status in path:
        assert set_status(desk, inquiry, status) == 303
    before = raw(redis_client, inquiry)
    answer = desk.post(f"/inquiries/{inquiry}/status", {"status": wanted})
    assert answer.status_code == code
    assert "Not changed" in answer.text
    assert f'href="/inquiries/{inquiry}"' in answer.text
    if code == 409:
        assert "reload the page" in answer.text
    assert raw(redis_client, inquiry) == before


def test_choosing_the_current_status_is_no_change(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    """Two staff closing it at once: the second one succeeds too."""
    assert set_status(desk, inquiry, "in_progress") == 303
    assert set_status(desk, inquiry, "in_progress") == 303
    assert record(redis_client, inquiry).inquiry_status == "in_progress"


def test_a_reply_marks_the_inquiry_answered_from_any_status(
    redis_client: redis.Redis, inquiry: str
) -> None:
    """The function the reply route calls inside its update (docs/inbox.md)."""
    from frontdesk.submissions.workflow import answer

    for before in ("new", "in_progress", "answered", "closed"):
        reset = update_submission(
            redis_client, inquiry, lambda s, b=before: setattr(s, "inquiry_status", b)
        )
        assert reset is not None
        assert reset.inquiry_status == before
        updated = update_submission(redis_client, inquiry, answer)
        assert updated is not None
        assert updated.inquiry_status == "answered"


def test_htmx_gets_the_panel_back_and_the_refusal_in_it(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    htmx = {"HX-Request": "true"}
    done = desk.post(f"/inquiries/{inquiry}/status", {"status": "in_progress"}, headers=htmx)
    assert done.status_code == 200
    assert '<section id="workflow"' in done.text
    assert "<html" not in done.text
    assert "<dd>In progress</dd>" in done.text
    assert done.headers["vary"] == "HX-Request"
    refused = desk.post(f"/inquiries/{inquiry}/status", {"status": "new"}, headers=htmx)
    assert refused.status_code == 409
    assert '<section id="workflow"' in refused.text
    assert 'role="alert"' in refused.text
    assert "cannot become new" in refused.text
    assert record(redis_client, inquiry).inquiry_status == "in_progress"


def test_htmx_swaps_409_and_422_answers(desk: StaffClient) -> None:
    """htmx 2 swaps no 4xx answer unless told: the inbox's config lets 409 and 422 through."""
    page = desk.client.get("/inquiries").text
    assert '{"code": "409|422", "swap": true}' in page


# --- assignee ---------------------------------------------------------------------------------


def test_the_assignee_is_a_staff_member_who_sees_the_form(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    page = desk.client.get(f"/inquiries/{inquiry}").text
    select = re.search(r'<select id="workflow-assignee".*?</select>', page, re.S)
    assert select
    # Not the callback-only responder (that member does not see the contact form), nor the
    # reader (who could not work it).
    assert re.findall(r'value="([^"]*)"', select.group(0)) == ["", DESK, OPS]
    assert "Assign to me" in page
    path = f"/inquiries/{inquiry}/assignee"
    assert desk.post(path, {"assignee": " OPS@Clinic.Example "}).status_code == 303
    assert record(redis_client, inquiry).assignee == OPS
    assert desk.post(path, {"assignee": DESK}).status_code == 303  # "Assign to me"
    assert record(redis_client, inquiry).assignee == DESK
    assert "Assign to me" not in desk.client.get(f"/inquiries/{inquiry}").text
    assert desk.post(path, {"assignee": ""}).status_code == 303
    assert record(redis_client, inquiry).assignee is None


@pytest.mark.parametrize(
    "address",
    [
        VISITOR_EMAIL,
        CALLBACKS,
        NURSE,
        "desk@clinic.example.evil.example",
        "desk@clinic.example\r\nX: y",
    ],
)
def test_an_address_off_the_list_or_the_form_is_refused(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, address: str
) -> None:
    assert desk.post(f"/inquiries/{inquiry}/assignee", {"assignee": OPS}).status_code == 303
    before = raw(redis_client, inquiry)
    answer = desk.post(f"/inquiries/{inquiry}/assignee", {"assignee": address})
    assert answer.status_code == 422
    assert "only to staff who see this form" in answer.text
    assert raw(redis_client, inquiry) == before
    # Nothing of the refused value in the audit log either.
    assert all(address.strip().lower() not in str(e) for e in read_audit(redis_client))


# --- notes ------------------------------------------------------------------------------------


def add_note(staff: StaffClient, submission_id: str, text: str) -> int:
    return int(staff.post(f"/inquiries/{submission_id}/notes", {"text": text}).status_code)


def test_notes_are_stored_with_author_and_time_and_shown_newest_last(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, clock: Clock, staff_env: object
) -> None:
    assert add_note(desk, inquiry, "  Called back, no answer.\r\nTry again Monday.  ") == 303
    clock.now += 600
    with staff_client(OPS, clock) as ops:
        assert add_note(ops, inquiry, "Second note") == 303
    notes = record(redis_client, inquiry).notes
    assert [(n.author, n.text) for n in notes] == [
        (DESK, "Called back, no answer.\nTry again Monday."),
        (OPS, "Second note"),
    ]
    assert notes[0].at == dt.datetime.fromtimestamp(1_900_000_000, dt.UTC)
    assert notes[1].at - notes[0].at == dt.timedelta(minutes=10)
    page = desk.client.get(f"/inquiries/{inquiry}").text
    assert page.index("Called back, no answer.") < page.index("Second note")
    assert f"{DESK}, 2030-03-17 17:46 UTC" in page
    # Internal: no job was queued for it (nothing goes to the visitor).
    assert redis_client.keys("rq:job:*") == []


def test_a_note_is_escaped(desk: StaffClient, inquiry: str, redis_client: redis.Redis) -> None:
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    assert add_note(desk, inquiry, attack) == 303
    assert record(redis_client, inquiry).notes[0].text == attack
    for page in (
        desk.client.get(f"/inquiries/{inquiry}").text,
        desk.post(
            f"/inquiries/{inquiry}/notes", {"text": "x"}, headers={"HX-Request": "true"}
        ).text,
    ):
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "The note is empty"),
        (" \r\n\t ", "The note is empty"),
        ("x" * (NOTE_MAX_CHARS + 1), "at most 4,000 fit"),
        ("ok\x00not ok", "control character"),
        ("text \u202e reversed", "control character"),
    ],
)
def test_a_note_empty_too_long_or_with_controls_is_refused(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, text: str, problem: str
) -> None:
    before = raw(redis_client, inquiry)
    answer = desk.post(f"/inquiries/{inquiry}/notes", {"text": text})
    assert answer.status_code == 422
    assert problem in answer.text
    assert raw(redis_client, inquiry) == before


def test_a_note_of_the_longest_length_fits(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    assert add_note(desk, inquiry, "y" * NOTE_MAX_CHARS) == 303
    assert len(record(redis_client, inquiry).notes[0].text) == NOTE_MAX_CHARS


# --- readers ----------------------------------------------------------------------------------


def test_viewing_an_inquiry_marks_it_read_once_per_member(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, clock: Clock
) -> None:
    assert record(redis_client, inquiry).read_by == []
    assert desk.client.get(f"/inquiries/{inquiry}").status_code == 200
    assert desk.client.get(f"/inquiries/{inquiry}").status_code == 200
    assert record(redis_client, inquiry).read_by == [DESK]
    with staff_client(NURSE, clock) as nurse:
        page = nurse.client.get(f"/inquiries/{inquiry}")
        assert page.status_code == 200
        assert f"{DESK}, {NURSE}" in page.text
    with staff_client(CALLBACKS, clock) as outsider:
        assert outsider.client.get(f"/inquiries/{inquiry}").status_code == 404
    assert record(redis_client, inquiry).read_by == [DESK, NURSE]


def test_a_reader_sees_the_panel_without_its_forms(
    staff_env: object, inquiry: str, clock: Clock
) -> None:
    with staff_client(NURSE, clock) as nurse:
        page = nurse.client.get(f"/inquiries/{inquiry}").text
    assert '<section id="workflow"' in page
    assert "/status" not in page
    assert "/assignee" not in page
    assert "/notes" not in page


# --- requests refused before any change -------------------------------------------------------

CHANGES = [
    ("status", {"status": "in_progress"}),
    ("assignee", {"assignee": DESK}),
    ("notes", {"text": "A note"}),
]


@pytest.mark.parametrize(("route", "data"), CHANGES)
def test_without_the_csrf_token_nothing_changes(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, route: str, data: dict[str, str]
) -> None:
    before = raw(redis_client, inquiry)
    path = f"/inquiries/{inquiry}/{route}"
    assert desk.client.post(path, data=data, follow_redirects=False).status_code == 403
    forged = {**data, "_csrf": "x" * 43}
    assert desk.client.post(path, data=forged, follow_redirects=False).status_code == 403
    # Another browser's valid token is no good either.
    with staff_client(DESK) as laptop:
        stolen = {**data, "_csrf": laptop.csrf}
    assert desk.client.post(path, data=stolen, follow_redirects=False).status_code == 403
    assert raw(redis_client, inquiry) == before


@pytest.mark.parametrize(("route", "data"), CHANGES)
def test_a_form_the_member_does_not_see_answers_404(
    staff_env: object, inquiry: str, redis_client: redis.Redis, route: str, data: dict[str, str]
) -> None:
    before = raw(redis_client, inquiry)
    with staff_client(CALLBACKS) as outsider:
        answer = outsider.post(f"/inquiries/{inquiry}/{route}", data)
        assert answer.status_code == 404
        assert "No such inquiry" in answer.text
        assert outsider.post(f"/inquiries/{'0' * 28}/{route}", data).status_code == 404
    assert raw(redis_client, inquiry) == before


@pytest.mark.parametrize(("route", "data"), CHANGES)
def test_without_a_session_nothing_changes(
    staff_env: object, inquiry: str, redis_client: redis.Redis, route: str, data: dict[str, str]
) -> None:
    before = raw(redis_client, inquiry)
    with staff_client(DESK) as staff:
        staff.client.cookies.delete(cookie_name(staff.state, SESSION_COOKIE))
        answer = staff.post(f"/inquiries/{inquiry}/{route}", data)
    # The CSRF token was bound to the session that is gone: refused before anything else.
    assert answer.status_code == 403
    assert raw(redis_client, inquiry) == before


# --- concurrency, TTL, erasure, audit ---------------------------------------------------------


def test_changes_by_two_sessions_at_once_both_land(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis, clock: Clock
) -> None:
    with staff_client(OPS, clock) as ops:
        # Interleaved: OPS's note lands while DESK's update has read the record and not yet
        # written it; the WATCH sees the change and DESK's update runs again on the new record.
        calls = []

        def slow_status(submission: Submission) -> None:
            calls.append(submission.inquiry_status)
            if len(calls) == 1:
                assert add_note(ops, inquiry, "Meanwhile") == 303
            submission.inquiry_status = "in_progress"

        update_submission(redis_client, inquiry, slow_status)
        assert len(calls) == 2
        after = record(redis_client, inquiry)
        assert after.inquiry_status == "in_progress"
        assert [n.text for n in after.notes] == ["Meanwhile"]

        # And in parallel, through the routes: every note of both sessions is kept.
        def write(staff: StaffClient, who: str) -> None:
            for n in range(10):
                assert add_note(staff, inquiry, f"{who} {n}") == 303

        threads = [
            threading.Thread(target=write, args=(desk, "desk")),
            threading.Thread(target=write, args=(ops, "ops")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        texts = [n.text for n in record(redis_client, inquiry).notes]
    assert len(texts) == 21
    assert [t for t in texts if t.startswith("desk")] == [f"desk {n}" for n in range(10)]
    assert [t for t in texts if t.startswith("ops")] == [f"ops {n}" for n in range(10)]


def test_every_change_keeps_the_record_s_ttl(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    ttl = int(redis_client.ttl(submission_key(inquiry)))
    assert RETENTION_DAYS * 86400 - 5 <= ttl <= RETENTION_DAYS * 86400
    desk.client.get(f"/inquiries/{inquiry}")
    assert set_status(desk, inquiry, "in_progress") == 303
    assert desk.post(f"/inquiries/{inquiry}/assignee", {"assignee": DESK}).status_code == 303
    assert add_note(desk, inquiry, "Kept as long as the inquiry") == 303
    after = int(redis_client.ttl(submission_key(inquiry)))
    assert ttl - 5 <= after <= ttl
    assert len(redis_client.keys(submission_key("*"))) == 1  # nothing stored beside it


def test_an_erasure_takes_notes_assignee_and_readers_with_the_record(
    desk: StaffClient, inquiry: str, redis_client: redis.Redis
) -> None:
    note = "Canary note text 7f3a"
    desk.client.get(f"/inquiries/{inquiry}")
    assert desk.post(f"/inquiries/{inquiry}/assignee", {"assignee": DESK}).status_code == 303
    assert add_note(desk, inquiry, note) == 303
    assert note.encode() in b"".join(dump(redis_client, k) for k in redis_client.keys("*"))
    store = SubmissionStore(redis_client, load_settings().queue_name, [], 60)
    assert store.erase(VISITOR_EMAIL) == [inquiry]
    assert load_submission(redis_client, inquiry) is None
    everything = b"".join(k + dump(redis_client, k) for k in redis_client.keys("*"))
    assert note.encode() not in everything
    assert b"Canary" not in everything
    assert desk.client.get(f"/inquiries/{inquiry}").status_code == 404
    assert add_note(desk, inquiry, "too late") == 404


def test_changes_are_audited_without_visitor_or_note_text(
    desk: StaffClient,
    inquiry: str,
    redis_client: redis.Redis,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert set_status(desk, inquiry, "in_progress") == 303
    clock.now += 1
    assert desk.post(f"/inquiries/{inquiry}/assignee", {"assignee": OPS}).status_code == 303
    clock.now += 1
    assert add_note(desk, inquiry, "Canary note about the knee") == 303
    entries = [e for e in read_audit(redis_client, inquiry) if e.action != "view"]
    assert [(e.actor, e.action, e.detail) for e in reversed(entries)] == [
        (DESK, "workflow", "status:in_progress"),
        (DESK, "workflow", f"assignee:{OPS}"),
        (DESK, "note", None),
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert "Canary" not in logged
    assert "Canary" not in str(read_audit(redis_client))
