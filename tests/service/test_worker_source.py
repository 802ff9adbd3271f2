"""The inquiry's source in the staff email, through the real stack (the forms app, RQ's worker, a
real aiosmtpd relay): shown in the body, never in a header, whatever the page's title holds.
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import redis

from tests.relay import Relay
from tests.service.test_mail_headers import VISITOR, delivered, header_names, post, relay, site
from tests.service.test_worker_messages import run_jobs, submit, visitor
from tests.service.test_worker_webhooks import Receiver, hooked, receiver

__all__ = ["hooked", "receiver", "relay", "site"]

PAGE = "http://127.0.0.1:8000"
HOSTILE_TITLE = "Quorvane\r\nBcc: v@evil.example\r\nSubject: SPOOF\r\n\r\nBODY"


def test_a_hostile_title_is_shown_in_the_body_and_never_reaches_a_header(
    relay: Relay, redis_client: redis.Redis
) -> None:
    status, body = post(
        VISITOR
        | {
            "_source_url": f"{PAGE}/knee.html?utm_source=news&utm_campaign=spring#top",
            "_source_title": HOSTILE_TITLE,
            "_utm_medium": "=?utf-8?q?x=0D=0ABcc:_w@evil.example?=",
        }
    )
    assert status == 201, body
    run_jobs(redis_client)
    [raw] = [r for r in delivered(relay) if b".staff@" in r]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"evil.example" not in head
    assert b"SPOOF" not in head
    assert b"Quorvane" not in head
    assert b"knee.html" not in head
    names = header_names(raw)
    assert "bcc" not in names
    assert names.count("subject") == 1
    mail = message_from_bytes(raw, policy=policy.strict)
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert f"Sent from: {PAGE}/knee.html\n" in text
    # The title folded to one line: it cannot start a line of its own in the body either.
    assert "  Page title: Quorvane Bcc: v@evil.example Subject: SPOOF BODY\n" in text
    assert "  utm_source: news\n  utm_medium: =?utf-8?q?x=0D=0ABcc:_w@evil.example?=\n" in text
    assert "  utm_campaign: spring\n" in text
    assert "#top" not in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"<strong>Sent from</strong> {PAGE}/knee.html</p>" in html
    assert "<li>utm_medium: =?utf-8?q?x=0D=0ABcc:_w@evil.example?=</li>" in html


def test_a_foreign_page_shows_only_its_origin(relay: Relay, redis_client: redis.Redis) -> None:
    status, body = post(
        VISITOR | {"_source_url": "https://elsewhere.example/p/42?q=1", "_source_title": "Secret"}
    )
    assert status == 201, body
    run_jobs(redis_client)
    [raw] = [r for r in delivered(relay) if b".staff@" in r]
    text = (
        message_from_bytes(raw, policy=policy.strict)
        .get_body(("plain",))
        .get_content()
        .replace("\r\n", "\n")
    )  # type: ignore[union-attr]
    assert "Sent from: https://elsewhere.example\n" in text
    assert "/p/42" not in text
    assert "Secret" not in text


def test_the_webhook_payload_carries_the_source(
    hooked: Receiver, redis_client: redis.Redis
) -> None:
    submission_id = submit(
        visitor() | {"_source_url": f"{PAGE}/knee.html?utm_source=news", "_source_title": "Knee"}
    )
    run_jobs(redis_client)
    [(_, body)] = hooked.requests
    payload = json.loads(body)
    assert payload["id"] == submission_id
    assert payload["source"] == {
        "url": f"{PAGE}/knee.html",
        "title": "Knee",
        "utm": {"utm_source": "news"},
        "via": "page",
    }
