"""The submission route: encodings, answers, origins, spam defences, idempotency, rate limits."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
import redis

from frontdesk.submissions.record import Submission
from frontdesk.submissions.secret import derive, key_for
from services.forms.timetrap import issue_token
from tests.conftest import TEST_REDIS_URL
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

ALLOWED = "http://127.0.0.1:8000"


def early_in_a_minute(needed: float = 10) -> None:
    """Rate limits count per fixed minute (frontdesk/submissions/ratelimit.py): wait for the next minute
    when fewer than ``needed`` seconds are left, so a test's requests never straddle two windows.
    """
    if 60 - time.time() % 60 < needed:
        time.sleep(60 - time.time() % 60)


_TEST_REDIS = urlsplit(TEST_REDIS_URL)
REDIS_HOST, REDIS_PORT = _TEST_REDIS.hostname or "127.0.0.1", _TEST_REDIS.port or 6379
REDIS_DB = _TEST_REDIS.path.strip("/") or "0"


def _record(redis_client: redis.Redis, submission_id: str) -> Submission:
    raw = redis_client.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    return msgspec.json.decode(raw, type=Submission)


def _jobs(redis_client: redis.Redis) -> list[bytes]:
    return redis_client.lrange("rq:queue:frontdesk", 0, -1)


def _old_token(redis_client: redis.Redis, form: str = "contact", age: float = 60) -> str:
    return issue_token(key_for(redis_client, None, "time-trap"), form, time.time() - age)


# --- encodings and answers ---------------------------------------------------------------------


def test_urlencoded_ajax_gets_json(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    client = make_client()
    body = "name=Ann+Example&email=ann%40example.com&phone=%2B1+415+555+2671&message=Knee+pain"
    response = client.post(
        URL,
        content=body.encode(),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json, text/html",
        },
    )
    assert response.status_code == 201
    record = _record(redis_client, response.json()["id"])
    assert record.fields["name"] == "Ann Example"
    assert record.phone is not None
    assert record.phone.e164 == "+14155552671"  # %2B decodes to "+"


def test_multipart_is_accepted_and_a_file_part_is_422(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    ok = client.post(URL, data=VALID, files={}, headers={"accept": "application/json"})
    assert ok.status_code == 201
    with_file = client.post(
        URL,
        data=VALID,
        files={"cv": ("cv.txt", b"hello", "text/plain")},
        headers={"accept": "application/json"},
    )
    assert with_file.status_code == 422
    assert with_file.json()["code"] == "files_not_accepted"
    assert len(_jobs(redis_client)) == 1


def test_plain_html_post_gets_303_to_the_success_page(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.post(
        URL,
        data={**VALID, "_next": "https://evil.example/phish"},
        headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8", "origin": ALLOWED},
        follow_redirects=False,
    )
    assert response.status_code == 303
    # The posted _next is not allowlisted: the form's page, resolved against the site base_url.
    assert response.headers["location"] == "http://127.0.0.1:8000/thanks.html"


def test_allowlisted_next_is_followed_and_other_sites_never(make_client: ClientFactory) -> None:
    extra = "redirects:\n  next_allowed: [/merci.html]\n"
    client = make_client(forms={"nextform": form_yaml("nextform", extra)})
    url = "/v1/forms/nextform/submissions"
    ok = client.post(
        url,
        data={**VALID, "_next": "/merci.html"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "http://127.0.0.1:8000/merci.html")
    # Another site is never a redirect target (forms check refuses one in next_allowed too):
    # with no success page configured, a small HTML page.
    evil = client.post(
        url,
        data={**VALID, "email": "b@example.com", "_next": "https://evil.example/x"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert evil.status_code == 200
    assert evil.headers["content-type"].startswith("text/html")
    assert "Thank you! Your submission has been received!" in evil.text
    assert "location" not in evil.headers


def test_plain_html_without_pages_gets_a_small_html_page(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    response = client.post(
        "/v1/forms/bare/submissions", data={**VALID, "email": "x"}, headers={"accept": "text/html"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Oops! Something went wrong while submitting the form." in response.text


def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "message": "x" * 70_000})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "body_too_large"


def test_json_array_and_non_utf8_urlencoded_are_400(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.post(URL, json=[1]).status_code == 400
    bad = client.post(
        URL, content=b"name=%FF", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert bad.status_code == 400


def test_10000_fields_under_the_default_limit_are_refused_by_size(
    make_client: ClientFactory,
) -> None:
    """At the default 64 KiB ``max_body_bytes`` size alone refuses 10,000 fields, unread."""
    client = make_client()
    body = "&".join(f"field{i}=x" for i in range(10_000)).encode()
    response = client.post(
        URL, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({f"f{i}": "x" for i in range(101)}).encode()),
        ("application/x-www-form-urlencoded", "&".join(f"f{i}=x" for i in range(101)).encode()),
        (
            "multipart/form-data; boundary=b",
            "".join(
                f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
                for i in range(101)
            ).encode()
            + b"--b--\r\n",
        ),
    ],
    ids=["json", "urlencoded", "multipart"],
)
def test_more_than_100_fields_are_413_too_many_fields(
    make_client: ClientFactory, content_type: str, body: bytes
) -> None:
    response = make_client().post(URL, content=body, headers={"content-type": content_type})
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_fields"


def test_deeply_nested_json_is_400_malformed_json(make_client: ClientFactory) -> None:
    body = ('{"message": ' + "[" * 20_000 + "]" * 20_000 + "}").encode()
    response = make_client().post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"name=Ann+%FF&email=ann%40example.com"),
        ("application/x-www-form-urlencoded", b"name=Ann \xff&email=ann%40example.com"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nAnn \xff\r\n--b--\r\n',
        ),
    ],
    ids=["urlencoded-escaped", "urlencoded-raw", "multipart"],
)
def test_invalid_utf8_is_400_invalid_encoding_and_not_stored(
    make_client: ClientFactory, redis_client: redis.Redis, content_type: str, body: bytes
) -> None:
    response = make_client().post(URL, content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_encoding"
    assert redis_client.keys("frontdesk:submission:*") == []


def test_unencoded_plus_in_urlencoded_phone_follows_the_region(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    """A raw "+" is a space in urlencoded data: "+31612345678" arrives as " 31612345678". With
    region NL libphonenumber strips the region's own country code; with US it is refused.
    """
    client = make_client()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    base = "name=Ann&email=ann%40example.com&message=hi&phone=+31612345678"
    nl = client.post(URL, content=f"{base}&phone_country=nl".encode(), headers=headers)
    assert nl.status_code == 201
    assert _record(redis_client, nl.json()["id"]).phone.e164 == "+31612345678"  # type: ignore[union-attr]
    us = client.post(URL, content=f"{base}x&phone_country=US".encode(), headers=headers)
    assert us.status_code == 422
    assert us.json()["errors"][0]["field"] == "phone"


# --- origins --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, URL + "/"])
def test_preflight_from_an_allowed_origin(make_client: ClientFactory, path: str) -> None:
    client = make_client()
    response = client.options(
        path,
        headers={
            "origin": ALLOWED,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, idempotency-key",
        },
        follow_redirects=False,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in response.headers["vary"]
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert allowed == {
        "content-type",
        "accept",
        "accept-language",
        "idempotency-key",
        "x-request-id",
    }
    assert "www-authenticate" not in response.headers


def test_preflight_from_another_origin_gets_no_acao(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.options(
        URL,
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        follow_redirects=False,
    )
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    assert "Origin" in response.headers["vary"]


def test_post_from_a_disallowed_origin_or_referer_is_403(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    by_origin = client.post(URL, json=VALID, headers={"origin": "https://evil.example"})
    assert by_origin.status_code == 403
    assert by_origin.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in by_origin.headers
    by_referer = client.post(URL, json=VALID, headers={"referer": "https://evil.example/contact"})
    assert by_referer.status_code == 403
    assert redis_client.keys("frontdesk:submission:*") == []


def test_post_from_an_allowed_origin_echoes_it(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    response = client.post(URL, json=VALID, headers={"origin": "http://localhost:8000"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "http://localhost:8000"
    # A script may read the request id (to quote it) and a 429's Retry-After.
    assert response.headers["access-control-expose-headers"] == "X-Request-ID, Retry-After"
    refused = client.post(URL, json={}, headers={"origin": "http://localhost:8000"})
    assert refused.status_code == 422
    assert refused.headers["access-control-expose-headers"] == "X-Request-ID, Retry-After"
    assert "origin_unknown" not in _record(redis_client, response.json()["id"]).flags
    referer = client.post(
        URL, json={**VALID, "email": "b@example.com"}, headers={"referer": ALLOWED + "/contact"}
    )
    assert referer.status_code == 201


def test_post_without_origin_or_referer_is_flagged(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    response = client.post(URL, json=VALID)
    assert response.status_code == 201
    record = _record(redis_client, response.json()["id"])
    assert record.status == "received"
    assert {"origin_unknown", "no_token"} <= set(record.flags)


def test_forwarded_for_is_ignored_without_trusted_proxies(make_client: ClientFactory) -> None:
    early_in_a_minute()
    extra = "spam:\n  rate_limits: {per_ip_minute: 1}\n"
    client = make_client(forms={"rl": form_yaml("rl", extra)})
    url = "/v1/forms/rl/submissions"
    first = client.post(url, json=VALID, headers={"x-forwarded-for": "203.0.113.1"})
    assert first.status_code == 201
    # X-Forwarded-For is not believed: the same peer, so the second one is limited.
    second = client.post(
        url, json={**VALID, "email": "b@example.com"}, headers={"x-forwarded-for": "203.0.113.2"}
    )
    assert second.status_code == 429


# --- validation through the route ----------------------------------------------------------


def test_header_injection_in_name_is_422_and_nothing_queued(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "name": "Ann Example\r\nBcc: list@spam.example"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name"]
    assert _jobs(redis_client) == []
    assert redis_client.keys("frontdesk:submission:*") == []


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ('"ann smith"@example.com', "email_quoted_local"),
        ("Ann Example <ann@example.com>", "email_display_name"),
    ],
)
def test_quoted_and_display_name_emails_have_distinct_codes(
    make_client: ClientFactory, email: str, code: str
) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "email": email})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "email", "code": code, "message": response.json()["errors"][0]["message"]}
    ]


def test_idn_email_is_accepted(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "email": "user@exämple.com"})
    assert response.status_code == 201
    assert _record(redis_client, response.json()["id"]).fields["email"] == "user@exämple.com"


@pytest.mark.parametrize(
    ("phone", "country", "status", "e164"),
    [
        ("0031612345678", "NL", 201, "+31612345678"),
        ("0031612345678", "US", 422, None),
        ("011 31 6 12345678", "us", 201, "+31612345678"),
        ("+0412345678", "AU", 422, None),
        ("٠٦١٢٣٤٥٦٧٨", "NL", 201, "+31612345678"),
        ("+31 6 12 34 abc 5", "NL", 422, None),
        ("\uff0b1 415 555 2671", "NL", 201, "+14155552671"),  # full-width plus
        ("+1 415\u2013555\u20132671", "NL", 201, "+14155552671"),  # en dashes
        ("+1 415\u2011555\u20112671", "NL", 201, "+14155552671"),  # non-breaking hyphens
        # An unknown region counts as none: the site's US reads it as a (possible) US number.
        ("0612345678", "ZZ", 201, "+10612345678"),
    ],
)
def test_phone_region_from_the_country_field(
    make_client: ClientFactory,
    redis_client: redis.Redis,
    phone: str,
    country: str,
    status: int,
    e164: str | None,
) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "phone": phone, "phone_country": country})
    assert response.status_code == status
    if e164:
        assert _record(redis_client, response.json()["id"]).phone.e164 == e164  # type: ignore[union-attr]
    else:
        assert response.json()["errors"][0]["field"] == "phone"


def test_possible_but_invalid_number_is_flagged_or_refused(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    strict = form_yaml("strict", "phone: {policy: valid}\n")
    client = make_client(forms={"strict": strict})
    loose = client.post(URL, json={**VALID, "phone": "+506 0000 0000"})
    assert loose.status_code == 201
    assert "phone_unverified" in _record(redis_client, loose.json()["id"]).flags
    refused = client.post("/v1/forms/strict/submissions", json={**VALID, "phone": "+506 0000 0000"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "invalid_number"
    italy = client.post("/v1/forms/strict/submissions", json={**VALID, "phone": "+39 6 1234 5678"})
    assert italy.status_code == 422
    valid = client.post("/v1/forms/strict/submissions", json={**VALID, "phone": "+506 8312 3456"})
    assert valid.status_code == 201


def test_extra_fields_policy(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    client = make_client(
        forms={
            "keep": form_yaml("keep", "extra_fields: keep\n"),
            "ignore": form_yaml("ignore", "extra_fields: ignore\n"),
        }
    )
    kept = client.post("/v1/forms/keep/submissions", json={**VALID, "company": "Acme"})
    assert kept.status_code == 201
    assert _record(redis_client, kept.json()["id"]).fields["company"] == "Acme"
    ignored = client.post(
        "/v1/forms/ignore/submissions", json={**VALID, "email": "b@example.com", "company": "A"}
    )
    assert ignored.status_code == 201
    assert "company" not in _record(redis_client, ignored.json()["id"]).fields


# --- spam ------------------------------------------------------------------------------------


@pytest.mark.parametrize("honeypot", ["", None])
def test_empty_or_absent_honeypot_is_normal(
    make_client: ClientFactory, redis_client: redis.Redis, honeypot: str | None
) -> None:
    client = make_client()
    body = {**VALID} if honeypot is None else {**VALID, "_gotcha": honeypot}
    response = client.post(URL, json=body)
    assert response.status_code == 201
    assert _record(redis_client, response.json()["id"]).status == "received"
    assert len(_jobs(redis_client)) == 1


def test_filled_honeypot_is_201_quarantined_and_queues_nothing(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    response = client.post(URL, json={**VALID, "_gotcha": "http://spam.example"})
    assert response.status_code == 201
    assert response.json()["message"] == "Thank you! Your submission has been received!"
    record = _record(redis_client, response.json()["id"])
    assert record.status == "quarantined"
    assert record.quarantine_reason == "honeypot"
    assert "honeypot" in record.flags
    assert record.messages == []
    assert _jobs(redis_client) == []


def test_definition_hands_out_a_token_that_is_too_young_at_once(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    definition = client.get("/v1/forms/contact", headers={"origin": "https://any.example"})
    assert definition.status_code == 200
    assert definition.headers["access-control-allow-origin"] == "*"
    assert definition.headers["cache-control"] == "no-store"
    body = definition.json()
    assert body["honeypot"] == "_gotcha"
    assert body["phone"] == {"policy": "possible", "default_region": "US"}
    assert [f["name"] for f in body["fields"]] == [
        "name",
        "email",
        "phone",
        "topic",
        "message",
        "preferred_date",
    ]
    response = client.post(URL, json={**VALID, "_token": body["token"]})
    record = _record(redis_client, response.json()["id"])
    assert (response.status_code, record.status) == (201, "quarantined")
    assert record.quarantine_reason == "token_too_young"
    assert _jobs(redis_client) == []


def test_old_token_passes_and_forged_token_quarantines(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    ok = client.post(URL, json={**VALID, "_token": _old_token(redis_client)})
    record = _record(redis_client, ok.json()["id"])
    assert record.status == "received"
    assert "no_token" not in record.flags
    forged = issue_token(b"another key", "contact", time.time() - 60)
    bad = client.post(URL, json={**VALID, "email": "b@example.com", "_token": forged})
    assert _record(redis_client, bad.json()["id"]).quarantine_reason == "token_forged"
    other_form = _old_token(redis_client, form="other")
    bad2 = client.post(URL, json={**VALID, "email": "c@example.com", "_token": other_form})
    assert _record(redis_client, bad2.json()["id"]).quarantine_reason == "token_forged"


@pytest.mark.parametrize("token", ["1.\u00e9", "abc.\u0441\u0438\u0433", "\u0661.x"])
def test_a_token_with_non_ascii_characters_is_forged_not_a_500(
    make_client: ClientFactory, redis_client: redis.Redis, token: str
) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII str: a visitor's token must not reach it."""
    client = make_client()
    response = client.post(URL, json={**VALID, "_token": token})
    assert response.status_code == 201
    assert _record(redis_client, response.json()["id"]).quarantine_reason == "token_forged"


