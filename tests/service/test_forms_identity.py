"""Who the client is behind trusted proxies (submissions, phone checks, the CAPTCHA's ``remoteip``),
how much of a body is read, and how long a time-trap token lives: in-process ASGI requests from a
peer on 127.0.0.1, the proxy these tests trust."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import load_settings
from frontdesk.submissions.record import Submission
from frontdesk.submissions.secret import key_for
from services.forms.app import FormsApp, create_app
from services.forms.timetrap import check_token, issue_token
from tests.asgi import http_scope
from tests.conftest import CLINIC_SITE
from tests.service.forms_helpers import URL, VALID, form_yaml
from tests.service.test_forms_intake import _Verifier, verifier

__all__ = ["verifier"]

pytestmark = pytest.mark.anyio

HOUR = 3600.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def site(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the clinic site the tests add forms to, behind a proxy on 127.0.0.1."""
    copy = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, copy)
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(copy))
    monkeypatch.setenv("FRONTDESK_TRUSTED_PROXIES", "127.0.0.1/32")
    return copy


def make_app(site: Path, forms: dict[str, str] | None = None) -> FormsApp:
    for form_id, text in (forms or {}).items():
        (site / "forms" / f"{form_id}.yaml").write_text(text)
    return create_app(load_settings())


class Sent(msgspec.Struct):
    """One request's answer and how many body bytes the app took from ``receive``."""

    status: int
    body: bytes
    delivered: int


async def call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes] | None = None,
    query: bytes = b"",
) -> Sent:
    """One request from 127.0.0.1 with ``chunks`` as its body (no ``Content-Length``: chunked)."""
    scope = http_scope(method, path, [(b"host", b"testserver"), *headers], query)
    pending = list(chunks or [])
    delivered = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if pending:
            chunk = pending.pop(0)
            delivered += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return Sent(messages[0]["status"], body, delivered)


JSON = [(b"content-type", b"application/json"), (b"origin", b"http://127.0.0.1:8000")]


def forwarded(*lines: str) -> list[tuple[bytes, bytes]]:
    """``X-Forwarded-For`` header lines, repeats kept as a proxy sends them."""
    return [(b"x-forwarded-for", line.encode()) for line in lines]


def early_in_a_minute(needed: float = 20) -> None:
    if 60 - time.time() % 60 < needed:
        time.sleep(60 - time.time() % 60)


def record(connection: redis.Redis, answer: Sent) -> Submission:
    submission_id = msgspec.json.decode(answer.body)["id"]
    raw = connection.get(f"frontdesk:submission:{submission_id}")
    assert raw is not None
    return msgspec.json.decode(raw, type=Submission)


# --- bodies ------------------------------------------------------------------------------------

CHUNK = 16_384


@pytest.mark.parametrize("path", ["fast path", "routed"])
async def test_a_chunked_body_is_read_no_further_than_the_forms_limit(
    site: Path, redis_client: redis.Redis, path: str
) -> None:
    """10 MB sent in 16 KiB chunks without ``Content-Length`` to a form that takes 64 KiB: the app
    takes at most the limit and one chunk from the server, then answers the form's 413."""
    app = make_app(site)
    target = app if path == "fast path" else RequestIdMiddleware(app.routed)
    chunks = [b'{"message": "', *[b"x" * CHUNK] * 640, b'"}']
    answer = await call(target, "POST", URL, JSON, chunks)
    assert answer.status == 413
    assert msgspec.json.decode(answer.body)["code"] == "body_too_large"
    assert answer.delivered <= 65_536 + CHUNK, f"{answer.delivered} bytes read"
    assert redis_client.keys("frontdesk:submission:*") == []


async def test_a_body_at_the_forms_limit_is_still_read_whole(
    site: Path, redis_client: redis.Redis
) -> None:
    """Exactly 64 KiB in 1,000-byte chunks: all of it is read and the post accepted."""
    fields = msgspec.json.encode(VALID)
    body = fields + b" " * (65_536 - len(fields))  # JSON allows trailing whitespace
    assert len(body) == 65_536
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    answer = await call(make_app(site), "POST", URL, JSON, chunks)
    assert answer.status == 201, answer.body
    assert answer.delivered == 65_536


# --- client identity ---------------------------------------------------------------------------


