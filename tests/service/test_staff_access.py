"""Staff access: token length, throttled and logged failures, per-token forms and actions,
``no-store`` on every answer, and the token checked before any body or parameter is read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from frontdesk.settings import SettingsError, load_settings
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

ALICE = "alice-" + "a" * 40
BOB = "bob-" + "b" * 40
TOKENS = f"alice:{ALICE},bob:{BOB}"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def staff_client(make_client: ClientFactory, **variables: str) -> TestClient:  # type: ignore[type-arg]
    return make_client(staff=True, **{"staff_tokens": TOKENS, "rate_limits": "off", **variables})


def submitter(make_client: ClientFactory, **variables: str) -> TestClient:  # type: ignore[type-arg]
    return make_client(**{"rate_limits": "off", **variables})


def _post(client: TestClient, url: str = URL, **change: str) -> str:  # type: ignore[type-arg]
    response = client.post(url, json={**VALID, **change})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def frontdesk_lines() -> Iterator[list[str]]:
    """Every line logged under ``frontdesk`` while the test runs (the app's logging config
    replaces the root handlers, so listen on the logger)."""
    logger = logging.getLogger("frontdesk")
    handler = _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


# --- (1) token length -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ops:x", "ops:sh0rt-secret-x", f"ops:{ALICE},ci:sh0rt-secret-x"])
def test_short_staff_tokens_are_refused_at_start(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"FRONTDESK_STAFF_TOKENS": value})
    text = str(raised.value)
    assert "FRONTDESK_STAFF_TOKENS" in text
    assert "32" in text
    # The presented token is never printed, only the entry's name.
    assert "sh0rt-secret-x" not in text
    assert ALICE not in text


def test_long_tokens_and_the_old_syntax_still_load() -> None:
    settings = load_settings({"FRONTDESK_STAFF_TOKENS": TOKENS})
    assert [t.name for t in settings.staff_tokens] == ["alice", "bob"]


# --- (2) throttled and (3) logged failures --------------------------------------------------


def _asgi_get(
    test_client: TestClient,  # type: ignore[type-arg]
    path: str,
    headers: dict[str, str],
    client: str,
) -> tuple[int, dict[str, str]]:
    """One GET to the app of ``test_client`` from ``client`` (an IP), in the test client's event
    loop (the app's Redis connections belong to it), without the test client's fixed peer."""
    from tests.asgi import asgi_request

    async def call() -> tuple[int, dict[str, str]]:
        scope_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        status, answer_headers, _ = await asgi_request(test_client.app, "GET", path, scope_headers)
        return status, {k.decode().lower(): v.decode() for k, v in answer_headers}

    # asgi_request's peer is 127.0.0.1: a trusted proxy here, so X-Forwarded-For names the client.
    headers["x-forwarded-for"] = client
    return test_client.blocking_portal.call(call)


def test_failed_tokens_are_throttled_per_client(make_client: ClientFactory) -> None:
    app = staff_client(make_client, trusted_proxies="127.0.0.1/32")
    for _ in range(10):
        status, _ = _asgi_get(app, URL, bearer("wrong-" + "x" * 40), "203.0.113.9")
        assert status == 401
    status, headers = _asgi_get(app, URL, bearer("wrong-" + "x" * 40), "203.0.113.9")
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 15 * 60
    # Even the right token: a throttled client learns nothing more from its next guesses.
    status, _ = _asgi_get(app, URL, bearer(ALICE), "203.0.113.9")
    assert status == 429
    # Another client is not held back by the first one's failures.
    status, _ = _asgi_get(app, URL, bearer(ALICE), "198.51.100.7")
    assert status == 200
    # A request without any token is not a guess: it is not counted.
    for _ in range(12):
        status, _ = _asgi_get(app, URL, {}, "192.0.2.44")
        assert status == 401
    assert _asgi_get(app, URL, bearer(ALICE), "192.0.2.44")[0] == 200


def test_failed_tokens_are_logged_with_the_client_never_the_token(
    make_client: ClientFactory, frontdesk_lines: list[str]
) -> None:
    client = staff_client(make_client, trusted_proxies="127.0.0.1/32")
    presented = "guess-" + "g" * 40
    status, _ = _asgi_get(client, URL, bearer(presented), "203.0.113.77")
    assert status == 401
    failures = [line for line in frontdesk_lines if "203.0.113.77" in line]
    assert failures, frontdesk_lines
    assert any("WARNING" in line and "invalid" in line for line in failures)
    assert not any(presented in line or "g" * 20 in line for line in frontdesk_lines)


# --- (4) forms and actions per token --------------------------------------------------------

OTHER_URL = "/v1/forms/other/submissions"
CAROL = "carol-" + "c" * 40
ERIN = "erin-" + "e" * 40


def scoped_clients(make_client: ClientFactory) -> tuple[TestClient, TestClient]:  # type: ignore[type-arg]
    tokens = (
        f"alice:{ALICE},"
        f"carol:{CAROL}:forms=contact:actions=read,"
        f"erin:{ERIN}:forms=other:actions=erase+read"
    )
    forms = {"other": form_yaml("other")}
    posts = submitter(make_client, forms=forms)
    staff = staff_client(make_client, forms=forms, staff_tokens=tokens)
    return posts, staff


def test_a_token_reads_only_its_forms_and_does_only_its_actions(
    make_client: ClientFactory,
) -> None:
    posts, staff = scoped_clients(make_client)
    mine = _post(posts)
    theirs = _post(posts, OTHER_URL)
    carol = bearer(CAROL)
    assert staff.get(URL, headers=carol).status_code == 200
    assert staff.get(f"/v1/submissions/{mine}", headers=carol).status_code == 200
    refused = [
        (staff.get(OTHER_URL, headers=carol), "form_not_allowed"),
        (staff.get(f"/v1/submissions/{theirs}", headers=carol), "form_not_allowed"),
        (staff.get(URL, params={"format": "csv"}, headers=carol), "action_not_allowed"),
        (staff.get(URL, params={"format": "jsonl"}, headers=carol), "action_not_allowed"),
        (staff.delete(f"/v1/submissions/{mine}", headers=carol), "action_not_allowed"),
        (staff.post(f"/v1/submissions/{mine}/resend", headers=carol), "action_not_allowed"),
        (staff.post(f"/v1/submissions/{mine}/release", headers=carol), "action_not_allowed"),
        (
            staff.post("/v1/erasures", json={"email": "ann@example.com"}, headers=carol),
            "action_not_allowed",
        ),
    ]
    for answer, code in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == code
    # Nothing was deleted or erased on the way.
    assert staff.get(f"/v1/submissions/{mine}", headers=bearer(ALICE)).status_code == 200
    # A token without forms= or actions= may do everything, as before.
    assert staff.get(OTHER_URL, params={"format": "csv"}, headers=bearer(ALICE)).status_code == 200


def test_a_form_scoped_erasure_erases_only_in_its_forms(make_client: ClientFactory) -> None:
    posts, staff = scoped_clients(make_client)
    mine = _post(posts)
    theirs = _post(posts, OTHER_URL)
    erased = staff.post("/v1/erasures", json={"email": "ann@example.com"}, headers=bearer(ERIN))
    assert erased.status_code == 200
    assert erased.json() == {"erased": 1}
    assert staff.get(f"/v1/submissions/{theirs}", headers=bearer(ALICE)).status_code == 404
    assert staff.get(f"/v1/submissions/{mine}", headers=bearer(ALICE)).status_code == 200


# --- (5) no-store on every staff answer -----------------------------------------------------


def test_every_staff_answer_is_no_store(make_client: ClientFactory) -> None:
    posts = submitter(make_client)
    staff = staff_client(make_client)
    submission_id = _post(posts)
    alice = bearer(ALICE)
    answers = {
        "list": staff.get(URL, headers=alice),
        "csv": staff.get(URL, params={"format": "csv"}, headers=alice),
        "jsonl": staff.get(URL, params={"format": "jsonl"}, headers=alice),
        "read": staff.get(f"/v1/submissions/{submission_id}", headers=alice),
        "resend": staff.post(f"/v1/submissions/{submission_id}/resend", headers=alice),
        "release 409": staff.post(f"/v1/submissions/{submission_id}/release", headers=alice),
        "erasure": staff.post("/v1/erasures", json={"email": "x@example.com"}, headers=alice),
        "401": staff.get(f"/v1/submissions/{submission_id}"),
        "404": staff.get("/v1/submissions/none", headers=alice),
        "400": staff.get(URL, params={"limit": "0"}, headers=alice),
        "delete": staff.delete(f"/v1/submissions/{submission_id}", headers=alice),
    }
    for name, answer in answers.items():
        assert answer.headers.get("cache-control") == "no-store", (name, answer.status_code)


# --- (6) the token before the body and the parameters ---------------------------------------


def test_erasures_check_the_token_before_reading_the_body(make_client: ClientFactory) -> None:
    client = staff_client(make_client)
    app = client.app
    chunk = b"x" * 65536
    total = 9_000_000  # under the route's 10 MB read cap
    read: list[int] = []

    async def call(headers: list[tuple[bytes, bytes]]) -> int:
        sent = 0
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            sent += len(chunk)
            read.append(len(chunk))
            return {"type": "http.request", "body": chunk, "more_body": sent < total}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/erasures",
            "raw_path": b"/v1/erasures",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"content-length", str(total).encode()),
                *headers,
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        await app(scope, receive, send)
        return statuses[0]

    for headers in ([], [(b"authorization", b"Bearer " + b"w" * 40)]):
        read.clear()
        assert client.blocking_portal.call(call, headers) == 401
        assert sum(read) == 0, f"{sum(read)} body bytes read before the 401"


def test_the_token_is_checked_before_the_parameters(make_client: ClientFactory) -> None:
    staff = staff_client(make_client)
    for params in ({"limit": "0"}, {"since": "yesterday"}, {"status": "nope"}, {"limit": "abc"}):
        answer = staff.get(URL, params=params)
        assert answer.status_code == 401, (params, answer.text)
    assert staff.get("/v1/forms/nope/submissions").status_code == 401
