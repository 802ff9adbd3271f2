"""The mail is not a weapon: a flood of posts neither mails a third party nor keeps a real
visitor's inquiry from staff, and a CAPTCHA provider is asked only for posts within the limits.

Real Redis, a real aiosmtpd relay and the real worker job (RQ's ``SimpleWorker``, in-process). The
attacker is modelled as many clients: per-IP limits are raised in the test forms, as a /48 holds
65,536 /64 buckets — the per-form defences must hold on their own.
"""

from __future__ import annotations

import time

import redis
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from frontdesk.submissions.budget import queued_messages
from tests.conftest import Inbox
from tests.service.forms_helpers import ClientFactory, form_yaml, make_client
from tests.service.test_forms_intake import _Verifier, verifier
from tests.service.test_worker_delivery import record, run_jobs

__all__ = ["make_client", "verifier"]

ALLOWED = "http://127.0.0.1:8000"
VICTIM = "victim@third-party.example"
# A form with an auto-reply (the example contact form has none), tokens valid at once (so a test
# takes one from the definition and posts it), and per-IP limits out of the way (see above).
REPLY_FORM = """
allowed_origins: ["http://127.0.0.1:8000"]
auto_reply:
  subject: "We received your message"
  body: "Thank you for contacting the clinic."
spam:
  min_fill_seconds: 0
  rate_limits: {{per_ip_minute: 10000, per_ip_hour: 10000, per_form_hour: {cap}}}
"""
SUBMISSIONS = "/v1/forms/reply/submissions"


def early_in_an_hour(needed: float = 60) -> None:
    """The per-form windows are fixed hours: wait for the next one when fewer than ``needed``
    seconds are left, so a test's posts never straddle two windows.
    """
    left = 3600 - time.time() % 3600
    if left < needed:
        time.sleep(left)


def reply_client(make_client: ClientFactory, port: int, cap: int = 300, **env: str) -> TestClient:  # type: ignore[type-arg]
    return make_client(
        forms={"reply": form_yaml("reply", REPLY_FORM.format(cap=cap))}, smtp_port=str(port), **env
    )


def token(client: TestClient, form: str = "reply") -> str:  # type: ignore[type-arg]
    value = client.get(f"/v1/forms/{form}").json()["token"]
    assert isinstance(value, str)
    return value


def visitor(client: TestClient, email: str, text: str) -> dict[str, str]:  # type: ignore[type-arg]
    """A real visitor's post: the form page's token, and it is sent with an allowed Origin."""
    return {"name": "Real Person", "email": email, "message": text, "_token": token(client)}


def flood_post(i: int, email: str = VICTIM) -> dict[str, str]:
    """An attacker's post: no token (and sent without Origin or Referer)."""
    return {"name": "Flood", "email": email, "message": f"flood {i}"}


def flood(client: TestClient, posts: int) -> None:  # type: ignore[type-arg]
    """``posts`` attacker's posts, early enough in an hour that they all count in it."""
    early_in_an_hour()
    for i in range(posts):
        assert client.post(SUBMISSIONS, json=flood_post(i)).status_code == 201


def delivered_to(inbox: Inbox, address: str) -> int:
    return sum(address in envelope.rcpt_tos for envelope in inbox.envelopes)


# --- no auto-reply for posts that do not come from the form page ------------------------------