async def test_phone_checks_count_per_client_behind_the_proxy_and_per_ipv6_64(
    site: Path, redis_client: redis.Redis
) -> None:
    """Each check carries a visitor-made first line (varied) and the proxy's line (one /64,
    addresses varied): one bucket, so the 121st check in a minute is refused."""
    app = make_app(site)
    early_in_a_minute(needed=40)
    statuses = [
        (
            await call(
                app,
                "GET",
                "/v1/phone/check",
                forwarded(f"198.51.100.{i % 250}", f"2001:db8:7:7:{i:x}::1"),
                query=b"number=%2B14155552671",
            )
        ).status
        for i in range(121)
    ]
    assert statuses[:120] == [200] * 120
    assert statuses[120] == 429


async def test_the_captcha_provider_is_told_the_client_behind_the_proxy(
    site: Path, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, verifier: str
) -> None:
    """``remoteip`` is the client's address (not a visitor-made line, not the /64 bucket); an
    IPv4-mapped IPv6 address is given as IPv4."""
    monkeypatch.setenv("FRONTDESK_CAPTCHA_SECRET", "shh")
    monkeypatch.setenv("FRONTDESK_CAPTCHA_VERIFY_URL", verifier)
    extra = "spam:\n  captcha: {provider: turnstile, site_key: site-1, timeout: 2}\n"
    app = make_app(site, {"cap": form_yaml("cap", extra)})
    url = "/v1/forms/cap/submissions"
    _Verifier.answers = [b'{"success": true}'] * 3
    sent = [
        ("1.2.3.4", "198.51.100.20", "198.51.100.20"),
        ("1.2.3.4", "2001:db8:1:2::5", "2001:db8:1:2::5"),
        ("1.2.3.4", "::ffff:192.0.2.9", "192.0.2.9"),
    ]
    for index, (visitor_line, proxy_line, _) in enumerate(sent):
        body = msgspec.json.encode(
            {**VALID, "email": f"p{index}@example.com", "cf-turnstile-response": "tok"}
        )
        answer = await call(app, "POST", url, JSON + forwarded(visitor_line, proxy_line), [body])
        assert answer.status == 201, answer.body
    assert [seen["remoteip"] for seen in _Verifier.seen] == [[ip] for _, _, ip in sent]


# --- time-trap tokens --------------------------------------------------------------------------


def test_a_token_expires_after_its_lifetime() -> None:
    issued = 1_800_000_000.0
    token = issue_token(b"k" * 32, "contact", issued)
    assert check_token(b"k" * 32, "contact", token, 3, now=issued + 23 * HOUR) == "ok"
    assert check_token(b"k" * 32, "contact", token, 3, now=issued + 25 * HOUR) == "expired"
    assert (
        check_token(b"k" * 32, "contact", token, 3, now=issued + 2 * HOUR, lifetime=HOUR)
        == "expired"
    )
    # A forged token stays forged, however old it claims to be.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert check_token(b"k" * 32, "contact", forged, 3, now=issued + 25 * HOUR) == "forged"


async def test_an_expired_token_counts_as_missing(site: Path, redis_client: redis.Redis) -> None:
    """A day-old page posts: accepted and notified like a post without a token (``no_token``), with
    ``token_expired`` telling staff why; never quarantined as forged. A form may shorten it."""
    app = make_app(site, {"short": form_yaml("short", "spam:\n  token_lifetime_hours: 1\n")})
    secret = key_for(redis_client, None, "time-trap")
    now = time.time()
    cases = [
        (URL, now - 25 * HOUR, {"no_token", "token_expired"}),
        (URL, now - 23 * HOUR, set()),
        ("/v1/forms/short/submissions", now - 2 * HOUR, {"no_token", "token_expired"}),
    ]
    for index, (url, issued, flags) in enumerate(cases):
        form_id = url.split("/")[3]
        body = msgspec.json.encode(
            {
                **VALID,
                "email": f"p{index}@example.com",
                "_token": issue_token(secret, form_id, issued),
            }
        )
        answer = await call(app, "POST", url, JSON, [body])
        assert answer.status == 201, answer.body
        stored = record(redis_client, answer)
        assert (stored.status, stored.quarantine_reason) == ("received", None)
        assert {"no_token", "token_expired"} & set(stored.flags) == flags
