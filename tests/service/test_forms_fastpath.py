"""The forms fast path (services/forms/fastpath.py) answers submissions exactly as the routed path does.

Each request is sent twice, in-process, from the same Redis state (the test database is flushed
before each): once through the app's fast path (request id, then the submission fast path) and
once through the request-id middleware straight into Litestar's routing. Status, headers (but the
fresh request id) and body (but the new submission's id) must be equal; the fast path must have answered the
submission itself and passed everything else on; both must count the request in the same metrics
series; and both must have stored the same record.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
import redis
from prometheus_client import REGISTRY

from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from services.forms import fastpath
from services.forms.app import FormsApp, create_app
from services.forms.fastpath import SubmissionFastPath
from tests.asgi import Answer, asgi_request
from tests.service.forms_helpers import URL, VALID

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
JSON = [(b"content-type", b"application/json"), (b"accept", b"application/json"), ORIGIN]
FORM = (b"content-type", b"application/x-www-form-urlencoded")
HTML = (b"accept", b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
BOUNDARY = b"frontdeskboundary"
MULTIPART = (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)
TEMPLATE = "/v1/forms/{form_id}/submissions"
# Submission ids (record.new_submission_id: 28 hex digits) in JSON answers, pages and Location.
SUBMISSION_ID = re.compile(rb"\b[0-9a-f]{28}\b")
STATUSES = (201, 303, 400, 403, 409, 413, 415, 422, 500, 503)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> FormsApp:
    return create_app(settings)


def fast_path(app: FormsApp) -> SubmissionFastPath:
    assert isinstance(app.fast_path, RequestIdMiddleware)
    inner = app.fast_path.app
    assert isinstance(inner, SubmissionFastPath)
    return inner


def multipart(fields: dict[str, str], file: bool = False) -> bytes:
    parts = [
        b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (BOUNDARY, name.encode(), value.encode())
        for name, value in fields.items()
    ]
    if file:
        parts.append(
            b'--%s\r\nContent-Disposition: form-data; name="cv"; filename="cv.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nhello\r\n" % BOUNDARY
        )
    return b"".join(parts) + b"--%s--\r\n" % BOUNDARY


def urlencoded(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def comparable(answer: Answer) -> Answer:
    """``answer`` with the request id header taken out (after checking there is one) and
    submission ids replaced by a placeholder."""
    status, headers, body = answer
    ids = [value for name, value in headers if name == b"x-request-id"]
    assert len(ids) == 1
    kept = sorted(
        (name, SUBMISSION_ID.sub(b"<id>", value))
        for name, value in headers
        if name != b"x-request-id"
    )
    return status, kept, SUBMISSION_ID.sub(b"<id>", body)


def counted(status: int, method: str = "POST", path: str = TEMPLATE) -> float:
    value = REGISTRY.get_sample_value(
        "frontdesk_requests_total",
        {"app_name": "forms", "method": method, "path": path, "status_code": str(status)},
    )
    return value or 0.0


def counts() -> dict[int, float]:
    """The forms app's submission requests counted so far, by status."""
    return {status: counted(status) for status in STATUSES}


def stored(connection: redis.Redis) -> list[dict[str, Any]]:
    """The stored submissions, without what differs between two runs (id, times, request id)."""
    records = []
    for key in sorted(connection.scan_iter("frontdesk:submission:*")):
        record = msgspec.json.decode(connection.get(key) or b"{}")
        for name in ("id", "created_at", "request_id"):
            record.pop(name, None)
        records.append(record)
    return records


async def both_ways(
    app: FormsApp,
    connection: redis.Redis,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    host: bytes = b"testserver",
) -> tuple[Answer, Answer, list[Any], list[Any]]:
    """The answer and stored records through the entry, then through the routed app, each from an
    empty database."""
    connection.flushdb()
    through_front = await asgi_request(app, method, path, headers, body=body, host=host)
    front_records = stored(connection)
    connection.flushdb()
    through_routes = await asgi_request(
        RequestIdMiddleware(app.routed), method, path, headers, body=body, host=host
    )
    return through_front, through_routes, front_records, stored(connection)


