"""The staff API: bearer tokens, list/export, read, release, resend, delete, erasures, audit."""

from __future__ import annotations

import csv
import io
import json
import logging

import msgspec
import pytest
import redis
from litestar.testing import TestClient

from frontdesk.submissions.record import Submission
from tests.service.forms_helpers import URL, VALID, ClientFactory, make_client

__all__ = ["make_client"]

TOKEN_A = "t0ken-a-" + "a" * 32
TOKEN_B = "t0ken-b-" + "b" * 32
STAFF = {"authorization": f"Bearer {TOKEN_A}"}
TOKENS = f"alice:{TOKEN_A},bob:{TOKEN_B}"


def _clients(make_client: ClientFactory) -> tuple[TestClient, TestClient]:  # type: ignore[type-arg]
    """The public app (to post submissions) and the inbox (the staff API)."""
    public = make_client(rate_limits="off")
    return public, make_client(staff=True, staff_tokens=TOKENS, rate_limits="off")


def _post(client: TestClient, **change: str) -> str:  # type: ignore[type-arg]
    response = client.post(URL, json={**VALID, **change})
    assert response.status_code == 201
    return str(response.json()["id"])


def _jobs(redis_client: redis.Redis) -> list[bytes]:
    return redis_client.lrange("rq:queue:frontdesk", 0, -1)


