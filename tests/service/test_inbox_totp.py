"""Inbox accounts: two-step sign-in (TOTP), its throttle and reset; cookie names; CSRF and
session ids renewed at sign-in.

Real Redis, a real SMTP server and the real sign-in job (tests/service/test_inbox.py's fixtures);
codes come from pyotp at the app's clock, which the tests move: no sleeps.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
import pyotp
import pytest
import redis
from litestar.testing import TestClient

from frontdesk.submissions.audit import read_audit
from frontdesk.submissions.keys import totp_key
from services.inbox.sessions import BROWSER_COOKIE, HOST_PREFIX, PENDING_COOKIE, SESSION_COOKIE
from services.inbox.twostep import seal, unseal
from tests.conftest import Inbox
from tests.inbox_sessions import staff_client
from tests.service.test_inbox import DESK, Clock, ask, client_for, csrf, local

ADMIN = "ops@clinic.example"
STRICT = "strict@clinic.example"
SECRET_SHOWN = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def staff_env(
    env: dict[str, str], smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    inbox, port = smtp_server
    monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
    monkeypatch.setenv(
        "FRONTDESK_STAFF",
        f"{DESK}:responder,nurse@clinic.example:reader,{ADMIN}:admin,{STRICT}:reader:totp",
    )
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    return inbox


class Browser:
    """One browser on the inbox, signing in by mailed links (counted across the test)."""

    def __init__(self, client: TestClient[Any], smtp: Inbox, redis_client: redis.Redis) -> None:
        self.mails = len(smtp.envelopes)
        self.client = client
        self.smtp = smtp
        self.redis = redis_client

    def use_link(self, address: str = DESK) -> Any:
        assert ask(self.client, address).status_code == 200
        self.mails += 1
        link = mailed_link_to(self.smtp, self.redis, address, self.mails)
        return self.client.get(local(link), follow_redirects=False)

    def signed_in(self) -> bool:
        return self.client.get("/inquiries", follow_redirects=False).status_code == 200

    def post(self, path: str, data: dict[str, str] | None = None, page: str = "/account") -> Any:
        token = csrf(self.client, page)
        return self.client.post(path, data={**(data or {}), "_csrf": token}, follow_redirects=False)

    def enrol(self, clock: Clock) -> str:
        """Turn two-step sign-in on from the account page; returns the secret."""
        assert self.post("/account/totp").status_code == 303
        page = self.client.get("/account").text
        shown = SECRET_SHOWN.search(page)
        assert shown, page
        secret = shown.group(1).replace(" ", "")
        assert "otpauth://totp/" in page
        assert self.post("/account/totp/confirm", {"code": code(secret, clock)}).status_code == 303
        assert "is <strong>on</strong>" in self.client.get("/account").text
        return secret

    def enter(self, value: str) -> Any:
        return self.post("/sign-in/code", {"code": value}, page="/sign-in/code")


def mailed_link_to(smtp: Inbox, redis_client: redis.Redis, address: str, count: int) -> str:
    from frontdesk.settings import load_settings
    from tests.service.test_worker_delivery import run_jobs

    run_jobs(redis_client, load_settings())
    smtp.wait(count)
    body = smtp.messages()[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert smtp.envelopes[-1].rcpt_tos == [address]
    found = re.search(r"(https?://\S+/sign-in/link\?token=\S+)", body)
    assert found, body
    return found.group(1)


def code(secret: str, clock: Clock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(clock.now), counter_offset=steps)


@pytest.fixture
def browser(staff_env: Inbox, redis_client: redis.Redis, clock: Clock) -> Any:
    with client_for(clock) as client:
        yield Browser(client, staff_env, redis_client)


def enrolled(browser: Browser, clock: Clock) -> str:
    """Sign ``browser`` in as DESK, enrol, sign out; the secret."""
    assert browser.use_link().status_code == 303
    secret = browser.enrol(clock)
    assert browser.post("/sign-out", page="/inquiries").status_code == 303
    clock.now += 30  # the confirming code's step is used up
    return secret


def test_enrol_then_sign_in_with_the_link_and_a_code(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    answer = browser.use_link()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in/code"
    # A pending sign-in, not a session.
    assert HOST_PREFIX + PENDING_COOKIE in browser.client.cookies
    assert "session" not in answer.headers["set-cookie"]
    assert not browser.signed_in()
    done = browser.enter(code(secret, clock))
    assert done.status_code == 303
    assert done.headers["location"] == "/inquiries"
    assert browser.signed_in()
    entries = [e for e in read_audit(browser.redis) if e.action == "totp"]
    assert [(e.actor, e.action, e.detail) for e in entries] == [(DESK, "totp", "on")]


def test_a_code_one_step_off_is_accepted(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    assert browser.enter(code(secret, clock, steps=1)).status_code == 303


def test_a_wrong_code_is_refused(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    right = code(secret, clock)
    for wrong in (
        "000000" if right != "000000" else "111111",
        code(secret, clock, 5),
        "12345",
        "x",
    ):
        answer = browser.enter(wrong)
        assert answer.status_code == 400
        assert "not right" in answer.text
        assert not browser.signed_in()
    assert browser.enter(right).status_code == 303


def test_a_replayed_code_is_refused(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    used = code(secret, clock)
    browser.use_link()
    assert browser.enter(used).status_code == 303
    browser.post("/sign-out", page="/inquiries")
    clock.now += 20  # maybe the same step, maybe the next: the code is still in the window
    browser.use_link()
    assert browser.enter(used).status_code == 400
    # The step before a used one is refused too; a later one works.
    assert browser.enter(code(secret, clock, -1)).status_code == 400
    assert browser.enter(code(secret, clock, 1)).status_code == 303


def test_wrong_codes_are_throttled_per_address(
    staff_env: Inbox,
    redis_client: redis.Redis,
    clock: Clock,
) -> None:
    with client_for(clock, FRONTDESK_INBOX_TOTP_FAILURES="3") as client:
        browser = Browser(client, staff_env, redis_client)
        secret = enrolled(browser, clock)
        browser.use_link()
        for _ in range(3):
            wrong = "999999" if code(secret, clock) != "999999" else "999998"
            assert browser.enter(wrong).status_code == 400
        refused = browser.enter(code(secret, clock))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert not browser.signed_in()
        # The window ends: a new link and a right code sign in.
        clock.now += 15 * 60
        browser.use_link()
        assert browser.enter(code(secret, clock)).status_code == 303
        assert browser.signed_in()


def test_the_pending_sign_in_expires_after_five_minutes(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    clock.now += 5 * 60 + 1
    answer = browser.enter(code(secret, clock))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    assert not browser.signed_in()
    assert browser.client.get("/sign-in/code", follow_redirects=False).status_code == 303


def test_a_pending_sign_in_works_in_its_browser_only(
    browser: Browser,
    clock: Clock,
) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    pending = browser.client.cookies[HOST_PREFIX + PENDING_COOKIE]
    with client_for(clock) as other:
        other.get("/sign-in")
        other.cookies.set(HOST_PREFIX + PENDING_COOKIE, pending, domain="inbox.clinic.example")
        token = csrf(other)
        answer = other.post("/sign-in/code", data={"code": code(secret, clock), "_csrf": token})
        assert answer.status_code == 200  # followed to the sign-in page
        assert other.get("/inquiries", follow_redirects=False).status_code == 303


def test_a_required_account_is_sent_to_enrol(
    browser: Browser,
    clock: Clock,
) -> None:
    answer = browser.use_link(STRICT)
    assert answer.headers["location"] == "/sign-in/code"
    assert not browser.signed_in()
    page = browser.client.get("/sign-in/code").text
    shown = SECRET_SHOWN.search(page)
    assert shown, page
    secret = shown.group(1).replace(" ", "")
    assert browser.enter(code(secret, clock)).status_code == 303
    assert browser.signed_in()
    assert browser.redis.hget(totp_key(STRICT), "on") == b"1"
    # It cannot be turned off while required.
    clock.now += 30
    refused = browser.post("/account/totp/off", {"code": code(secret, clock)})
    assert refused.status_code == 400
    assert browser.redis.hget(totp_key(STRICT), "on") == b"1"


def test_a_session_of_a_required_account_without_two_step_ends(
    staff_env: Inbox,
    redis_client: redis.Redis,
    clock: Clock,
) -> None:
    with staff_client(STRICT, clock) as strict:
        assert strict.client.get("/inquiries", follow_redirects=False).status_code == 303


def test_turning_off_needs_a_right_code(browser: Browser, clock: Clock) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    browser.enter(code(secret, clock))
    clock.now += 30
    assert browser.post("/account/totp/off", {"code": "12x456"}).status_code == 400
    assert browser.post("/account/totp/off", {"code": code(secret, clock)}).status_code == 303
    assert browser.redis.exists(totp_key(DESK)) == 0
    details = [e.detail for e in read_audit(browser.redis) if e.action == "totp"]
    assert details == ["off", "on"]
    browser.post("/sign-out", page="/inquiries")
    assert browser.use_link().headers["location"] == "/inquiries"


def test_an_admin_resets_a_members_two_step_sign_in(
    browser: Browser,
    clock: Clock,
) -> None:
    secret = enrolled(browser, clock)
    browser.use_link()
    browser.enter(code(secret, clock))
    with staff_client("nurse@clinic.example", clock) as nurse:
        # A valid session and CSRF token, but a reader may not.
        answer = nurse.post("/account/totp/reset", {"address": DESK})
        assert answer.status_code == 403
    assert browser.redis.hget(totp_key(DESK), "on") == b"1"
    with staff_client(ADMIN, clock) as admin:
        assert "Reset (lost phone)" in admin.client.get("/account").text
        assert admin.post("/account/totp/reset", {"address": "x@example.com"}).status_code == 400
        answer = admin.post("/account/totp/reset", {"address": DESK})
        assert answer.status_code == 303
        without = admin.client.post("/account/totp/reset", data={"address": DESK})
        assert without.status_code == 403  # no CSRF token
    assert browser.redis.exists(totp_key(DESK)) == 0
    assert not browser.signed_in()  # the member's sessions ended
    entries = read_audit(browser.redis)
    # The entry names whose two-step sign-in was reset (a staff address, not visitor data): the
    # audit log is where an admin's reset of a colleague's second factor is accounted for.
    assert (entries[0].actor, entries[0].action, entries[0].detail) == (
        ADMIN,
        "totp",
        f"reset:{DESK}",
    )
    assert browser.use_link().headers["location"] == "/inquiries"


def test_no_secret_or_code_in_any_log_line_audit_entry_or_redis_value(
    browser: Browser,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = enrolled(browser, clock)
    codes = [code(secret, clock, -1), code(secret, clock), "000001"]
    browser.use_link()
    for value in codes[::-1]:
        browser.enter(value)
    assert browser.signed_in()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name not in ("httpx",))
    audit = msgspec.json.encode(read_audit(browser.redis)).decode()
    assert "frontdesk.audit" in {r.name for r in caplog.records}
    for value in (secret, *codes):
        assert value not in logged
        assert value not in audit
    for key in browser.redis.keys("*"):
        if browser.redis.type(key) == b"hash":
            stored = b"".join(browser.redis.hgetall(key).values())
        elif browser.redis.type(key) == b"string":
            stored = browser.redis.get(key) or b""
        else:
            continue
        assert secret.encode() not in stored, key


def test_a_sealed_secret_opens_only_unaltered_and_with_its_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    sealed = seal(key, b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert b"JBSW" not in sealed
    assert seal(key, b"same") != seal(key, b"same")  # a fresh nonce each time
    assert unseal(key, sealed) == b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with pytest.raises(ValueError, match="does not verify"):
        unseal(other, sealed)
    flipped = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    with pytest.raises(ValueError, match="does not verify"):
        unseal(key, flipped)
    with pytest.raises(ValueError, match="does not verify"):
        unseal(key, sealed[:10])


# Cookies, CSRF and session ids at sign-in.


def test_https_cookies_have_the_host_prefix(browser: Browser) -> None:
    answer = browser.use_link()
    headers = answer.headers.get_list("set-cookie")
    names = {h.split("=", 1)[0] for h in headers}
    assert names == {HOST_PREFIX + n for n in (SESSION_COOKIE, BROWSER_COOKIE, PENDING_COOKIE)}
    for header in headers:
        lowered = header.lower()
        assert "; secure" in lowered
        assert "path=/" in lowered
        assert "domain" not in lowered
        assert "httponly" in lowered


def test_http_cookies_keep_plain_names(
    staff_env: Inbox,
    redis_client: redis.Redis,
    clock: Clock,
) -> None:
    with client_for(clock, FRONTDESK_INBOX_URL="http://127.0.0.1:8003") as client:
        header = client.get("/sign-in").headers["set-cookie"]
        assert header.startswith(BROWSER_COOKIE + "=")
        assert "secure" not in header.lower()
        # A __Host- cookie sent to a plain-http inbox is not its cookie.
        client.cookies.set(HOST_PREFIX + SESSION_COOKIE, "x")
        assert client.get("/inquiries", follow_redirects=False).status_code == 303


def test_a_csrf_token_from_before_sign_in_is_refused_after_it(browser: Browser) -> None:
    before = csrf(browser.client)
    assert browser.use_link().status_code == 303
    assert browser.signed_in()
    refused = browser.client.post("/sign-out", data={"_csrf": before}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.signed_in()
    assert browser.post("/sign-out", page="/inquiries").status_code == 303
    assert not browser.signed_in()


def test_sign_in_renews_the_browser_and_session_ids(browser: Browser, clock: Clock) -> None:
    browser.client.get("/sign-in")
    browser_before = browser.client.cookies[HOST_PREFIX + BROWSER_COOKIE]
    browser.use_link()
    first = browser.client.cookies[HOST_PREFIX + SESSION_COOKIE]
    assert browser.client.cookies[HOST_PREFIX + BROWSER_COOKIE] != browser_before
    # Signing in again in the same browser: a new session id, and the old one is ended.
    browser.use_link()
    second = browser.client.cookies[HOST_PREFIX + SESSION_COOKIE]
    assert second != first
    with client_for(clock) as thief:
        thief.cookies.set(HOST_PREFIX + SESSION_COOKIE, first, domain="inbox.clinic.example")
        assert thief.get("/inquiries", follow_redirects=False).status_code == 303
    assert browser.signed_in()


def test_the_qr_code_is_an_svg_of_the_enrolment_only(browser: Browser, clock: Clock) -> None:
    assert browser.client.get("/account/totp/qr.svg", follow_redirects=False).status_code == 303
    browser.use_link()
    assert browser.client.get("/account/totp/qr.svg").status_code == 404  # nothing enrolling
    browser.post("/account/totp")
    assert '<img src="/account/totp/qr.svg"' in browser.client.get("/account").text
    qr = browser.client.get("/account/totp/qr.svg")
    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.headers["cache-control"] == "no-store"
    assert qr.text.startswith("<svg")
    assert "<script" not in qr.text
    assert "style" not in qr.text
    # A pending sign-in that must enrol has its own; one that need not gets none.
    with client_for(clock) as other:
        strict = Browser(other, browser.smtp, browser.redis)
        strict.mails = browser.mails
        strict.use_link(STRICT)
        assert '<img src="/sign-in/code/qr.svg"' in other.get("/sign-in/code").text
        assert other.get("/sign-in/code/qr.svg").headers["content-type"].startswith("image/svg")
        browser.mails = strict.mails
    page = browser.client.get("/account").text
    secret = (SECRET_SHOWN.search(page) or pytest.fail(page)).group(1).replace(" ", "")
    browser.post("/account/totp/confirm", {"code": code(secret, clock)})
    assert browser.client.get("/account/totp/qr.svg").status_code == 404
    browser.post("/sign-out", page="/inquiries")
    clock.now += 30
    browser.use_link()
    assert browser.client.get("/sign-in/code/qr.svg").status_code == 404
