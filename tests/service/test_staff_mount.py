"""The staff routes mounted on a bare Litestar app, with no forms service: any service that
provides a ``StaffContext`` (the coming inbox) can serve them unchanged.
"""

from __future__ import annotations

import ast
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.testing import TestClient

import frontdesk.submissions.staff
from frontdesk.problems import exception_handlers
from frontdesk.staff_tokens import StaffToken
from frontdesk.submissions.definition import FormDefinition, load_forms
from frontdesk.submissions.keys import form_index_key, submission_key
from frontdesk.submissions.record import Submission, encoder
from frontdesk.submissions.staff import StaffContext, staff_router
from frontdesk.submissions.store import SubmissionStore
from tests.conftest import CLINIC_SITE, TEST_REDIS_URL

DESK = StaffToken(name="desk", token="d" * 40)
ELSEWHERE = StaffToken(name="elsewhere", token="e" * 40, forms=("other",))
READER = StaffToken(name="reader", token="r" * 40, actions=("read",))
URL = "/v1/forms/contact/submissions"


def _bearer(token: StaffToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token.token}"}


@dataclass
class BareContext:
    """A StaffContext built by hand: a store, the clinic's forms, fixed tokens, the peer as the
    client.
    """

    store: SubmissionStore
    redis: redis.asyncio.Redis
    forms: Mapping[str, FormDefinition]
    staff_tokens: Sequence[StaffToken] = (DESK, ELSEWHERE, READER)
    clients: list[str] = field(default_factory=list)
    audit_retention_days: int = 365
    clock: Callable[[], float] = time.time

    def client_bucket(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        bucket = connection.headers.get("x-test-client", "peer")
        self.clients.append(bucket)
        return bucket


def _stored(connection: redis.Redis, form: str, email: str, minute: int) -> Submission:
    """A submission written as the store writes one: its record and its entry in the form's
    index, scored by creation time in ms.
    """
    created = dt.datetime(2026, 1, 1, 9, minute, tzinfo=dt.UTC)
    record = Submission(
        id=f"{minute:012x}{'0' * 16}",
        form=form,
        status="received",
        created_at=created,
        fields={"name": "Ann Example", "email": email, "message": "=1+1"},
    )
    connection.set(submission_key(record.id), encoder.encode(record))
    connection.zadd(form_index_key(form), {record.id: created.timestamp() * 1000})
    return record


@pytest.fixture
def bare(redis_client: redis.Redis) -> Iterator[tuple[TestClient[Litestar], BareContext]]:
    asynchronous = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
    context = BareContext(
        store=SubmissionStore(redis_client, "frontdesk", [60], 30),
        redis=asynchronous,
        forms=load_forms(CLINIC_SITE),
    )
    typed: StaffContext = context  # the protocol is all a mounting service must satisfy
    app = Litestar(
        route_handlers=[staff_router(typed)],
        exception_handlers=exception_handlers(),
        on_shutdown=[asynchronous.aclose],
    )
    with TestClient(app) as client:
        yield client, context


def test_the_staff_routes_serve_a_bare_app(
    bare: tuple[TestClient[Litestar], BareContext], redis_client: redis.Redis
) -> None:
    client, context = bare
    first = _stored(redis_client, "contact", "ann@example.com", 1)
    second = _stored(redis_client, "contact", "bea@example.com", 2)

    assert client.get(URL).status_code == 401
    page = client.get(URL, params={"limit": 1}, headers=_bearer(DESK)).json()
    assert [s["id"] for s in page["items"]] == [second.id]
    rest = client.get(URL, params={"cursor": page["next_cursor"]}, headers=_bearer(DESK)).json()
    assert [s["id"] for s in rest["items"]] == [first.id]
    assert rest["next_cursor"] is None
    assert client.get(URL, params={"cursor": "!"}, headers=_bearer(DESK)).json()["code"] == (
        "bad_cursor"
    )
    missing = client.get("/v1/forms/nope/submissions", headers=_bearer(DESK))
    assert (missing.status_code, missing.json()["code"]) == (404, "form_not_found")

    exported = client.get(URL, params={"format": "csv"}, headers=_bearer(DESK))
    assert exported.headers["content-type"].startswith("text/csv")
    assert "'=1+1" in exported.text
    refused = client.get(URL, params={"format": "csv"}, headers=_bearer(READER))
    assert (refused.status_code, refused.json()["code"]) == (403, "action_not_allowed")
    foreign = client.get(f"/v1/submissions/{first.id}", headers=_bearer(ELSEWHERE))
    assert (foreign.status_code, foreign.json()["code"]) == (403, "form_not_allowed")

    assert client.get(f"/v1/submissions/{first.id}", headers=_bearer(DESK)).json()["id"] == (
        first.id
    )
    assert client.options(f"/v1/submissions/{first.id}").headers["allow"] == (
        "DELETE, GET, OPTIONS"
    )
    assert client.delete(f"/v1/submissions/{first.id}", headers=_bearer(DESK)).status_code == 204
    erased = client.post("/v1/erasures", json={"email": "bea@example.com"}, headers=_bearer(DESK))
    assert erased.json() == {"erased": 1}
    assert redis_client.get(submission_key(second.id)) is None
    assert "peer" in context.clients  # the guard asked the context who the client is


def test_the_guard_throttles_by_the_contexts_client_bucket(
    bare: tuple[TestClient[Litestar], BareContext],
) -> None:
    client, _context = bare
    guesser = {"authorization": "Bearer " + "x" * 40, "x-test-client": "guesser"}
    for _ in range(10):
        assert client.get(URL, headers=guesser).status_code == 401
    throttled = client.get(URL, headers={**_bearer(DESK), "x-test-client": "guesser"})
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_failures")
    assert client.get(URL, headers={**_bearer(DESK), "x-test-client": "other"}).status_code == 200


def test_the_staff_package_imports_no_service() -> None:
    package = Path(frontdesk.submissions.staff.__file__).parent
    imported: list[str] = []
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.append(node.module)
    assert imported
    assert not [name for name in imported if name.split(".")[0] in ("services", "worker")]