def test_missing_and_wrong_tokens_get_401_with_a_challenge(make_client: ClientFactory) -> None:
    _public, client = _clients(make_client)
    missing = client.get(URL)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="frontdesk"'
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.get(URL, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert (
        client.get("/v1/submissions/x", headers={"authorization": "Basic abc"}).status_code == 401
    )
    off = make_client(staff=True, staff_tokens="")
    assert off.get(URL, headers=STAFF).status_code == 401


def test_the_forms_internal_port_serves_no_staff_api(make_client: ClientFactory) -> None:
    """The staff API moved to the inbox: the forms service's internal port keeps health and
    metrics only, and its OpenAPI document names no staff route.
    """
    internal = make_client(internal=True, staff_tokens=TOKENS, rate_limits="off")
    for path in (URL, "/v1/submissions/x", "/v1/erasures"):
        assert internal.get(path, headers=STAFF).status_code in (404, 405), path
    assert internal.get("/health/live").status_code == 200
    assert internal.get("/metrics").status_code == 200
    paths = internal.get("/schema/openapi.json").json()["paths"]
    assert not {p for p in paths if p.startswith(("/v1/",))}


def test_list_is_newest_first_with_cursor_status_and_since(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    public, client = _clients(make_client)
    ids = [_post(public, email=f"p{i}@example.com") for i in range(5)]
    spam = _post(public, email="spam@example.com", _gotcha="x")
    first = client.get(URL, params={"limit": 2}, headers=STAFF).json()
    assert [s["id"] for s in first["items"]] == [spam, ids[4]]
    second = client.get(
        URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=STAFF
    ).json()
    assert [s["id"] for s in second["items"]] == [ids[3], ids[2]]
    third = client.get(
        URL, params={"limit": 2, "cursor": second["next_cursor"]}, headers=STAFF
    ).json()
    assert [s["id"] for s in third["items"]] == [ids[1], ids[0]]
    assert third["next_cursor"] is None
    quarantined = client.get(URL, params={"status": "quarantined"}, headers=STAFF).json()
    assert [s["id"] for s in quarantined["items"]] == [spam]
    future = client.get(URL, params={"since": "2999-01-01T00:00:00Z"}, headers=STAFF).json()
    assert future["items"] == []
    assert client.get(URL, params={"limit": 0}, headers=STAFF).status_code == 400
    assert client.get(URL, params={"status": "nope"}, headers=STAFF).status_code == 400


def test_get_one_has_the_design_shape(make_client: ClientFactory) -> None:
    public, client = _clients(make_client)
    submission_id = _post(public, phone="+1 415 555 2671 x12")
    body = client.get(f"/v1/submissions/{submission_id}", headers=STAFF).json()
    assert body["id"] == submission_id
    assert body["form"] == "contact"
    assert body["status"] == "received"
    assert body["fields"]["email"] == "ann@example.com"
    assert body["phone"]["e164"] == "+14155552671"
    assert body["phone"]["extension"] == "12"
    assert body["phone"]["raw"] == "+1 415 555 2671 x12"
    assert body["phone"]["region"] == "US"
    assert body["phone"]["valid"] is True
    assert body["messages"][0]["kind"] == "staff"
    assert body["messages"][0]["status"] == "queued"
    assert client.get("/v1/submissions/nope", headers=STAFF).status_code == 404


def test_csv_export_neutralises_formulas_and_opens_as_utf8(make_client: ClientFactory) -> None:
    public, client = _clients(make_client)
    _post(public, name='=HYPERLINK("http://x")', message="@SUM(A1)")
    _post(public, name="Zoë Ünal", email="z@example.com", message="-1 +1")
    response = client.get(URL, params={"format": "csv", "bom": "true"}, headers=STAFF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["Zoë Ünal", '\'=HYPERLINK("http://x")']
    assert rows[0]["message"] == "'-1 +1"
    assert rows[1]["message"] == "'@SUM(A1)"
    assert rows[1]["phone_e164"] == "'+14155552671"
    plain = client.get(URL, params={"format": "csv"}, headers=STAFF)
    assert plain.content.startswith(b"id,status,created_at,name,email,phone,topic,message")


def test_jsonl_export(make_client: ClientFactory) -> None:
    public, client = _clients(make_client)
    ids = [_post(public, email=f"p{i}@example.com") for i in range(3)]
    response = client.get(URL, params={"format": "jsonl"}, headers=STAFF)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["id"] for line in lines] == ids[::-1]


def test_release_queues_the_notification(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    public, client = _clients(make_client)
    spam = _post(public, _gotcha="x")
    assert _jobs(redis_client) == []
    released = client.post(f"/v1/submissions/{spam}/release", headers=STAFF)
    assert released.status_code == 200
    assert released.json()["status"] == "received"
    assert _jobs(redis_client) == [f"{spam}-staff".encode()]
    again = client.post(f"/v1/submissions/{spam}/release", headers=STAFF)
    assert again.status_code == 409
    assert client.post("/v1/submissions/none/release", headers=STAFF).status_code == 404


def test_resend_clears_the_sent_marker_and_queues_again(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    public, client = _clients(make_client)
    submission_id = _post(public)
    redis_client.delete("rq:queue:frontdesk")
    redis_client.set(f"frontdesk:sent:{submission_id}:staff", "<m@x>")
    response = client.post(f"/v1/submissions/{submission_id}/resend", headers=STAFF)
    assert response.status_code == 200
    assert redis_client.get(f"frontdesk:sent:{submission_id}:staff") is None
    assert _jobs(redis_client) == [f"{submission_id}-staff".encode()]
    spam = _post(public, email="s@example.com", _gotcha="x")
    assert client.post(f"/v1/submissions/{spam}/resend", headers=STAFF).status_code == 409


def test_delete_and_erasure(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    public, client = _clients(make_client)
    one = _post(public)
    _post(public, email="ANN@example.com", message="second")
    other = _post(public, email="bob@example.com")
    assert client.delete(f"/v1/submissions/{one}", headers=STAFF).status_code == 204
    assert redis_client.get(f"frontdesk:submission:{one}") is None
    assert redis_client.zscore("frontdesk:form:contact:submissions", one) is None
    assert client.delete(f"/v1/submissions/{one}", headers=STAFF).status_code == 404
    erased = client.post("/v1/erasures", json={"email": "ann@example.com"}, headers=STAFF)
    assert erased.json() == {"erased": 1}
    left = client.get(URL, headers=STAFF).json()["items"]
    assert [s["id"] for s in left] == [other]
    assert client.post("/v1/erasures", json={"mail": "x"}, headers=STAFF).status_code == 400


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_every_staff_action_is_audited_without_visitor_data(make_client: ClientFactory) -> None:
    public, client = _clients(make_client)
    submission_id = _post(public, _gotcha="x")
    # The app's logging config replaces the root handlers (caplog's too): listen on the logger.
    audit = logging.getLogger("frontdesk.audit")
    handler = _Lines()
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    client.get(f"/v1/submissions/{submission_id}", headers=STAFF)
    client.post(f"/v1/submissions/{submission_id}/release", headers=STAFF)
    client.post(
        f"/v1/submissions/{submission_id}/resend", headers={"authorization": f"Bearer {TOKEN_B}"}
    )
    client.delete(f"/v1/submissions/{submission_id}", headers=STAFF)
    audit.removeHandler(handler)
    lines = handler.lines
    assert lines == [
        f"staff=alice action=read target={submission_id}",
        f"staff=alice action=release target={submission_id}",
        f"staff=bob action=resend target={submission_id}",
        f"staff=alice action=delete target={submission_id}",
    ]
    assert not any("ann" in line.lower() for line in lines)


def test_cli_resend(
    make_client: ClientFactory, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    from frontdesk.cli import main

    public, _client = _clients(make_client)
    submission_id = _post(public)
    redis_client.delete("rq:queue:frontdesk")
    assert main(["resend", submission_id]) == 0
    assert _jobs(redis_client) == [f"{submission_id}-staff".encode()]
    assert main(["resend", "nope"]) == 1
    raw = redis_client.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    assert msgspec.json.decode(raw, type=Submission).message("staff").status == "queued"  # type: ignore[union-attr]
    assert "nope" in capsys.readouterr().err


def test_options_on_a_submission_lists_get_and_delete(make_client: ClientFactory) -> None:
    response = _clients(make_client)[1].options("/v1/submissions/x")
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, OPTIONS"


def test_staff_actions_answer_503_when_redis_is_down(make_client: ClientFactory) -> None:
    from tests.conftest import free_port

    client = make_client(
        staff=True,
        staff_tokens=TOKENS,
        rate_limits="off",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    answers = [
        client.get("/v1/submissions/x", headers=STAFF),
        client.delete("/v1/submissions/x", headers=STAFF),
        client.post("/v1/erasures", json={"email": "ann@example.com"}, headers=STAFF),
        client.post("/v1/submissions/x/release", headers=STAFF),
        client.post("/v1/submissions/x/resend", headers=STAFF),
        client.get("/v1/forms/contact/submissions", headers=STAFF),
    ]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "store_unavailable"


def test_openapi_documents_staff_exports_and_html_answers(make_client: ClientFactory) -> None:
    public, internal = _clients(make_client)
    staff_paths = internal.get("/schema/openapi.json").json()["paths"]
    listing = staff_paths["/v1/forms/{form_id}/submissions"]["get"]["responses"]
    assert set(listing["200"]["content"]) == {"application/json", "text/csv", "application/jsonl"}
    for status in ("401", "403", "429"):
        assert set(listing[status]["content"]) == {"application/problem+json"}
    paths = public.get("/schema/openapi.json").json()["paths"]
    # The staff routes are in the inbox's document only.
    assert "get" not in paths["/v1/forms/{form_id}/submissions"]
    assert not {p for p in paths if p.startswith(("/v1/submissions", "/v1/erasures"))}
    submit = paths["/v1/forms/{form_id}/submissions"]["post"]
    assert set(submit["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert set(submit["responses"]["422"]["content"]) == {"application/problem+json", "text/html"}
    assert set(submit["responses"]["404"]["content"]) == {"application/problem+json"}
    # A plain HTML post is urlencoded or multipart, so a 415 (any other body) never is one.
    assert set(submit["responses"]["415"]["content"]) == {"application/problem+json"}
    assert "303" in submit["responses"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "bad_limit"),
        ({"limit": "abc"}, "bad_limit"),
        ({"limit": "1e3"}, "bad_limit"),
        ({"since": "2026-11-29T00:00:00"}, "bad_since"),
        ({"since": "2026-11-29T00:00:00-24:00"}, "bad_since"),
        ({"since": "yesterday"}, "bad_since"),
        ({"limit": "abc", "since": "yesterday"}, "bad_limit"),
        ({"status": "nope"}, "malformed_request"),
    ],
)
def test_list_parameters_have_stable_specific_codes(
    make_client: ClientFactory, params: dict[str, str], code: str
) -> None:
    response = _clients(make_client)[1].get(URL, params=params, headers=STAFF)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_erasure_body_must_be_json(make_client: ClientFactory) -> None:
    _public, client = _clients(make_client)
    form = client.post("/v1/erasures", data={"email": "ann@example.com"}, headers=STAFF)
    assert form.status_code == 415
    assert form.json()["code"] == "unsupported_media_type"
    broken = client.post(
        "/v1/erasures",
        content=b'{"email": ',
        headers={**STAFF, "content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "malformed_json"
    missing = client.post("/v1/erasures", json={}, headers=STAFF)
    assert missing.status_code == 400
    assert missing.json()["code"] == "malformed_request"
    charset = client.post(
        "/v1/erasures",
        content=b'{"email": "ann@example.com"}',
        headers={**STAFF, "content-type": "application/json; charset=utf-8"},
    )
    assert charset.json() == {"erased": 0}
    # One address: a body of more than 16 KiB is no erasure.
    large = client.post("/v1/erasures", json={"email": "a" * 20_000}, headers=STAFF)
    assert large.status_code == 413
    assert large.headers["content-type"] == "application/problem+json"
