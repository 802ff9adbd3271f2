"""The staff inbox: sign-in links, sessions, CSRF, throttle and the first pages.

Real Redis (the test database), a real aiosmtpd server and the real sign-in job (RQ's
``SimpleWorker``, in-process); the inbox through Litestar's TestClient. Expiry is driven by the
app's clock, which the tests move: no sleeps.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from services.inbox.app import create_app
from services.inbox.sessions import BROWSER_COOKIE, HOST_PREFIX, SESSION_COOKIE
from tests.conftest import Inbox
from tests.service.test_worker_delivery import run_jobs

DESK = "desk@clinic.example"
TOKEN_IN_MAIL = re.compile(r"(https?://\S+/sign-in/link\?token=(\S+))")
VISITOR = {
    "name": "Canary Visitorname",
    "email": "canary.visitor@example.com",
    "phone": "+1 415 555 0132",
    "message": "Canary message about my knee",
}


class Clock:
    """A clock the tests move (Unix seconds)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smtp_env(
    env: dict[str, str], smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("FRONTDESK_STAFF", f"{DESK}:responder,nurse@clinic.example:reader:forms=x")
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    monkeypatch.setenv("FRONTDESK_INBOX_SESSION_IDLE", "1800")
    monkeypatch.setenv("FRONTDESK_INBOX_SESSION_ABSOLUTE", "43200")
    return inbox


def client_for(clock: Clock, **env: str) -> TestClient[Any]:
    settings = load_settings()
    if env:
        settings = load_settings({**{k: v for k, v in _env().items()}, **env})
    # The inbox URL is https: the test client speaks https too, so Secure cookies come back.
    return TestClient(create_app(settings, clock), base_url="https://inbox.clinic.example")


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith("FRONTDESK_")}


@pytest.fixture
def inbox(smtp_env: Inbox, redis_client: redis.Redis, clock: Clock) -> Iterator[TestClient[Any]]:
    with client_for(clock) as client:
        yield client


def csrf(client: TestClient[Any], path: str = "/sign-in") -> str:
    page = client.get(path)
    found = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def ask(client: TestClient[Any], address: str = DESK) -> Any:
    return client.post("/sign-in", data={"address": address, "_csrf": csrf(client)})


def mailed_link(smtp: Inbox, redis_client: redis.Redis, count: int = 1) -> str:
    run_jobs(redis_client, load_settings())
    smtp.wait(count)
    messages = [m for m in smtp.messages() if m["Subject"] == "Your Frontdesk sign-in link"]
    assert len(messages) == count
    body = messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = TOKEN_IN_MAIL.search(body)
    assert found, body
    return str(found.group(1))


def local(link: str) -> str:
    return link.removeprefix("https://inbox.clinic.example")


