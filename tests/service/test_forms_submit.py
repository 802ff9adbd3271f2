"""Submissions through the forms app against a real Redis."""

from collections.abc import Iterator

import msgspec
import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import Settings
from frontdesk.submissions.record import Submission
from services.forms.app import create_app
from tests.service.forms_helpers import URL, VALID

ERROR_TEXT = "Oops! Something went wrong while submitting the form."


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _jobs(redis_client: redis.Redis) -> list[bytes]:
    return redis_client.lrange("rq:queue:frontdesk", 0, -1)


def test_valid_submission_is_stored_and_queued(
    client: TestClient, redis_client: redis.Redis
) -> None:
    response = client.post(URL, json=VALID)
    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert body["message"] == "Thank you! Your submission has been received!"
    raw = redis_client.get(f"frontdesk:submission:{body['id']}")
    assert raw is not None
    record = msgspec.json.decode(raw, type=Submission)
    assert record.status == "received"
    assert record.fields["email"] == "ann@example.com"
    assert record.phone is not None
    assert record.phone.e164 == "+14155552671"
    assert record.phone.raw == "+1 415 555 2671"
    assert [m.kind for m in record.messages] == ["staff"]
    assert redis_client.ttl(f"frontdesk:submission:{body['id']}") > 89 * 86400
    assert _jobs(redis_client) == [f"{body['id']}-staff".encode()]
    job = redis_client.hgetall(f"rq:job:{body['id']}-staff")
    # The job carries only the submission id and the message kind, never visitor data.
    assert b"Ann" not in job[b"data"]
    assert b"ann@example.com" not in job[b"data"]
    assert redis_client.zscore("frontdesk:form:contact:submissions", body["id"]) is not None


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"phone": "12"}, "phone", "too_short"),
        ({"email": "ann@"}, "email", "invalid_email"),
        ({"name": None}, "name", "required"),
        ({"name": "Ann Example\r\nBcc: list@spam.example"}, "name", "control_characters"),
    ],
)
def test_invalid_input_is_422_and_nothing_is_written(
    client: TestClient, redis_client: redis.Redis, change: dict, field: str, code: str
) -> None:
    body = {**VALID, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(URL, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["message"] == ERROR_TEXT
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in problem["errors"]
    ]
    assert all(e["message"] for e in problem["errors"])
    assert redis_client.keys("frontdesk:*") == []
    assert _jobs(redis_client) == []


def test_unknown_field_and_unknown_form(client: TestClient) -> None:
    response = client.post(URL, json={**VALID, "website": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_field"
    assert client.post("/v1/forms/nope/submissions", json=VALID).status_code == 404


def test_reserved_underscore_fields_are_not_unknown(client: TestClient) -> None:
    response = client.post(URL, json={**VALID, "_language": "en", "_next": "https://x.example"})
    assert response.status_code == 201


def test_malformed_json_is_400_and_other_types_415(client: TestClient) -> None:
    bad = client.post(URL, content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    text = client.post(URL, content=b"hi", headers={"content-type": "text/plain"})
    assert text.status_code == 415


def test_urlencoded_repeated_key_is_a_field_error(client: TestClient) -> None:
    response = client.post(
        URL,
        content=b"name=Ann&name=Bob&email=ann%40example.com&phone=%2B14155552671&message=hi",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "name", "code": "not_a_string", "message": "Send this field once, as text."}
    ]


def test_redis_down_is_503_never_2xx(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("FRONTDESK_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    from frontdesk.settings import load_settings

    with TestClient(create_app(load_settings())) as client:
        response = client.post(URL, json=VALID)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["message"] == ERROR_TEXT


def test_phone_check_matches_submission_verdict(client: TestClient) -> None:
    ok = client.get("/v1/phone/check", params={"number": "+1 415 555 2671", "form": "contact"})
    assert ok.json()["valid"] is True
    assert ok.json()["message"] == "Valid number"
    bad = client.get("/v1/phone/check", params={"number": "12", "region": "us"}).json()
    assert (bad["valid"], bad["reason"]) == (False, "too_short")
    junk = client.get("/v1/phone/check", params={"number": "a" * 1000})
    assert junk.status_code == 200
    assert junk.json()["valid"] is False


def test_browser_line_breaks_in_a_message_are_kept_as_lf(
    client: TestClient, redis_client: redis.Redis
) -> None:
    # Browsers send a textarea's line breaks as CRLF (urlencoded %0D%0A, multipart, fetch JSON).
    response = client.post(
        URL,
        content=(
            b"name=Ann+Example&email=ann%40example.com&phone=%2B14155552671"
            b"&message=Line+one%0D%0ALine+two%0D%0A%0D%0ALine+four"
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    raw = redis_client.get(f"frontdesk:submission:{response.json()['id']}")
    assert raw is not None
    stored = msgspec.json.decode(raw, type=Submission)
    assert stored.fields["message"] == "Line one\nLine two\n\nLine four"


@pytest.mark.parametrize(
    "name",
    ["علی‌رضا", "Ann 👨‍👩‍👧", "Zoë Ødegård 李", "Anne-Ma\u00adrie"],
)
def test_format_characters_of_ordinary_text_are_accepted(client: TestClient, name: str) -> None:
    response = client.post(URL, json={**VALID, "name": name, "message": f"From {name}"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Ann\u202eelpmaxE"),
        ("name", "Ann\u2028Example"),
        ("name", "Ann\rExample"),
        ("message", "Knee\u0000pain"),
        ("message", "Knee \u2067pain\u2069"),
    ],
)
def test_controls_that_hide_or_inject_text_are_refused(
    client: TestClient, redis_client: redis.Redis, field: str, value: str
) -> None:
    response = client.post(URL, json={**VALID, field: value})
    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == ["control_characters"]
    assert redis_client.keys("frontdesk:submission:*") == []


def test_phone_check_never_calls_an_accepted_number_invalid(client: TestClient) -> None:
    # A user report: the widget said "Invalid number" for +506 0000 0000, the form accepted it.
    check = client.get(
        "/v1/phone/check", params={"number": "+506 0000 0000", "form": "contact"}
    ).json()
    assert (check["possible"], check["valid"], check["accepted"]) == (True, False, True)
    assert check["message"] == "This number could not be verified; please check it."
    response = client.post(URL, json={**VALID, "phone": "+506 0000 0000"})
    assert response.status_code == 201
    refused = client.get("/v1/phone/check", params={"number": "12", "form": "contact"}).json()
    assert (refused["accepted"], refused["message"]) == (False, "Invalid number")