def spy_on_routed(app: FormsApp) -> list[str]:
    """Record the paths the fast path passes on to the routed app."""
    passed: list[str] = []
    submissions = fast_path(app)
    routed = submissions.routed

    async def noting(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])
        await routed(scope, receive, send)

    submissions.routed = noting
    return passed


SUBMISSIONS: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = {
    "json accepted": (JSON, msgspec.json.encode(VALID)),
    "json accepted with a request id": (
        [*JSON, (b"x-request-id", b"trace-123")],
        msgspec.json.encode(VALID),
    ),
    "json idempotency key": (
        [*JSON, (b"idempotency-key", b"key-1")],
        msgspec.json.encode(VALID),
    ),
    "json honeypot quarantined": (JSON, msgspec.json.encode({**VALID, "_gotcha": "bot"})),
    "json refused fields": (JSON, msgspec.json.encode({**VALID, "phone": "xy0612345678"})),
    "json header injection": (
        JSON,
        msgspec.json.encode({**VALID, "name": "Ann Example\r\nBcc: list@spam.example"}),
    ),
    "json unknown field": (JSON, msgspec.json.encode({**VALID, "colour": "blue"})),
    "json malformed": (JSON, b'{"name": '),
    "json not an object": (JSON, b"[1, 2]"),
    "json not utf-8": (JSON, b'{"name": "\xff"}'),
    "json in German": (
        [*JSON, (b"accept-language", b"de")],
        msgspec.json.encode({**VALID, "email": "ann"}),
    ),
    "origin not allowed": (
        [(b"content-type", b"application/json"), (b"origin", b"https://evil.example")],
        msgspec.json.encode(VALID),
    ),
    "no origin": ([(b"content-type", b"application/json")], msgspec.json.encode(VALID)),
    "referer only": (
        [(b"content-type", b"application/json"), (b"referer", b"http://localhost:8000/x")],
        msgspec.json.encode(VALID),
    ),
    "text/plain": ([(b"content-type", b"text/plain"), ORIGIN], b"hello"),
    "no content type": ([ORIGIN], b"hello"),
    "too large": (JSON, msgspec.json.encode({**VALID, "message": "x" * 200_000})),
    "urlencoded html accepted": ([FORM, HTML, ORIGIN], urlencoded(VALID)),
    "urlencoded html accepted with _next": (
        [FORM, HTML, ORIGIN],
        urlencoded({**VALID, "_next": "https://evil.example/"}),
    ),
    "urlencoded html refused": ([FORM, HTML, ORIGIN], urlencoded({**VALID, "email": "x"})),
    "urlencoded json accepted": (
        [FORM, (b"accept", b"application/json"), ORIGIN],
        urlencoded(VALID),
    ),
    "urlencoded repeated name": (
        [FORM, ORIGIN],
        urlencoded(VALID) + b"&name=Bob",
    ),
    "multipart accepted": ([MULTIPART, HTML, ORIGIN], multipart(VALID)),
    "multipart with a file": ([MULTIPART, ORIGIN], multipart(VALID, file=True)),
    "multipart malformed": ([MULTIPART, ORIGIN], b"--nonsense"),
}


@pytest.mark.parametrize("case", SUBMISSIONS)
async def test_the_fast_path_answers_like_the_routed_app(
    app: FormsApp, redis_client: redis.Redis, case: str
) -> None:
    headers, body = SUBMISSIONS[case]
    passed = spy_on_routed(app)
    before = counts()
    answers = await both_ways(app, redis_client, "POST", URL, headers, body)
    through_front, through_routes, front_records, routed_records = answers
    assert passed == []  # the fast path answered itself
    assert comparable(through_front) == comparable(through_routes)
    assert front_records == routed_records
    status = through_front[0]
    # Each way counted once, under the route template and the status it answered.
    assert {s: n - before[s] for s, n in counts().items() if n != before[s]} == {status: 2}


async def test_the_cases_cover_every_kind_of_answer(
    app: FormsApp, redis_client: redis.Redis
) -> None:
    """The differential cases above are worth something only if they reach every outcome."""
    statuses = set()
    for headers, body in SUBMISSIONS.values():
        redis_client.flushdb()
        statuses.add((await asgi_request(app, "POST", URL, headers, body=body))[0])
    assert statuses == {201, 303, 400, 403, 413, 415, 422}


