"""The inbox's list: filters, search (phone numbers by digits), unread markers and counts, the
quarantine view and release, delivery and resend, live updates, paging with filters.

Real Redis (the test database); inquiries stored by the real submission script
(tests/storing.py), the workflow fields set on the record with the store's own update; the inbox
through a signed-in TestClient (tests/inbox_sessions.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from frontdesk.settings import Settings, load_settings
from frontdesk.submissions.access import open_access
from frontdesk.submissions.audit import read_audit
from frontdesk.submissions.keys import job_id
from frontdesk.submissions.record import (
    MessageKind,
    MessageState,
    PhoneInfo,
    SmtpError,
    Submission,
    new_submission_id,
)
from frontdesk.submissions.store import SubmissionStore, load_submission, update_submission
from tests.conftest import TEST_REDIS_URL
from tests.inbox_sessions import StaffClient, staff_client
from tests.storing import store_submission

DESK = "desk@clinic.example"
NURSE = "nurse@clinic.example"
ADMIN = "dpo@clinic.example"
STAFF = f"{DESK}:responder,{NURSE}:reader,{ADMIN}:admin"
NOW = dt.datetime(2026, 12, 5, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FRONTDESK_STAFF", STAFF)
    return load_settings()


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> SubmissionStore:
    return open_access(settings).store


@pytest.fixture
def desk(settings: Settings) -> Iterator[StaffClient]:
    with staff_client(DESK) as client:
        yield client


def put(
    store: SubmissionStore,
    *,
    name: str = "Ann Example",
    email: str = "ann@example.com",
    message: str = "Knee pain",
    phone: tuple[str, str] | None = ("+1 415 555 0132", "+14155550132"),
    topic: str = "Other",
    at: dt.datetime = NOW,
    form: str = "contact",
    status: str = "received",
    messages: list[MessageState] | None = None,
    flags: list[str] | None = None,
    reason: str | None = None,
    **changes: Any,
) -> Submission:
    """Store one inquiry through the submission script, then set ``changes`` (inquiry_status,
    assignee, read_by) on the stored record.
    """
    kinds: list[MessageKind] = [m.kind for m in messages or [] if m.status == "queued"]
    submission = Submission(
        id=new_submission_id(),
        form=form,
        status=status,  # type: ignore[arg-type]
        created_at=at,
        fields={
            "name": name,
            "email": email,
            "phone": phone[0] if phone else "",
            "topic": topic,
            "message": message,
        },
        phone=PhoneInfo(
            raw=phone[0],
            e164=phone[1],
            international=None,
            extension=None,
            region=None,
            type=None,
            valid=True,
        )
        if phone
        else None,
        messages=messages if messages is not None else [MessageState(kind="staff", status="sent")],
        flags=flags or [],
        quarantine_reason=reason,
    )
    store_submission(TEST_REDIS_URL, store, submission, 90, kinds)
    if changes:
        update_submission(store.redis, submission.id, lambda s: _set(s, changes))
    found = load_submission(store.redis, submission.id)
    assert found is not None
    return found


def _set(record: Submission, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(record, key, value)


def ids_in(page: str) -> list[str]:
    """The inquiry ids linked from a list page, in order."""
    return re.findall(r'href="/inquiries/([0-9a-f]{28})"', page)


def listed(client: StaffClient, **query: str) -> list[str]:
    answer = client.client.get("/inquiries", params={"form": "contact", "size": "200", **query})
    assert answer.status_code == 200, answer.text
    return ids_in(answer.text)


def test_the_list_is_newest_first_and_filters_by_inquiry_status(
    store: SubmissionStore, desk: StaffClient
) -> None:
    old = put(store, at=NOW - dt.timedelta(hours=2), inquiry_status="answered")
    new = put(store, at=NOW - dt.timedelta(hours=1))
    closed = put(store, inquiry_status="closed")
    assert listed(desk) == [closed.id, new.id, old.id]
    assert listed(desk, status="answered") == [old.id]
    assert listed(desk, status="new") == [new.id]
    assert listed(desk, status="closed") == [closed.id]
    # A status that does not exist filters nothing.
    assert listed(desk, status="bogus") == [closed.id, new.id, old.id]


def test_the_assignee_filter_knows_me_nobody_and_an_address(
    store: SubmissionStore, desk: StaffClient
) -> None:
    mine = put(store, at=NOW - dt.timedelta(minutes=3), assignee=DESK)
    nurses = put(store, at=NOW - dt.timedelta(minutes=2), assignee=NURSE)
    nobodys = put(store, at=NOW - dt.timedelta(minutes=1))
    assert listed(desk, assignee="me") == [mine.id]
    assert listed(desk, assignee="unassigned") == [nobodys.id]
    assert listed(desk, assignee=NURSE.upper()) == [nurses.id]


def test_the_delivery_filter(store: SubmissionStore, desk: StaffClient) -> None:
    notified = put(store, status="notified", at=NOW - dt.timedelta(minutes=4))
    failed = put(
        store,
        status="failed",
        messages=[MessageState(kind="staff", status="failed", attempts=3)],
        at=NOW - dt.timedelta(minutes=3),
    )
    queued = put(store, messages=[MessageState(kind="staff")], at=NOW - dt.timedelta(minutes=2))
    held = put(store, status="quarantined", messages=[], flags=["honeypot"], reason="honeypot")
    assert listed(desk, delivery="notified") == [notified.id]
    assert listed(desk, delivery="failed") == [failed.id]
    assert listed(desk, delivery="queued") == [queued.id]
    assert listed(desk, delivery="quarantined") == [held.id]


def test_the_date_range_is_in_the_sites_time_zone(
    store: SubmissionStore, desk: StaffClient
) -> None:
    # The clinic's site.yaml says America/New_York: 03:00 UTC on 10 March is still 9 March there.
    evening = put(store, at=dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC))
    morning = put(store, at=dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC))
    later = put(store, at=dt.datetime(2026, 3, 12, 14, 0, tzinfo=dt.UTC))
    assert listed(desk, **{"from": "2026-03-10", "to": "2026-03-10"}) == [morning.id]
    assert listed(desk, **{"to": "2026-03-09"}) == [evening.id]
    assert listed(desk, **{"from": "2026-03-10"}) == [later.id, morning.id]
    page = desk.client.get("/inquiries", params={"form": "contact"}).text
    assert "America/New_York" in page


def test_search_is_case_insensitive_over_name_email_and_message(
    store: SubmissionStore, desk: StaffClient
) -> None:
    ann = put(store, name="Ann Müller", email="ann@example.com", message="Knee hurts")
    bob = put(store, name="Bob", email="BOB@Example.org", message="Shoulder after TENNIS")
    assert listed(desk, q="müller") == [ann.id]
    assert listed(desk, q="bob@example") == [bob.id]
    assert listed(desk, q="tennis") == [bob.id]
    assert listed(desk, q="  knee   HURTS ") == [ann.id]
    assert listed(desk, q="nobody here") == []
    # A choice (the topic) is not searched: only name, email, message and phone.
    put(store, topic="Billing")
    assert listed(desk, q="Billing") == []


@pytest.mark.parametrize(
    "typed",
    ["0151 234", "+49 151-234", "0049 151 234 567", "151234567", "(0151) 2345-67", "+49151234"],
)
def test_search_finds_a_phone_number_typed_in_another_format(
    store: SubmissionStore, desk: StaffClient, typed: str
) -> None:
    german = put(store, phone=("0151 23456789", "+4915123456789"))
    put(store, phone=("+1 415 555 0132", "+14155550132"))
    assert listed(desk, q=typed) == [german.id]


def test_search_finds_a_us_number_by_its_digits(store: SubmissionStore, desk: StaffClient) -> None:
    us = put(store, phone=("+1 415 555 0132", "+14155550132"))
    put(store, phone=("0151 23456789", "+4915123456789"))
    for typed in ["(415) 555-0132", "415.555.0132", "1 415 555 01", "555 0132"]:
        assert listed(desk, q=typed) == [us.id], typed


def test_unread_inquiries_are_marked_and_counted_per_form(
    store: SubmissionStore, desk: StaffClient
) -> None:
    read = put(store, at=NOW - dt.timedelta(minutes=2), read_by=[DESK])
    unread = put(store, at=NOW - dt.timedelta(minutes=1), read_by=[NURSE])
    put(store, form="callback")
    put(store, form="callback", read_by=[DESK])
    page = desk.client.get("/inquiries", params={"form": "contact"}).text
    row = re.compile(r"<tr[^>]*>\s*<td><a id=\"row-(\w+)\".*?</tr>", re.S)
    rows = {m.group(1): m.group(0) for m in row.finditer(page)}
    assert 'class="unread"' in rows[unread.id]
    assert "Unread" in rows[unread.id]  # the visually hidden word, not color alone
    assert 'class="unread"' not in rows[read.id]
    assert "Unread" not in rows[read.id]
    counts = re.search(r'<nav id="form-counts".*?</nav>', page, re.S)
    assert counts
    assert re.search(r">callback</a> <strong>1 unread</strong>", counts.group(0))
    assert re.search(r">contact</a> <strong>1 unread</strong>", counts.group(0))
    # For the nurse the other one is unread.
    with staff_client(NURSE) as nurse:
        page = nurse.client.get("/inquiries", params={"form": "contact"}).text
    assert re.search(rf'<tr class="unread">\s*<td><a id="row-{read.id}"', page)
    assert not re.search(rf'<tr class="unread">\s*<td><a id="row-{unread.id}"', page)


def test_without_a_form_the_list_opens_the_first_form_with_unread_inquiries(
    store: SubmissionStore, desk: StaffClient
) -> None:
    # The README's walk-through: one inquiry sent to "contact", then /inquiries. The list opened
    # the first form by name ("callback": "No inquiries for callback match"), not the new one.
    waiting = put(store)
    page = desk.client.get("/inquiries").text
    assert ids_in(page) == [waiting.id]
    assert '<option value="contact" selected>' in page
    # Nothing unread anywhere: the first form by name, as before.
    put(store, form="callback", read_by=[DESK])
    desk.client.get(f"/inquiries/{waiting.id}")
    assert '<option value="callback" selected>' in desk.client.get("/inquiries").text


def test_the_quarantine_view_lists_held_inquiries_with_reasons_in_words(
    store: SubmissionStore, desk: StaffClient
) -> None:
    held = put(
        store,
        status="quarantined",
        messages=[],
        flags=["no_token", "token_too_young"],
        reason="token_too_young",
        name="Held Person",
    )
    put(store, name="Delivered Person")
    page = desk.client.get("/quarantine")
    assert page.status_code == 200
    assert held.id in page.text
    assert "Held Person" in page.text
    assert "Delivered Person" not in page.text
    assert "The form was sent faster than a person can fill it in." in page.text
    assert f'action="/inquiries/{held.id}/release"' in page.text


def test_a_reader_may_see_the_quarantine_but_not_release(
    store: SubmissionStore, settings: Settings
) -> None:
    held = put(store, status="quarantined", messages=[], flags=["honeypot"], reason="honeypot")
    with staff_client(NURSE) as nurse:
        page = nurse.client.get("/quarantine")
        assert page.status_code == 200
        assert held.id in page.text
        assert "Your role cannot release." in page.text
        answer = nurse.post(f"/inquiries/{held.id}/release", {"back": "/quarantine"})
    assert answer.status_code == 403
    record = load_submission(store.redis, held.id)
    assert record is not None
    assert record.status == "quarantined"
    assert record.messages == []


def test_release_needs_the_csrf_token(store: SubmissionStore, desk: StaffClient) -> None:
    held = put(store, status="quarantined", messages=[], flags=["honeypot"], reason="honeypot")
    answer = desk.client.post(f"/inquiries/{held.id}/release", data={}, follow_redirects=False)
    assert answer.status_code == 403
    record = load_submission(store.redis, held.id)
    assert record is not None
    assert record.status == "quarantined"


def test_a_responder_releases_and_the_message_is_queued_and_audited(
    store: SubmissionStore, desk: StaffClient, settings: Settings
) -> None:
    held = put(store, status="quarantined", messages=[], flags=["honeypot"], reason="honeypot")
    answer = desk.post(f"/inquiries/{held.id}/release", {"back": "/quarantine"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/quarantine"
    record = load_submission(store.redis, held.id)
    assert record is not None
    assert record.status == "received"
    staff = record.message("staff")
    assert staff is not None
    assert staff.status == "queued"
    queue = f"rq:queue:{settings.queue_name}".encode()
    assert job_id(held.id, "staff").encode() in store.redis.lrange(queue, 0, -1)
    entries = read_audit(store.redis, held.id)
    assert [(e.actor, e.action) for e in entries] == [(DESK, "release")]
    # Released once: again is a conflict, not a second queueing.
    again = desk.post(f"/inquiries/{held.id}/release")
    assert again.status_code == 409
    assert desk.client.get("/quarantine").text.count(held.id) == 0


def test_the_detail_shows_delivery_in_words_and_resends_a_failed_message(
    store: SubmissionStore, desk: StaffClient, settings: Settings
) -> None:
    failed = put(
        store,
        status="failed",
        flags=["phone_unverified"],
        messages=[
            MessageState(
                kind="staff",
                status="failed",
                attempts=4,
                last_error=SmtpError(code=550, text="mailbox unavailable"),
            ),
            MessageState(kind="auto_reply", status="skipped", skip_reason="no_token"),
        ],
    )
    page = desk.client.get(f"/inquiries/{failed.id}").text
    section = re.search(r'<section id="delivery".*?</section>', page, re.S)
    assert section, page
    text = section.group(0)
    assert "Staff notification" in text
    assert "The mail server refused it (550): mailbox unavailable" in text
    assert "<td>4</td>" in text
    assert "The phone number could not be verified as a real number." in text
    assert "not sent: the post did not come from the form page" in text
    assert 'name="kind" value="staff"' in text
    assert 'name="kind" value="auto_reply"' not in text  # skipped: nothing to send again
    answer = desk.post(f"/inquiries/{failed.id}/resend", {"kind": "staff"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/inquiries/{failed.id}"
    record = load_submission(store.redis, failed.id)
    assert record is not None
    staff = record.message("staff")
    assert staff is not None
    assert staff.status == "queued"
    assert staff.last_error is None
    assert record.status == "received"
    queue = f"rq:queue:{settings.queue_name}".encode()
    assert job_id(failed.id, "staff").encode() in store.redis.lrange(queue, 0, -1)
    assert [
        (e.action, e.detail) for e in read_audit(store.redis, failed.id) if e.action == "resend"
    ] == [("resend", "staff")]
    # Queued now: resending it again is refused until it is sent or failed.
    assert desk.post(f"/inquiries/{failed.id}/resend", {"kind": "staff"}).status_code == 409
    assert desk.post(f"/inquiries/{failed.id}/resend", {"kind": "auto_reply"}).status_code == 409


def test_resending_the_auto_reply_leaves_the_staff_outcome(
    store: SubmissionStore, desk: StaffClient
) -> None:
    record = put(
        store,
        status="failed",
        messages=[
            MessageState(kind="staff", status="failed", attempts=2),
            MessageState(kind="auto_reply", status="sent", attempts=1),
        ],
    )
    answer = desk.post(
        f"/inquiries/{record.id}/resend", {"kind": "auto_reply"}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="delivery"')
    after = load_submission(store.redis, record.id)
    assert after is not None
    assert after.status == "failed"  # the staff mail still failed
    reply = after.message("auto_reply")
    assert reply is not None
    assert reply.status == "queued"


def test_a_reader_may_not_resend(store: SubmissionStore) -> None:
    failed = put(store, status="failed", messages=[MessageState(kind="staff", status="failed")])
    with staff_client(NURSE) as nurse:
        page = nurse.client.get(f"/inquiries/{failed.id}").text
        assert 'value="staff"' not in page  # no button
        assert nurse.post(f"/inquiries/{failed.id}/resend", {"kind": "staff"}).status_code == 403
    record = load_submission(store.redis, failed.id)
    assert record is not None
    assert record.status == "failed"


def live_url(page: str) -> str:
    found = re.search(r'<tbody id="latest" hx-get="([^"]+)" hx-trigger="every 10s"', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


def test_the_live_fragment_brings_a_new_inquiry_and_is_204_when_nothing_changed(
    store: SubmissionStore, desk: StaffClient
) -> None:
    first = put(store, at=NOW - dt.timedelta(minutes=5))
    page = desk.client.get("/inquiries", params={"form": "contact"}).text
    url = live_url(page)
    unchanged = desk.client.get(url, headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    newer = put(store, at=NOW)
    fresh = desk.client.get(url, headers={"HX-Request": "true"})
    assert fresh.status_code == 200
    assert "<html" not in fresh.text
    assert ids_in(fresh.text) == [newer.id, first.id]
    assert 'hx-swap-oob="true"' in fresh.text  # the unread counts too
    # Another member's change shows as well: the assignee column.
    next_url = live_url(fresh.text)
    assert desk.client.get(next_url).status_code == 204
    update_submission(store.redis, first.id, lambda s: _set(s, {"assignee": NURSE}))
    changed = desk.client.get(next_url)
    assert changed.status_code == 200
    assert NURSE in changed.text


def test_the_live_rows_keep_the_first_pages_rows_when_new_ones_arrive(
    store: SubmissionStore, desk: StaffClient
) -> None:
    rows = [put(store, at=NOW - dt.timedelta(minutes=10 - n)) for n in range(3)]
    page = desk.client.get("/inquiries", params={"form": "contact", "size": "2"}).text
    assert ids_in(page) == [rows[2].id, rows[1].id]
    newer = put(store, at=NOW)
    fresh = desk.client.get(live_url(page)).text
    # The row that was last on the first page stays; the older one is still behind the cursor.
    assert ids_in(fresh) == [newer.id, rows[2].id, rows[1].id]


def test_paging_keeps_the_filters(store: SubmissionStore, desk: StaffClient) -> None:
    wanted = []
    for n in range(7):
        record = put(
            store,
            at=NOW - dt.timedelta(minutes=n),
            message=f"Knee {n}" if n % 2 == 0 else f"Back {n}",
        )
        if n % 2 == 0:
            wanted.append(record.id)
    seen: list[str] = []
    answer = desk.client.get("/inquiries", params={"form": "contact", "q": "knee", "size": "2"})
    seen += ids_in(answer.text)
    while True:
        older = re.search(r'<tr id="older">.*?hx-get="([^"]+)"', answer.text, re.S)
        if not older:
            break
        url = older.group(1).replace("&amp;", "&")
        assert "q=knee" in url
        answer = desk.client.get(url, headers={"HX-Request": "true"})
        assert "<html" not in answer.text
        seen += ids_in(answer.text)
    assert seen == wanted


def test_the_delivery_partial_is_polled_and_204_when_unchanged(
    store: SubmissionStore, desk: StaffClient
) -> None:
    record = put(store, messages=[MessageState(kind="staff")])
    partial = desk.client.get(f"/inquiries/{record.id}/delivery")
    assert partial.status_code == 200
    found = re.search(r'hx-get="([^"]+)" hx-trigger="every 10s"', partial.text)
    assert found
    url = found.group(1).replace("&amp;", "&")
    assert desk.client.get(url).status_code == 204
    update_submission(store.redis, record.id, lambda s: _set(s, {"status": "notified"}))
    assert desk.client.get(url).status_code == 200


def test_pages_outside_the_members_forms_are_not_found(store: SubmissionStore) -> None:
    other = put(store, form="callback", status="quarantined", messages=[], reason="honeypot")
    with staff_client(
        DESK, FRONTDESK_STAFF=f"{DESK}:responder:forms=contact,{NURSE}:reader"
    ) as desk:
        assert desk.post(f"/inquiries/{other.id}/release").status_code == 404
        assert desk.client.get(f"/inquiries/{other.id}/delivery").status_code == 404
        assert other.id not in desk.client.get("/quarantine").text
        assert "callback" not in desk.client.get("/inquiries").text


class Clock:
    """A clock the test moves (Unix seconds)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def test_live_updates_do_not_keep_an_unattended_session_alive(
    store: SubmissionStore, settings: Settings
) -> None:
    record = put(store)
    clock = Clock()
    idle = settings.inbox_session_idle
    with staff_client(DESK, clock) as desk:
        url = live_url(desk.client.get("/inquiries", params={"form": "contact"}).text)
        delivery = f"/inquiries/{record.id}/delivery"
        # Polls all the while the page stays open: none of them counts as use.
        for _ in range(3):
            clock.now += idle / 3 - 1
            assert desk.client.get(url).status_code == 204
            assert desk.client.get(delivery).status_code == 200
        clock.now += 10
        ended = desk.client.get(url, headers={"HX-Request": "true"})
        assert ended.status_code == 204
        assert ended.headers["hx-redirect"] == "/sign-in"
        assert desk.client.get(delivery).headers["hx-redirect"] == "/sign-in"
        assert desk.client.get("/inquiries", follow_redirects=False).status_code == 303


def test_a_reply_is_not_resent_by_kind_from_the_delivery_table(
    env: dict[str, str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies are told apart by their id: a resend naming only the kind ``reply`` is refused
    (409) and queues nothing, and the delivery table lists no reply (the Replies part does)."""
    from frontdesk.submissions.record import MessageState
    from frontdesk.submissions.store import update_submission
    from tests.inbox_sessions import staff_client
    from tests.service.test_inbox_workflow import stored_inquiry

    monkeypatch.setenv("FRONTDESK_STAFF", "desk@clinic.example:responder")
    submission_id = stored_inquiry(redis_client)

    def with_failed_reply(submission: Any) -> None:
        submission.messages = [
            MessageState(kind="reply", status="failed", attempts=3, reply_id="r1"),
        ]

    update_submission(redis_client, submission_id, with_failed_reply)
    queued = redis_client.keys("rq:job:*")
    with staff_client("desk@clinic.example") as staff:
        page = staff.client.get(f"/inquiries/{submission_id}").text
        answer = staff.post(f"/inquiries/{submission_id}/resend", {"kind": "reply"})
    assert 'name="kind" value="reply"' not in page
    assert answer.status_code == 409
    assert redis_client.keys("rq:job:*") == queued