def sign_in(
    client: TestClient[Any], smtp: Inbox, redis_client: redis.Redis, count: int = 1
) -> None:
    assert ask(client).status_code == 200
    link = mailed_link(smtp, redis_client, count)
    answer = client.get(local(link), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/inquiries"


def test_a_mailed_link_signs_in_once(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    answer = ask(inbox)
    assert answer.status_code == 200
    assert "Check your mail" in answer.text
    link = mailed_link(smtp_env, redis_client)
    # The origin is the configured inbox URL, whatever Host the request named.
    assert link.startswith("https://inbox.clinic.example/sign-in/link?token=")
    first = inbox.get(local(link), follow_redirects=False)
    assert first.status_code == 303
    set_cookie = first.headers["set-cookie"]
    assert HOST_PREFIX + SESSION_COOKIE in set_cookie
    for attribute in ("HttpOnly", "Secure", "SameSite=lax"):
        assert attribute.lower() in set_cookie.lower()
    assert inbox.get("/inquiries").status_code == 200
    again = inbox.get(local(link), follow_redirects=False)
    assert again.status_code == 400


def test_cookies_are_not_secure_on_a_plain_http_inbox(
    smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    with client_for(clock, FRONTDESK_INBOX_URL="http://127.0.0.1:8003") as client:
        set_cookie = client.get("/sign-in").headers["set-cookie"]
    assert "httponly" in set_cookie.lower()
    assert "secure" not in set_cookie.lower()


def test_the_link_ignores_the_host_header(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    token = csrf(inbox)
    inbox.post(
        "/sign-in",
        data={"address": DESK, "_csrf": token},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert mailed_link(smtp_env, redis_client).startswith("https://inbox.clinic.example/")


def test_an_expired_link_is_refused(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    ask(inbox)
    link = mailed_link(smtp_env, redis_client)
    clock.now += 15 * 60 + 1
    assert inbox.get(local(link), follow_redirects=False).status_code == 400


def test_a_link_opened_in_another_browser_is_refused_and_not_used_up(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    ask(inbox)
    link = mailed_link(smtp_env, redis_client)
    with client_for(clock) as other:
        other.get("/sign-in")  # a browser id of its own
        assert other.get(local(link), follow_redirects=False).status_code == 400
        assert other.get("/inquiries", follow_redirects=False).status_code == 303
    assert inbox.get(local(link), follow_redirects=False).status_code == 303


def test_a_forged_link_is_refused(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    ask(inbox)
    link = mailed_link(smtp_env, redis_client)
    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert inbox.get(local(forged), follow_redirects=False).status_code == 400


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    known = ask(inbox, DESK)
    unknown = ask(inbox, "stranger@example.com")
    assert unknown.status_code == known.status_code == 200
    strip = re.compile(r'value="[^"]+"')
    assert strip.sub("", unknown.text) == strip.sub("", known.text)
    run_jobs(redis_client, load_settings())
    smtp_env.wait(2, timeout=1)
    assert [e.rcpt_tos for e in smtp_env.envelopes] == [[DESK]]


def test_an_unknown_address_takes_the_same_path(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    """A record and a queued job for either: the same Redis work, so the same time."""

    def added_by(address: str) -> list[bytes]:
        token = csrf(inbox)
        before = set(redis_client.scan_iter("*"))
        inbox.post("/sign-in", data={"address": address, "_csrf": token})
        added = set(redis_client.scan_iter("*")) - before
        return sorted(re.sub(rb"link:[\w-]+|sign-in-[\w-]+|[0-9a-f]{64}", b"*", k) for k in added)

    known = added_by(DESK)
    stranger = added_by("stranger@example.com")
    # The first request also made the client's window and the queue set, which stay.
    assert stranger[0] == b"frontdesk:inbox:*"  # the link's record
    assert re.fullmatch(rb"frontdesk:rl:inbox-sign-in:address:\*:3600:\d+", stranger[1])
    assert stranger[2:] == [b"rq:job:*"]
    assert set(stranger) <= set(known)


def test_sign_in_without_the_csrf_token_is_refused(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    inbox.get("/sign-in")
    assert inbox.post("/sign-in", data={"address": DESK}).status_code == 403
    assert inbox.post("/sign-in", data={"address": DESK, "_csrf": "x" * 43}).status_code == 403
    assert redis_client.keys("rq:job:*") == []


def test_sign_out_without_the_csrf_token_is_refused(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    assert inbox.post("/sign-out", data={}).status_code == 403
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 200


def test_sign_in_is_throttled_per_address_and_per_client(
    smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    with client_for(clock, FRONTDESK_INBOX_SIGN_IN_PER_ADDRESS_HOUR="2") as client:
        assert ask(client).status_code == 200
        assert ask(client).status_code == 200
        refused = ask(client)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert ask(client, "other@clinic.example").status_code == 200
    redis_client.flushdb()
    with client_for(clock, FRONTDESK_INBOX_SIGN_IN_PER_CLIENT_HOUR="2") as client:
        assert ask(client, "a@clinic.example").status_code == 200
        assert ask(client, "b@clinic.example").status_code == 200
        assert ask(client, "c@clinic.example").status_code == 429


def test_an_idle_session_ends(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    clock.now += 1700
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 200
    clock.now += 1700  # within the idle limit of the last request
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 200
    clock.now += 1801
    answer = inbox.get("/inquiries", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"


def test_a_busy_session_ends_at_the_absolute_limit(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    for _ in range(43200 // 1500):
        clock.now += 1500
        assert inbox.get("/inquiries", follow_redirects=False).status_code == 200
    clock.now += 1500
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 303


def test_sign_out_everywhere_ends_every_session(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    with client_for(clock) as laptop:
        sign_in(laptop, smtp_env, redis_client, count=2)
        token = csrf(laptop, "/inquiries")
        answer = laptop.post("/sign-out/everywhere", data={"_csrf": token}, follow_redirects=False)
        assert answer.status_code == 303
        assert laptop.get("/inquiries", follow_redirects=False).status_code == 303
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 303


def test_sign_out_ends_this_session_only(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    with client_for(clock) as laptop:
        sign_in(laptop, smtp_env, redis_client, count=2)
        laptop.post("/sign-out", data={"_csrf": csrf(laptop, "/inquiries")})
        assert laptop.get("/inquiries", follow_redirects=False).status_code == 303
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 200


def test_removal_from_the_staff_list_ends_sessions(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    session = inbox.cookies[HOST_PREFIX + SESSION_COOKIE]
    browser = inbox.cookies[HOST_PREFIX + BROWSER_COOKIE]
    with client_for(clock, FRONTDESK_STAFF="ops@clinic.example:admin") as restarted:
        restarted.cookies.set(HOST_PREFIX + SESSION_COOKIE, session, domain="inbox.clinic.example")
        restarted.cookies.set(HOST_PREFIX + BROWSER_COOKIE, browser, domain="inbox.clinic.example")
        assert restarted.get("/inquiries", follow_redirects=False).status_code == 303
    assert inbox.get("/inquiries", follow_redirects=False).status_code == 303


def test_every_answer_is_no_store_with_a_strict_csp(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    sign_in(inbox, smtp_env, redis_client)
    for path in ("/sign-in", "/inquiries", "/inquiries/nope", "/static/inbox.css", "/missing"):
        answer = inbox.get(path, follow_redirects=False)
        assert answer.headers["cache-control"] == "no-store", path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_api_viewers_keep_their_own_csp(inbox: TestClient[Any]) -> None:
    from frontdesk.apidocs import CONTENT_SECURITY_POLICY

    viewer = inbox.get("/schema")
    assert viewer.status_code == 200
    assert viewer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert viewer.headers["cache-control"] == "no-store"
    assert "/v1/erasures" in inbox.get("/schema/openapi.json").text


def test_htmx_is_served_unchanged_with_eval_and_indicator_styles_off(
    inbox: TestClient[Any],
) -> None:
    import hashlib
    from pathlib import Path

    vendor = Path("services/inbox/static/vendor/htmx")
    sums = dict(reversed(line.split()) for line in (vendor / "SHA256SUMS").read_text().splitlines())
    served = inbox.get("/static/vendor/htmx/htmx.min.js")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == sums["htmx.min.js"]
    page = inbox.get("/sign-in").text
    assert '"includeIndicatorStyles": false' in page
    assert '"allowEval": false' in page
    assert '<script src="/static/vendor/htmx/htmx.min.js"' in page
    assert "<style" not in page
    assert " style=" not in page


def submit(client: TestClient[Any], form: str = "contact", **fields: str) -> str:
    answer = client.post(f"/v1/forms/{form}/submissions", json={**VISITOR, **fields})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_list_and_detail_show_the_stored_inquiries(
    inbox: TestClient[Any],
    smtp_env: Inbox,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from services.forms.app import create_app as create_forms_app

    with TestClient(create_forms_app(load_settings())) as forms:
        older = submit(
            forms,
            name="Older Visitor",
            _source_url="http://127.0.0.1:8000/knee?x=1",
            _source_title="<b>Knee</b> & back",
            _utm_source="newsletter",
        )
        newer = submit(forms, message="A second, different message")
    caplog.set_level(logging.DEBUG)
    sign_in(inbox, smtp_env, redis_client, count=1)
    smtp_env.wait(3)
    listing = inbox.get("/inquiries?form=contact")
    assert listing.status_code == 200
    assert listing.text.index(newer) < listing.text.index(older)
    detail = inbox.get(f"/inquiries/{older}")
    assert detail.status_code == 200
    assert 'href="tel:+14155550132"' in detail.text
    assert 'href="mailto:canary.visitor@example.com"' in detail.text
    assert "Canary message about my knee" in detail.text
    # Received in the site's time zone (site.yaml), as the list shows it.
    assert "(America/New_York)" in detail.text
    # Where it came from: the page's title (escaped), its address without the query, the utm_*.
    assert "&lt;b&gt;Knee&lt;/b&gt; &amp; back" in detail.text
    assert "http://127.0.0.1:8000/knee<" in detail.text.replace(")", "<")
    assert "utm_source=newsletter" in detail.text
    # Every line of Frontdesk and RQ (the test relay's own protocol log is not ours).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for value in VISITOR.values():
        assert value not in logged


def test_the_link_secret_is_in_no_job_data_record_or_log_line(
    inbox: TestClient[Any],
    smtp_env: Inbox,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ask(inbox)
    # What Redis holds before and after the job ran.
    before = {k: dump(redis_client, k) for k in redis_client.keys("*")}
    link = mailed_link(smtp_env, redis_client)
    after = {k: dump(redis_client, k) for k in redis_client.keys("*")}
    secret = link.rsplit(".", 1)[1].encode()
    assert len(secret) >= 40
    # Used, refused when used again, and refused with a forged mac: the logs stay clean.
    assert inbox.get(local(link), follow_redirects=False).status_code == 303
    assert inbox.get(local(link), follow_redirects=False).status_code == 400
    assert any(k.startswith(b"rq:job:") for k in before)
    for key, value in {**before, **after}.items():
        assert secret not in key
        assert secret not in value, key
    # Every line of the service, the worker and RQ; the test relay's protocol log and the test
    # client's request lines (httpx) are the test's own, not the service's.
    ours = [r for r in caplog.records if r.name not in ("mail.log", "httpx")]
    assert {r.name for r in ours} >= {"frontdesk.worker", "frontdesk.audit"}
    logged = "\n".join(r.getMessage() for r in ours)
    assert secret.decode() not in logged


def dump(connection: redis.Redis, key: bytes) -> bytes:
    kind = connection.type(key)
    if kind == b"string":
        return connection.get(key) or b""
    if kind == b"hash":
        return b"|".join(k + b"=" + v for k, v in connection.hgetall(key).items())
    if kind == b"list":
        return b"|".join(connection.lrange(key, 0, -1))
    if kind == b"set":
        return b"|".join(connection.smembers(key))
    if kind == b"zset":
        return b"|".join(connection.zrange(key, 0, -1))
    return b""


def test_the_list_pages_with_a_cursor_and_htmx_gets_rows_only(
    inbox: TestClient[Any], smtp_env: Inbox, redis_client: redis.Redis
) -> None:
    from services.forms.app import create_app as create_forms_app

    with TestClient(create_forms_app(load_settings())) as forms:
        ids = [submit(forms, message=f"Message number {n}") for n in range(3)]
    sign_in(inbox, smtp_env, redis_client)
    first = inbox.get("/inquiries?form=contact&size=2")
    assert ids[2] in first.text
    assert ids[1] in first.text
    assert ids[0] not in first.text
    older = re.search(r'<tr id="older">.*?hx-get="([^"]+)"', first.text, re.S)
    assert older
    url = older.group(1).replace("&amp;", "&")
    whole = inbox.get(url)
    assert "<html" in whole.text
    assert ids[0] in whole.text
    assert ids[1] not in whole.text
    rows = inbox.get(url, headers={"HX-Request": "true"})
    assert rows.status_code == 200
    assert "<html" not in rows.text
    assert ids[0] in rows.text
    assert 'id="older"' not in rows.text  # the last page
    assert rows.headers["vary"] == "HX-Request"


def test_the_staff_json_api_is_served_by_the_inbox_too(
    smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    token = "inbox-api-token-" + "x" * 32
    with client_for(clock, FRONTDESK_STAFF_TOKENS=f"ops:{token}") as client:
        assert client.get("/v1/forms/contact/submissions").status_code == 401
        answer = client.get(
            "/v1/forms/contact/submissions", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
        assert answer.json()["items"] == []
        assert answer.headers["cache-control"] == "no-store"
        # A session cookie is no bearer token: the JSON API never reads it.
        sign_in(client, smtp_env, redis_client)
        assert client.get("/v1/forms/contact/submissions").status_code == 401


def test_the_worker_mails_no_link_that_expired_in_the_queue(
    smtp_env: Inbox, redis_client: redis.Redis, clock: Clock
) -> None:
    import time

    clock.now = time.time() - 16 * 60  # asked 16 minutes ago; the worker was down since
    with client_for(clock) as client:
        assert ask(client).status_code == 200
    run_jobs(redis_client, load_settings())
    smtp_env.wait(1, timeout=1)
    assert smtp_env.envelopes == []


def test_the_inbox_serves_its_own_icon(inbox: TestClient[Any]) -> None:
    """Every page names /static/favicon.svg, so browsers ask for no /favicon.ico (a 404 each)."""
    page = inbox.get("/sign-in")
    assert 'rel="icon" href="/static/favicon.svg"' in page.text
    icon = inbox.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