async def test_a_duplicate_gets_the_first_id_through_the_fast_path(
    app: FormsApp, redis_client: redis.Redis
) -> None:
    headers, body = SUBMISSIONS["json accepted"]
    first = await asgi_request(app, "POST", URL, headers, body=body)
    again = await asgi_request(app, "POST", URL, headers, body=body)
    routed = await asgi_request(RequestIdMiddleware(app.routed), "POST", URL, headers, body=body)
    ids = {msgspec.json.decode(answer[2])["id"] for answer in (first, again, routed)}
    assert [first[0], again[0], routed[0]] == [201, 201, 201]
    assert len(ids) == 1
    assert redis_client.zcard("frontdesk:form:contact:submissions") == 1


PASSED_ON: dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes]] = {
    "unknown form": ("POST", "/v1/forms/nope/submissions", JSON, b"{}"),
    "trailing slash": ("POST", URL + "/", JSON, msgspec.json.encode(VALID)),
    "nested path": ("POST", "/v1/forms/a/b/submissions", JSON, b"{}"),
    "empty form id": ("POST", "/v1/forms//submissions", JSON, b"{}"),
    "staff list": ("GET", URL, [], b""),
    "preflight": (
        "OPTIONS",
        URL,
        [ORIGIN, (b"access-control-request-method", b"POST")],
        b"",
    ),
    "definition": ("POST", "/v1/forms/contact", JSON, b"{}"),
}


@pytest.mark.parametrize("case", PASSED_ON)
async def test_everything_else_is_passed_on(
    app: FormsApp, redis_client: redis.Redis, case: str
) -> None:
    method, path, headers, body = PASSED_ON[case]
    passed = spy_on_routed(app)
    through_front, through_routes, _, _ = await both_ways(
        app, redis_client, method, path, headers, body
    )
    assert passed == [path]
    assert comparable(through_front) == comparable(through_routes)


async def test_a_host_litestar_refuses_is_passed_on(
    app: FormsApp, redis_client: redis.Redis
) -> None:
    headers, body = SUBMISSIONS["json accepted"]
    passed = spy_on_routed(app)
    through_front, through_routes, records, _ = await both_ways(
        app, redis_client, "POST", URL, headers, body, host=b"bad host"
    )
    assert passed == [URL]
    assert through_front[0] == through_routes[0] == 400
    assert records == []


async def test_an_unexpected_error_is_answered_like_the_routed_app(
    app: FormsApp, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the intake (here: an error raised where it runs) gives both paths the app's
    500 problem+json and stores nothing."""

    async def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fastpath, "submit_form", broken)
    monkeypatch.setattr("services.forms.app.submit_form", broken)
    headers, body = SUBMISSIONS["json accepted"]
    through_front, through_routes, records, _ = await both_ways(
        app, redis_client, "POST", URL, headers, body
    )
    assert comparable(through_front) == comparable(through_routes)
    assert through_front[0] == 500
    assert msgspec.json.decode(through_front[2])["code"] == "internal_error"
    assert records == []


def test_the_fast_path_finds_the_route_template(app: FormsApp) -> None:
    assert fast_path(app).template == TEMPLATE


async def test_a_bug_logs_its_place_never_the_visitors_text(
    app: FormsApp,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception's text may quote what the visitor sent: the log line of a 500 names the
    exception's type, the route and the frames, never the exception's text (both paths)."""
    canary = "Ada Canary-5b1f3e"

    async def broken(*_: Any) -> Any:
        raise RuntimeError(f"could not store {canary}")

    monkeypatch.setattr(fastpath, "submit_form", broken)
    monkeypatch.setattr("services.forms.app.submit_form", broken)
    headers, body = SUBMISSIONS["json accepted"]
    with caplog.at_level("ERROR"):
        through_front, through_routes, _, _ = await both_ways(
            app, redis_client, "POST", URL, headers, body
        )
    assert (through_front[0], through_routes[0]) == (500, 500)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    for record in errors:
        text = record.getMessage() + (record.exc_text or "") + str(record.exc_info)
        assert "RuntimeError" in text
        assert TEMPLATE in text
        assert canary not in text
    assert canary not in caplog.text