def test_secret_from_settings_signs_tokens(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    master = "s3cret-of-thirty-two-characters-at-least"
    client = make_client(secret_key=master)
    token = issue_token(derive(master.encode(), "time-trap"), "contact", time.time() - 10)
    response = client.post(URL, json={**VALID, "_token": token})
    assert _record(redis_client, response.json()["id"]).status == "received"
    assert redis_client.get("frontdesk:secret_key") is None


# --- duplicates and idempotency --------------------------------------------------------------


def test_same_body_twice_is_one_submission(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    first = client.post(URL, json=VALID)
    again = client.post(URL, json={**VALID, "message": "  knee   PAIN "})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert len(_jobs(redis_client)) == 1
    assert len(redis_client.keys("frontdesk:submission:*")) == 1


def test_idempotency_key_replay_and_conflict(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    headers = {"idempotency-key": "k-1"}
    first = client.post(URL, json=VALID, headers=headers)
    replay = client.post(URL, json=VALID, headers=headers)
    assert first.json()["id"] == replay.json()["id"]
    assert len(_jobs(redis_client)) == 1
    conflict = client.post(URL, json={**VALID, "message": "other"}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["code"] == "idempotency_key_reused"
    assert len(redis_client.keys("frontdesk:submission:*")) == 1


@pytest.mark.parametrize("key", [None, "same-key"])
def test_simultaneous_identical_posts_make_one_submission(
    make_client: ClientFactory, redis_client: redis.Redis, key: str | None
) -> None:
    client = make_client()
    headers = {"idempotency-key": key} if key else {}
    results: list[str] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        barrier.wait()
        response = client.post(URL, json=VALID, headers=headers)
        assert response.status_code == 201
        results.append(response.json()["id"])

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert len(set(results)) == 1
    assert len(_jobs(redis_client)) == 1
    assert len(redis_client.keys("frontdesk:submission:*")) == 1


class _ScriptDropper:
    """A TCP proxy in front of the test Redis that, while ``dropping``, closes the connection
    instead of forwarding a write holding ``EVALSHA``: the submission's one script (limits,
    claims and storage) is lost in flight.
    """

    def __init__(self) -> None:
        self.dropping = True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((REDIS_HOST, REDIS_PORT))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if outbound and self.dropping and b"EVALSHA\r\n" in chunk:
                    break
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_submission_lost_in_flight_is_503_and_writes_nothing(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    proxy = _ScriptDropper()
    client = make_client(redis_url=f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}")
    failed = client.post(URL, json=VALID, headers={"idempotency-key": "k"})
    assert failed.status_code == 503
    assert failed.json()["message"] == "Oops! Something went wrong while submitting the form."
    assert redis_client.keys("frontdesk:*") == []
    assert _jobs(redis_client) == []
    proxy.dropping = False
    retried = client.post(URL, json=VALID, headers={"idempotency-key": "k"})
    assert retried.status_code == 201
    assert len(_jobs(redis_client)) == 1
    proxy.listener.close()


def test_a_write_that_fails_in_redis_writes_nothing(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    """The script checks every key it writes before its first write: a key of the wrong type
    (here the form's index) fails the submission with nothing counted, claimed or stored.
    """
    client = make_client()
    redis_client.set("frontdesk:form:contact:submissions", b"not a sorted set")
    failed = client.post(URL, json=VALID, headers={"idempotency-key": "k"})
    assert failed.status_code == 503
    assert redis_client.keys("frontdesk:*") == [b"frontdesk:form:contact:submissions"]
    assert redis_client.keys("rq:*") == []
    redis_client.delete("frontdesk:form:contact:submissions")
    retried = client.post(URL, json=VALID, headers={"idempotency-key": "k"})
    assert retried.status_code == 201
    assert len(_jobs(redis_client)) == 1


# --- rate limits -----------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(make_client: ClientFactory) -> None:
    early_in_a_minute()
    client = make_client()
    statuses = [
        client.post(URL, json={**VALID, "email": f"p{i}@example.com"}).status_code for i in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    limited = client.post(URL, json={**VALID, "email": "last@example.com"})
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_rate_limited_submission_claims_nothing(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    early_in_a_minute()
    for i in range(5):
        assert client.post(URL, json={**VALID, "email": f"p{i}@example.com"}).status_code == 201
    limited = client.post(
        URL, json={**VALID, "email": "late@example.com"}, headers={"idempotency-key": "late"}
    )
    assert limited.status_code == 429
    assert redis_client.keys("frontdesk:idem:*") == []
    assert len(redis_client.keys("frontdesk:dup:*")) == 5


def test_new_idempotency_key_on_a_duplicate_answers_the_first_id(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    first = client.post(URL, json=VALID)
    keyed = client.post(URL, json=VALID, headers={"idempotency-key": "later"})
    replay = client.post(URL, json=VALID, headers={"idempotency-key": "later"})
    assert first.json()["id"] == keyed.json()["id"] == replay.json()["id"]
    [idem] = redis_client.keys("frontdesk:idem:*")
    assert (redis_client.get(idem) or b"").startswith(first.json()["id"].encode())
    assert len(_jobs(redis_client)) == 1


def test_rate_limits_off_lifts_them(make_client: ClientFactory) -> None:
    client = make_client(rate_limits="off")
    statuses = {
        client.post(URL, json={**VALID, "email": f"p{i}@example.com"}).status_code for i in range(7)
    }
    assert statuses == {201}


def test_rate_limits_are_shared_between_app_instances(make_client: ClientFactory) -> None:
    early_in_a_minute()
    extra = "spam:\n  rate_limits: {per_ip_minute: 2}\n"
    one = make_client(forms={"rl": form_yaml("rl", extra)})
    two = make_client(forms={"rl": form_yaml("rl", extra)})
    url = "/v1/forms/rl/submissions"
    assert one.post(url, json=VALID).status_code == 201
    assert two.post(url, json={**VALID, "email": "b@example.com"}).status_code == 201
    assert one.post(url, json={**VALID, "email": "c@example.com"}).status_code == 429


def test_phone_check_rate_limit(make_client: ClientFactory) -> None:
    client = make_client()
    early_in_a_minute(needed=40)
    codes = [
        client.get("/v1/phone/check", params={"number": "+14155552671"}).status_code
        for _ in range(121)
    ]
    assert codes[:120] == [200] * 120
    assert codes[120] == 429


# --- CAPTCHA ---------------------------------------------------------------------------------


class _Verifier(BaseHTTPRequestHandler):
    answers: ClassVar[list[bytes | None]] = []
    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        _Verifier.seen.append(parse_qs(self.rfile.read(length).decode()))
        answer = _Verifier.answers.pop(0)
        if answer is None:
            time.sleep(1.5)  # longer than the form's timeout: the provider "does not answer"
            answer = b'{"success": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def verifier() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Verifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Verifier.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/siteverify"
    server.shutdown()
    server.server_close()


def test_captcha_is_verified_at_the_configured_url(
    make_client: ClientFactory, redis_client: redis.Redis, verifier: str
) -> None:
    extra = "spam:\n  captcha: {provider: turnstile, site_key: site-1, timeout: 0.5}\n"
    client = make_client(
        forms={"cap": form_yaml("cap", extra)}, captcha_secret="shh", captcha_verify_url=verifier
    )
    url = "/v1/forms/cap/submissions"
    _Verifier.answers = [b'{"success": true}', b'{"success": false}', None]
    passed = client.post(url, json={**VALID, "cf-turnstile-response": "tok-1"})
    assert _record(redis_client, passed.json()["id"]).status == "received"
    assert _Verifier.seen[0]["secret"] == ["shh"]
    assert _Verifier.seen[0]["response"] == ["tok-1"]
    failed = client.post(
        url, json={**VALID, "email": "b@example.com", "cf-turnstile-response": "tok-2"}
    )
    assert failed.status_code == 201
    assert _record(redis_client, failed.json()["id"]).quarantine_reason == "captcha_failed"
    silent = client.post(
        url, json={**VALID, "email": "c@example.com", "cf-turnstile-response": "tok-3"}
    )
    assert silent.status_code == 201
    assert _record(redis_client, silent.json()["id"]).quarantine_reason == "captcha_unavailable"
    definition = client.get("/v1/forms/cap").json()
    assert definition["captcha"] == {
        "provider": "turnstile",
        "site_key": "site-1",
        "response_field": "cf-turnstile-response",
    }
    assert "shh" not in json.dumps(definition)


def test_a_form_cannot_send_the_captcha_secret_elsewhere(
    make_client: ClientFactory, verifier: str
) -> None:
    """The site directory is content: a form naming its own ``verify_url`` (an editor's collector)
    is refused at load (the form answers 503 and the problem is on the internal readiness
    answer), and the CAPTCHA secret goes only where the code or ops say."""
    extra = (
        "spam:\n  captcha: {provider: turnstile, site_key: site-1, "
        f"verify_url: '{verifier}', timeout: 0.5}}\n"
    )
    _Verifier.answers = [b'{"success": true}']
    client = make_client(forms={"cap": form_yaml("cap", extra)}, captcha_secret="shh")
    response = client.post(
        "/v1/forms/cap/submissions", json={**VALID, "cf-turnstile-response": "t"}
    )
    assert response.status_code == 503
    assert response.json()["code"] == "form_unavailable"
    [problem] = client.app.state.forms.catalog.problems
    assert re.search(r"verify_url: .*FRONTDESK_CAPTCHA_VERIFY_URL", problem)
    assert _Verifier.seen == []


# --- languages -------------------------------------------------------------------------------

FRENCH = """
messages:
  codes: {required: "Please fill this in."}
  languages:
    fr:
      success: "Merci ! Votre demande a bien été reçue."
      error: "Oups ! Une erreur s'est produite."
      phone_valid: "Numéro valide"
      codes: {required: "Ce champ est obligatoire.", too_short: "Numéro trop court"}
"""


def test_messages_follow_accept_language_or_the_language_field(
    make_client: ClientFactory,
) -> None:
    client = make_client(forms={"fr": form_yaml("fr", FRENCH)})
    url = "/v1/forms/fr/submissions"
    body = {k: v for k, v in VALID.items() if k != "name"}
    french = client.post(url, json=body, headers={"accept-language": "fr-CH, fr;q=0.9, en;q=0.8"})
    assert french.json()["message"] == "Oups ! Une erreur s'est produite."
    assert french.json()["errors"][0]["message"] == "Ce champ est obligatoire."
    english = client.post(url, json={**body, "_language": "en"}, headers={"accept-language": "fr"})
    assert english.json()["message"] == "Oops! Something went wrong while submitting the form."
    assert english.json()["errors"][0]["message"] == "Please fill this in."
    default = client.post(url, json=body, headers={"accept-language": "de"})
    assert default.json()["errors"][0]["message"] == "Please fill this in."
    ok = client.post(url, json={**VALID, "_language": "fr"})
    assert ok.json()["message"] == "Merci ! Votre demande a bien été reçue."
    check = client.get(
        "/v1/phone/check", params={"number": "12", "form": "fr"}, headers={"accept-language": "fr"}
    )
    assert check.json()["message"] == "Numéro trop court"
    assert client.get("/v1/forms/fr", headers={"accept-language": "fr"}).json()["language"] == "fr"


def test_retention_days_of_the_form_is_the_record_ttl(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(forms={"short": form_yaml("short", "retention_days: 7\n")})
    response = client.post("/v1/forms/short/submissions", json=VALID)
    ttl = redis_client.ttl(f"frontdesk:submission:{response.json()['id']}")
    assert 6 * 86400 < ttl <= 7 * 86400


def test_phone_check_is_readable_from_any_origin(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get(
        "/v1/phone/check",
        params={"number": "+1 415 555 2671 x12", "form": "contact"},
        headers={"origin": "https://elsewhere.example"},
    )
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert (body["e164"], body["extension"], body["message"]) == (
        "+14155552671",
        "12",
        "Valid number",
    )


def test_unknown_form_is_404_problem(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.get("/v1/forms/nope").status_code == 404
    response = client.post("/v1/forms/nope/submissions", json=VALID)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_quarantined_post_does_not_swallow_a_later_clean_one(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client()
    spam = client.post(URL, json={**VALID, "_gotcha": "x"})
    person = client.post(URL, json=VALID)
    assert spam.json()["id"] != person.json()["id"]
    assert _record(redis_client, person.json()["id"]).status == "received"
    assert len(_jobs(redis_client)) == 1


# --- messages.codes: exactly the codes a client can receive, with the server's texts -----------

CLIENT_CODES = {
    "required",
    "too_long",
    "invalid_option",
    "control_characters",
    "unknown_field",
    "not_a_string",
    "invalid_email",
    "email_display_name",
    "email_quoted_local",
    "encoded_word",
    "invalid_country_code",
    "too_short",
    "invalid_length",
    "not_a_number",
    "invalid_number",
    "phone_unverified",  # GET /v1/phone/check's message for an accepted, unverified number
    # The typed fields' codes (date, time, number).
    "invalid_date",
    "date_too_early",
    "date_too_late",
    "invalid_time",
    "time_too_early",
    "time_too_late",
    "number_invalid",
    "number_too_small",
    "number_too_large",
    "number_step",
}
SHORT_PHONE = """
fields:
  - {name: name, label: Name, required: true}
  - {name: email, label: Email, type: email, required: true}
  - {name: phone, label: Phone, type: phone, max_length: 20}
recipients: [staff@clinic.example]
sender: "Clinic <no-reply@clinic.example>"
messages:
  languages:
    fr:
      codes: {too_long: "Trop long."}
"""


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    "phone",
    [
        "+1 415 555 2671 555 555 555",  # over the field's max_length
        "+1 415 555 26711111111",  # too many digits for libphonenumber
    ],
)
def test_published_codes_are_the_codes_a_client_receives_with_their_texts(
    make_client: ClientFactory, language: str, phone: str
) -> None:
    client = make_client(forms={"short": "id: short\ntitle: T\n" + SHORT_PHONE})
    headers = {"accept-language": language}
    codes = client.get("/v1/forms/short", headers=headers).json()["messages"]["codes"]
    assert set(codes) == CLIENT_CODES
    response = client.post(
        "/v1/forms/short/submissions",
        json={"name": "Ann", "email": "ann@example.com", "phone": phone},
        headers=headers,
    )
    [error] = response.json()["errors"]
    assert error["code"] == "too_long"
    assert error["message"] == codes["too_long"]
    assert codes["too_long"] == ("Trop long." if language == "fr" else "This value is too long.")
    check = client.get(
        "/v1/phone/check", params={"number": phone, "form": "short"}, headers=headers
    ).json()
    if check["reason"]:  # the check knows no max_length: the second number only
        assert check["message"] == codes[check["reason"]]


def test_a_chunked_body_over_the_route_cap_gets_the_forms_413_with_cors(
    make_client: ClientFactory,
) -> None:
    """Without Content-Length, Litestar's 10 MB read cap is where such a body stops; the answer is
    still the form's own 413, readable by a script on an allowed origin (a new user's trial got a
    bare 413 without CORS headers)."""
    client = make_client()

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(11):
            yield b"x" * 1_000_000
        yield b'"}'

    response = client.post(
        URL,
        content=chunks(),
        headers={"content-type": "application/json", "origin": "http://127.0.0.1:8000"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
