"""The typed fields through the forms app over real Redis: the public definition's bounds and
today (in the site's time zone), JSON, urlencoded and multipart posts, the stored values, the
422 codes with the form's texts, and the staff exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zoneinfo
from urllib.parse import urlencode

import msgspec
import redis

from frontdesk.submissions.record import Submission
from tests.service.forms_helpers import ClientFactory, make_client

__all__ = ["make_client"]

TOKEN = "t0ken-a-" + "a" * 32
STAFF = {"authorization": f"Bearer {TOKEN}"}
URL = "/v1/forms/visit/submissions"
BASE = {"name": "Ann Example", "email": "ann@example.com"}


def _site_today(timezone: str) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


def _form_text() -> str:
    return """
id: visit
title: Visit
fields:
  - {name: name, label: Name, required: true}
  - {name: email, label: Email, type: email, required: true}
  - {name: day, label: Day, type: date, min: +1d, max: +90d, required: true}
  - {name: at, label: Time, type: time, min: "08:00", max: "17:30"}
  - {name: topic, label: Topic, type: radio, options: [Back pain, Billing]}
  - {name: days, label: Days, type: checkbox_group, options: [Mon, Tue, Wed]}
  - {name: guests, label: Guests, type: number, min: 0.5, max: 10, step: 0.1}
  - {name: source, label: Source, type: hidden, value: winter-campaign}
recipients: [staff@clinic.example]
sender: "Clinic <no-reply@clinic.example>"
messages:
  languages:
    fr:
      codes: {date_too_early: "Choisissez une date ultérieure."}
"""


def _record(redis_client: redis.Redis, submission_id: str) -> Submission:
    raw = redis_client.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    return msgspec.json.decode(raw, type=Submission)


def test_public_definition_resolves_bounds_on_the_site_today(make_client: ClientFactory) -> None:
    client = make_client(forms={"visit": _form_text()})
    body = client.get("/v1/forms/visit").json()
    # The clinic site's timezone is America/New_York: its date, not the server's UTC one.
    today = _site_today("America/New_York")
    assert body["today"] == today.isoformat()
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["day"]["min"] == (today + dt.timedelta(days=1)).isoformat()
    assert fields["day"]["max"] == (today + dt.timedelta(days=90)).isoformat()
    assert (fields["at"]["min"], fields["at"]["max"]) == ("08:00", "17:30")
    assert (fields["guests"]["min"], fields["guests"]["max"], fields["guests"]["step"]) == (
        "0.5",
        "10",
        "0.1",
    )
    assert fields["days"]["options"] == ["Mon", "Tue", "Wed"]
    assert fields["source"]["type"] == "hidden"
    assert "winter-campaign" not in json.dumps(body)
    for code in ("invalid_date", "date_too_early", "number_step", "invalid_time"):
        assert body["messages"]["codes"][code]


def test_json_post_stores_each_type(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    client = make_client(forms={"visit": _form_text()})
    day = (_site_today("America/New_York") + dt.timedelta(days=1)).isoformat()
    data = {
        **BASE,
        "day": day,
        "at": "09:30",
        "topic": "Billing",
        "days": ["Wed", "Mon"],
        "guests": "0.7",
        "source": "forged",
    }
    response = client.post(URL, json=data)
    assert response.status_code == 201, response.text
    record = _record(redis_client, response.json()["id"])
    assert record.fields["day"] == day
    assert record.fields["at"] == "09:30"
    assert record.fields["topic"] == "Billing"
    assert record.fields["days"] == "Mon\nWed"
    assert record.fields["guests"] == "0.7"
    assert record.fields["source"] == "winter-campaign"


def test_form_bodies_post_a_group_as_repeated_keys(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = make_client(forms={"visit": _form_text()})
    day = (_site_today("America/New_York") + dt.timedelta(days=2)).isoformat()
    pairs = [*BASE.items(), ("day", day), ("days", "Tue"), ("days", "Mon"), ("topic", "Back pain")]
    encoded = client.post(
        URL,
        content=urlencode(pairs),
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
    )
    assert encoded.status_code == 201, encoded.text
    assert _record(redis_client, encoded.json()["id"]).fields["days"] == "Mon\nTue"
    # Another person (the same email and message within minutes is folded into the first post).
    other = [("email", "bo@example.com") if k == "email" else (k, v) for k, v in pairs]
    multipart = client.post(
        URL,
        files=[(k, (None, v)) for k, v in [*other, ("days", "Wed")]],
        headers={"accept": "application/json"},
    )
    assert multipart.status_code == 201, multipart.text
    assert _record(redis_client, multipart.json()["id"]).fields["days"] == "Mon\nTue\nWed"


def test_refusals_carry_stable_codes_and_the_form_texts(make_client: ClientFactory) -> None:
    client = make_client(forms={"visit": _form_text()})
    today = _site_today("America/New_York")
    data = {
        **BASE,
        "day": today.isoformat(),
        "at": "18:00",
        "topic": "Other",
        "days": ["Mon", "Sun"],
        "guests": "0.75",
    }
    response = client.post(URL, json=data, headers={"accept-language": "fr"})
    assert response.status_code == 422
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert {name: e["code"] for name, e in errors.items()} == {
        "day": "date_too_early",
        "at": "time_too_late",
        "topic": "invalid_option",
        "days": "invalid_option",
        "guests": "number_step",
    }
    assert errors["day"]["message"] == "Choisissez une date ultérieure."
    assert errors["guests"]["message"] == "Enter a number on the allowed steps."
    late = client.post(URL, json={**BASE, "day": (today + dt.timedelta(days=91)).isoformat()})
    assert late.json()["errors"][0]["code"] == "date_too_late"
    bad = client.post(URL, json={**BASE, "day": "2026-02-30", "guests": "1e3"})
    assert {e["code"] for e in bad.json()["errors"]} == {"invalid_date", "number_invalid"}


def test_exports_show_the_typed_values(make_client: ClientFactory) -> None:
    forms = {"visit": _form_text()}
    public = make_client(forms=forms, rate_limits="off")
    staff = make_client(forms=forms, staff=True, staff_tokens=f"alice:{TOKEN}", rate_limits="off")
    day = (_site_today("America/New_York") + dt.timedelta(days=3)).isoformat()
    posted = public.post(URL, json={**BASE, "day": day, "days": ["Tue", "Wed"], "guests": 2})
    assert posted.status_code == 201, posted.text
    exported = staff.get(URL, params={"format": "csv"}, headers=STAFF)
    assert exported.status_code == 200, exported.text
    row = next(csv.DictReader(io.StringIO(exported.text)))
    assert (row["day"], row["days"], row["guests"], row["source"]) == (
        day,
        "Tue\nWed",
        "2",
        "winter-campaign",
    )
    lines = staff.get(URL, params={"format": "jsonl"}, headers=STAFF).text.splitlines()
    assert json.loads(lines[0])["fields"]["days"] == "Tue\nWed"