def test_a_flood_without_token_or_origin_mails_the_victim_nothing(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    inbox, port = smtp_server
    early_in_an_hour()
    client = reply_client(make_client, port)
    ids = []
    for i in range(30):
        answer = client.post(SUBMISSIONS, json=flood_post(i))
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
    # Only a token, or only an Origin, is not enough either.
    only_origin = client.post(SUBMISSIONS, json=flood_post(30), headers={"origin": ALLOWED})
    only_token = client.post(SUBMISSIONS, json={**flood_post(31), "_token": token(client)})
    run_jobs(redis_client, load_settings())
    inbox.wait(32)
    assert delivered_to(inbox, VICTIM) == 0
    assert delivered_to(inbox, "staff@clinic.example") == 32  # staff still get every inquiry
    stored = record(redis_client, ids[0])
    auto_reply = stored.message("auto_reply")
    assert auto_reply is not None
    assert (auto_reply.status, auto_reply.skip_reason) == ("skipped", "no_token")
    assert stored.status == "notified"
    skipped = record(redis_client, only_origin.json()["id"]).message("auto_reply")
    assert skipped is not None
    assert skipped.skip_reason == "no_token"
    skipped = record(redis_client, only_token.json()["id"]).message("auto_reply")
    assert skipped is not None
    assert skipped.skip_reason == "origin_unknown"


def test_a_post_from_the_form_page_gets_its_auto_reply(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    inbox, port = smtp_server
    client = reply_client(make_client, port)
    answer = client.post(
        SUBMISSIONS, json=visitor(client, "ann@example.com", "Knee"), headers={"origin": ALLOWED}
    )
    run_jobs(redis_client, load_settings())
    inbox.wait(2)
    assert delivered_to(inbox, "ann@example.com") == 1
    auto_reply = record(redis_client, answer.json()["id"]).message("auto_reply")
    assert auto_reply is not None
    assert auto_reply.status == "sent"


# --- auto-replies bounded per address and per domain -------------------------------------------


def test_auto_replies_are_bounded_per_address(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    inbox, port = smtp_server
    client = reply_client(make_client, port)
    ids = [
        client.post(
            SUBMISSIONS, json=visitor(client, VICTIM, f"real {i}"), headers={"origin": ALLOWED}
        ).json()["id"]
        for i in range(5)
    ]
    run_jobs(redis_client, load_settings())
    inbox.wait(8)
    assert delivered_to(inbox, VICTIM) == 3  # FRONTDESK_AUTO_REPLY_PER_ADDRESS_DAY
    assert delivered_to(inbox, "staff@clinic.example") == 5
    last = record(redis_client, ids[-1])
    auto_reply = last.message("auto_reply")
    assert auto_reply is not None
    assert (auto_reply.status, auto_reply.skip_reason) == ("skipped", "address_limit")
    assert last.status == "notified"
    # The address is compared as stored (case-folded), and never appears in a Redis key.
    client.post(
        SUBMISSIONS,
        json=visitor(client, VICTIM.upper(), "real 6"),
        headers={"origin": ALLOWED},
    )
    run_jobs(redis_client, load_settings())
    assert delivered_to(inbox, VICTIM) + delivered_to(inbox, VICTIM.upper()) == 3
    assert not [k for k in redis_client.keys("*") if b"victim" in k.lower()]


def test_auto_replies_are_bounded_per_domain(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    inbox, port = smtp_server
    early_in_an_hour()
    client = reply_client(make_client, port, auto_reply_per_domain_hour="4")
    ids = [
        client.post(
            SUBMISSIONS,
            json=visitor(client, f"person{i}@third-party.example", f"real {i}"),
            headers={"origin": ALLOWED},
        ).json()["id"]
        for i in range(6)
    ]
    other = client.post(
        SUBMISSIONS, json=visitor(client, "ann@example.com", "other"), headers={"origin": ALLOWED}
    )
    run_jobs(redis_client, load_settings())
    inbox.wait(11)
    replies = sum(
        any(r.endswith("@third-party.example") for r in e.rcpt_tos) for e in inbox.envelopes
    )
    assert replies == 4
    assert delivered_to(inbox, "ann@example.com") == 1
    auto_reply = record(redis_client, ids[-1]).message("auto_reply")
    assert auto_reply is not None
    assert auto_reply.skip_reason == "domain_limit"
    assert record(redis_client, other.json()["id"]).status in ("received", "notified")


def test_the_address_bound_counts_the_mailbox_not_its_spellings(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    """A subaddress (``+tag``, RFC 5233) reaches the same mailbox at every domain, and Gmail also
    ignores dots and answers for googlemail.com: none of them is a fresh count of three."""
    inbox, port = smtp_server
    client = reply_client(make_client, port)

    def post(email: str) -> None:
        text = f"real {len(inbox.envelopes)} {time.time()}"  # distinct: not a duplicate post
        answer = client.post(
            SUBMISSIONS, json=visitor(client, email, text), headers={"origin": ALLOWED}
        )
        assert answer.status_code == 201

    for email in ["victim@gmail.com"] * 3 + ["mailbox@third-party.example"] * 3:
        post(email)
    spellings = [
        "victim+1@gmail.com",
        "victim+2@gmail.com",
        "v.ictim@gmail.com",
        "V.I.C.T.I.M+x@GoogleMail.com",
        "mailbox+1@third-party.example",
        "MailBox+a+b@third-party.example",
    ]
    for email in spellings:
        post(email)
    # A dot is part of the name elsewhere: m.ailbox is somebody else's mailbox.
    post("m.ailbox@third-party.example")
    run_jobs(redis_client, load_settings())
    inbox.wait(7 + 13)
    assert delivered_to(inbox, "victim@gmail.com") == 3
    assert delivered_to(inbox, "mailbox@third-party.example") == 3
    assert [r for e in inbox.envelopes for r in e.rcpt_tos if r in spellings] == []
    assert delivered_to(inbox, "m.ailbox@third-party.example") == 1
    assert delivered_to(inbox, "staff@clinic.example") == 13


# --- a flood does not keep a real visitor's inquiry from staff ----------------------------------


def test_a_real_visitor_reaches_staff_after_a_flood_filled_the_form_cap(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    inbox, port = smtp_server
    early_in_an_hour()
    client = reply_client(make_client, port, cap=10)
    answers = [client.post(SUBMISSIONS, json=flood_post(i)) for i in range(15)]
    real = client.post(
        SUBMISSIONS,
        json=visitor(client, "ann@example.com", "My knee hurts"),
        headers={"origin": ALLOWED},
    )
    assert real.status_code == 201
    # Past the cap the flood is answered like accepted posts: same status, same body.
    assert {a.status_code for a in answers} == {201}
    assert {a.json()["message"] for a in answers} == {answers[0].json()["message"]}
    assert set(answers[-1].json()) == set(answers[0].json())
    held = [record(redis_client, a.json()["id"]) for a in answers[10:]]
    assert {(h.status, h.quarantine_reason) for h in held} == {("quarantined", "form_cap")}
    assert all(h.messages == [] for h in held)
    # A held post claims no duplicate key (a person's identical post later is not folded into it).
    assert len(redis_client.keys("frontdesk:dup:*")) == 11
    # A plain HTML post past the cap gets the same page as an accepted one.
    page = client.post(
        SUBMISSIONS,
        data={"name": "Flood", "email": VICTIM, "message": "flood page"},
        headers={"accept": "text/html"},
    )
    assert page.status_code == 200
    assert "Thank you! Your submission has been received!" in page.text

    run_jobs(redis_client, load_settings())
    inbox.wait(11)
    staff_mail = [m for m in inbox.messages() if m["To"] == "staff@clinic.example"]
    assert len(staff_mail) == 11  # the 10 within the cap and the real visitor
    assert any("My knee hurts" in m.get_body(("plain",)).get_content() for m in staff_mail)
    assert record(redis_client, real.json()["id"]).status == "notified"


def test_a_held_post_is_released_by_staff_like_any_quarantined_one(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    """What the staff release action does (frontdesk/submissions/staff/controller.py): every
    message the form defines, the auto-reply's left out for a post not from the form page.
    """
    inbox, port = smtp_server
    early_in_an_hour()
    client = reply_client(make_client, port, cap=1)
    client.post(SUBMISSIONS, json=flood_post(0))
    held_id = client.post(SUBMISSIONS, json=flood_post(1)).json()["id"]
    held = record(redis_client, held_id)
    assert held.quarantine_reason == "form_cap"
    kinds, states = queued_messages(["staff", "auto_reply"], held.flags)
    store = client.app.state.forms.store
    released = store.queue_messages(
        held_id, kinds, release=True, skipped=[s for s in states if s.status == "skipped"]
    )
    assert released is not None
    assert released.status == "received"
    run_jobs(redis_client, load_settings())
    inbox.wait(2)
    assert delivered_to(inbox, "staff@clinic.example") == 2
    assert delivered_to(inbox, VICTIM) == 0
    auto_reply = record(redis_client, held_id).message("auto_reply")
    assert auto_reply is not None
    assert (auto_reply.status, auto_reply.skip_reason) == ("skipped", "no_token")


def test_held_posts_are_bounded_then_refused(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    _, port = smtp_server
    early_in_an_hour()
    extra = REPLY_FORM.format(cap=2).replace("per_form_hour: 2", "per_form_hour: 2, held_hour: 3")
    client = make_client(forms={"reply": form_yaml("reply", extra)}, smtp_port=str(port))
    statuses = [client.post(SUBMISSIONS, json=flood_post(i)).status_code for i in range(7)]
    assert statuses == [201] * 5 + [429] * 2
    assert len(redis_client.keys("frontdesk:submission:*")) == 5


def test_verified_posts_keep_a_budget_of_their_own(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    _, port = smtp_server
    early_in_an_hour()
    extra = REPLY_FORM.format(cap=2).replace(
        "per_form_hour: 2", "per_form_hour: 2, verified_hour: 2, held_hour: 100"
    )
    client = make_client(forms={"reply": form_yaml("reply", extra)}, smtp_port=str(port))
    for i in range(5):
        client.post(SUBMISSIONS, json=flood_post(i))
    real = [
        client.post(
            SUBMISSIONS,
            json=visitor(client, f"p{i}@example.com", f"real {i}"),
            headers={"origin": ALLOWED},
        ).json()["id"]
        for i in range(3)
    ]
    statuses = [record(redis_client, i).status for i in real]
    assert statuses == ["received", "received", "quarantined"]  # the third is past both
    assert record(redis_client, real[2]).quarantine_reason == "form_cap"


def test_staff_get_one_digest_an_hour_with_the_count_held(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    from worker.digest import queue_digests

    inbox, port = smtp_server
    flood(reply_client(make_client, port, cap=2), 9)
    run_jobs(redis_client, load_settings())
    inbox.wait(2)
    settings = load_settings()
    assert queue_digests(redis_client, settings) == 0  # the hour has not ended yet
    later = time.time() + 3600
    assert queue_digests(redis_client, settings, now=later) == 1
    assert queue_digests(redis_client, settings, now=later + 60) == 0  # one per hour
    run_jobs(redis_client, load_settings())
    inbox.wait(3)
    [digest] = [m for m in inbox.messages() if "held" in str(m["Subject"])]
    assert digest["To"] == "staff@clinic.example"
    text = digest.get_body(("plain",)).get_content()
    assert "7 submissions" in text
    assert "form_cap" in text
    body = digest.as_string()
    assert "Flood" not in body  # no visitor data: no name, address or message
    assert "flood 1" not in body
    assert VICTIM not in body


def test_the_workers_maintenance_queues_the_digest(
    make_client: ClientFactory, smtp_server: tuple[Inbox, int], redis_client: redis.Redis
) -> None:
    from worker.main import build_worker

    _, port = smtp_server
    flood(reply_client(make_client, port, cap=1), 3)
    hour = int(time.time() // 3600)
    # The hour ends: its count is what the maintenance run finds for the hour before "now".
    redis_client.rename(f"frontdesk:held:reply:{hour}", f"frontdesk:held:reply:{hour - 1}")
    worker = build_worker(load_settings())
    worker.run_maintenance_tasks()
    worker.run_maintenance_tasks()
    assert (
        redis_client.lrange("rq:queue:frontdesk", 0, -1).count(f"digest-reply-{hour - 1}".encode())
        == 1
    )


# --- the CAPTCHA provider is asked only within the limits ---------------------------------------


def test_captcha_is_verified_after_the_rate_limits(
    make_client: ClientFactory, redis_client: redis.Redis, verifier: str
) -> None:
    extra = (
        "spam:\n  rate_limits: {per_ip_minute: 5}\n"
        "  captcha: {provider: turnstile, site_key: site-1, timeout: 2}\n"
    )
    client = make_client(
        forms={"cap": form_yaml("cap", extra)}, captcha_secret="shh", captcha_verify_url=verifier
    )
    if 60 - time.time() % 60 < 15:
        time.sleep(60 - time.time() % 60)
    _Verifier.answers = [b'{"success": true}'] * 20
    statuses = [
        client.post(
            "/v1/forms/cap/submissions",
            json={"name": "A", "email": f"p{i}@example.com", "cf-turnstile-response": f"t{i}"},
        ).status_code
        for i in range(20)
    ]
    assert statuses == [201] * 5 + [429] * 15
    assert len(_Verifier.seen) == 5  # one provider call per post within the limits
