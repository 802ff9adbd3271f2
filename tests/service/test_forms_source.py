"""Where an inquiry came from, through the forms app over a real Redis: the page URL, title and
``utm_*`` parameters posted by the embed script (or a plain post's ``Referer``), cleaned before
they are stored, shown to staff, exported and erased with the record.
"""

from __future__ import annotations

import csv
import io
import json

import msgspec
import pytest
import redis
from litestar.testing import TestClient

from frontdesk.submissions.record import Source, Submission
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

PAGE = "http://127.0.0.1:8000"  # an origin the clinic's contact form lists
TOKEN = "source-test-token-0123456789abcdefghij"
STAFF = {"authorization": f"Bearer {TOKEN}"}
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _record(redis_client: redis.Redis, submission_id: str) -> Submission:
    raw = redis_client.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    return msgspec.json.decode(raw, type=Submission)


def _submit(
    client: TestClient,  # type: ignore[type-arg]
    redis_client: redis.Redis,
    extra: dict[str, object],
    headers: dict[str, str] | None = None,
) -> Submission:
    response = client.post(URL, json={**VALID, **extra}, headers=headers or {})
    assert response.status_code == 201, response.text
    return _record(redis_client, response.json()["id"])


def test_a_page_on_an_allowed_origin_keeps_its_path_and_its_utm_apart(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    record = _submit(
        client,
        redis_client,
        {
            "_source_url": f"{PAGE}/contact.html?utm_source=news&utm_medium=email&gclid=abc"
            "&utm_id=7&session=s3cret#form",
            "_source_title": "Contact · Clinic",
            "_utm_campaign": "spring",
            "_utm_medium": "letter",  # the posted value wins over the URL's own
        },
        {"Origin": PAGE},
    )
    assert record.source == Source(
        url=f"{PAGE}/contact.html",
        title="Contact · Clinic",
        utm={"utm_source": "news", "utm_medium": "letter", "utm_campaign": "spring"},
        via="page",
    )
    assert "_source_url" not in record.fields
    assert "_utm_campaign" not in record.fields


def test_a_page_elsewhere_is_reduced_to_its_origin(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    # No Origin header (an API client): accepted, and the URL it claims is a foreign one.
    record = _submit(
        client,
        redis_client,
        {
            "_source_url": "https://User:Pw@Other.example:443/patients/4711?utm_source=x#a",
            "_source_title": "Patient 4711",
            "_utm_source": "x",
        },
    )
    assert record.source == Source(url="https://other.example", via="page")


def test_a_form_without_an_origin_list_keeps_origins_only(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(forms={"open": form_yaml("open")}, rate_limits="off")
    response = client.post(
        "/v1/forms/open/submissions",
        json={**VALID, "_source_url": f"{PAGE}/contact.html?utm_source=a", "_source_title": "T"},
    )
    assert response.status_code == 201
    assert _record(redis_client, response.json()["id"]).source == Source(url=PAGE)


def test_a_plain_post_falls_back_to_referer(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    response = client.post(
        URL,
        data=VALID,
        headers={
            "Accept": HTML_ACCEPT,
            "Referer": "http://localhost:8000/contact.html?utm_source=flyer&utm_term=knee#f",
        },
        follow_redirects=False,
    )
    assert response.status_code in (200, 303), response.text
    [key] = redis_client.keys("frontdesk:submission:*")
    record = _record(redis_client, key.decode().rsplit(":", 1)[1])
    assert record.source == Source(
        url="http://localhost:8000/contact.html",
        utm={"utm_source": "flyer", "utm_term": "knee"},
        via="referer",
    )


def test_no_usable_url_stores_no_source(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    urls = ("javascript:alert(1)", "", "not a url", ["http://127.0.0.1:8000/a", "b"])
    for index, url in enumerate(urls):
        record = _submit(
            client, redis_client, {"_source_url": url, "_source_title": "T", "message": str(index)}
        )
        assert record.source is None


def test_oversized_and_control_character_values_are_bounded_and_cleaned(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(rate_limits="off")
    record = _submit(
        client,
        redis_client,
        {
            "_source_url": f"{PAGE}/a b/\r\nBcc:\x01x/\u202eé?utm_content=" + "c" * 5000,
            "_source_title": "Clinic\r\nBcc: v@evil.example\x00\u2028\u202e" + "t" * 500,
            "_utm_source": "\x1b[31mnews\x7f\r\n" + "s" * 1000,
        },
    )
    source = record.source
    assert source is not None
    # CR, LF and tab are dropped by the URL parser (as by a browser's); the rest is escaped.
    assert source.url == f"{PAGE}/a%20b/Bcc:%01x/%E2%80%AE%C3%A9"
    assert source.title is not None
    assert source.title.startswith("Clinic Bcc: v@evil.example ttt")
    assert len(source.title) == 200
    assert source.utm["utm_source"].startswith("[31mnews sss")
    assert len(source.utm["utm_source"]) == 200
    assert source.utm["utm_content"] == "c" * 200
    for text in [source.title, *source.utm.values()]:
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text)
        assert "\u2028" not in text
        assert "\u202e" not in text
    long_path = _submit(
        client, redis_client, {"_source_url": f"{PAGE}/" + "p" * 3000, "message": "Another"}
    )
    assert long_path.source == Source(url=PAGE)


def test_a_record_stored_without_a_source_still_decodes(redis_client: redis.Redis) -> None:
    old = b'{"id":"x","form":"contact","status":"received","created_at":"2026-01-01T00:00:00Z","fields":{}}'
    assert msgspec.json.decode(old, type=Submission).source is None


def test_forms_check_keeps_the_source_out_of_the_honeypot_and_the_subject(
    make_client: ClientFactory,
) -> None:
    from frontdesk.submissions.definition import FormDefinition, cross_check

    honeypot = msgspec.convert(
        {
            "id": "x",
            "title": "X",
            "fields": [{"name": "name", "label": "Name"}],
            "recipients": ["staff@clinic.example"],
            "sender": "no-reply@clinic.example",
            "spam": {"honeypot": "_source_url"},
            "subject": "From {_source_title}",
        },
        FormDefinition,
    )
    problems = cross_check(honeypot)
    assert "$.spam.honeypot: _source_url is a reserved source field" in problems
    assert "$.subject: {_source_title} is not a field of this form" in problems


def test_the_exports_carry_the_source(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    public = make_client(rate_limits="off")
    _submit(
        public,
        redis_client,
        {
            "_source_url": f"{PAGE}/physio.html?utm_source=news&utm_campaign=spring",
            "_source_title": "=Physio",
        },
    )
    staff = make_client(staff=True, staff_tokens=f"alice:{TOKEN}", rate_limits="off")
    exported = staff.get(URL, params={"format": "csv"}, headers=STAFF)
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["source_url"] == f"{PAGE}/physio.html"
    assert row["source_title"] == "'=Physio"  # a formula start, neutralised like any cell
    assert row["utm_source"] == "news"
    assert row["utm_campaign"] == "spring"
    assert row["utm_medium"] == ""
    lines = staff.get(URL, params={"format": "jsonl"}, headers=STAFF).text.splitlines()
    [line] = [json.loads(text) for text in lines]
    assert line["source"] == {
        "url": f"{PAGE}/physio.html",
        "title": "=Physio",
        "utm": {"utm_source": "news", "utm_campaign": "spring"},
        "via": "page",
    }


def test_erasure_takes_the_source_with_the_record(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    public = make_client(rate_limits="off")
    _submit(
        public,
        redis_client,
        {"_source_url": f"{PAGE}/zorblatt-page.html", "_source_title": "Zorblatt"},
    )
    staff = make_client(staff=True, staff_tokens=f"alice:{TOKEN}", rate_limits="off")
    erased = staff.post("/v1/erasures", json={"email": VALID["email"]}, headers=STAFF)
    assert erased.status_code in (200, 201), erased.text
    assert erased.json()["erased"] == 1
    for key in redis_client.keys("*"):
        kind = redis_client.type(key)
        if kind == b"string":
            assert b"orblatt" not in (redis_client.get(key) or b"").lower()
        elif kind == b"hash":
            assert not any(b"orblatt" in v.lower() for v in redis_client.hvals(key))


@pytest.mark.parametrize("title", ["Clinic\r\nBcc: v@evil.example", "=?utf-8?q?x=0D=0A?="])
def test_the_subject_cannot_name_the_source(title: str) -> None:
    """The worker fills a subject from the record's fields only: a placeholder naming a source
    key (refused by ``forms check`` anyway) comes out empty."""
    import datetime as dt

    from frontdesk.submissions.definition import FormDefinition
    from worker.messages import subject_for

    form = msgspec.convert(
        {
            "id": "x",
            "title": "X",
            "fields": [{"name": "name", "label": "Name"}],
            "recipients": ["staff@clinic.example"],
            "sender": "no-reply@clinic.example",
            "subject": "New {_source_title}{source}{title} via {form}",
        },
        FormDefinition,
    )
    submission = Submission(
        id="0" * 28,
        form="x",
        status="received",
        created_at=dt.datetime.now(dt.UTC),
        fields={"name": "Ann"},
        source=Source(url=PAGE, title=title),
    )
    assert subject_for(form, submission) == "New via X"
