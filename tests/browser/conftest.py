"""The stack a browser test drives: content, forms (and a second forms process whose Redis is a dead
port, for 503s), the worker, the staff inbox, a real aiosmtpd server, and a static file server for a copy of
``examples/static-site`` whose API URLs point at these processes. Chromium is the system one
(``/usr/bin/chromium``), driven by Playwright; no browser is ever downloaded.

The site and the clinic site directory are copied so the static server can use a free port: the copy
of ``forms/contact.yaml`` allows that origin and ``site.yaml``'s ``base_url`` names it (the 303s).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, sync_playwright

from frontdesk.submissions.keys import form_index_key
from tests.browser.csp import CspGuard
from tests.conftest import (
    ROOT,
    TEST_REDIS_URL,
    Inbox,
    clinic_site_copy,
    flushed_test_db,
    free_port,
    running_inbox,
)
from tests.processes import FRONTDESK, PYTHON, Processes, frontdesk_env, wait_http

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-results" / "browser"
STATIC_SITE = ROOT / "examples" / "static-site"
SECRET = "browser-tests-secret-key-0123456789abcdef"
STAFF = {
    "desk@clinic.example": "responder",
    "front@clinic.example": "responder",
    "reader@clinic.example": "reader",
    "dpo@clinic.example": "admin",
}
"""The inbox's staff in browser tests: address → role."""


class BrowserStack:
    """The running processes and where they listen; ``site`` is the static site's origin."""

    def __init__(self, tmp: Path, smtp_port: int) -> None:
        self.content_port, self.forms_port, self.dead_forms_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        self.site_port, self.inbox_port = free_port(), free_port()
        self.inbox = f"http://127.0.0.1:{self.inbox_port}"
        self.site = f"http://127.0.0.1:{self.site_port}"
        self.content = f"http://127.0.0.1:{self.content_port}"
        self.forms = f"http://127.0.0.1:{self.forms_port}"
        self.dead_forms = f"http://127.0.0.1:{self.dead_forms_port}"
        self.tmp = tmp
        self.processes = Processes(tmp / "logs")
        self.site_dir = self._copy_site_dir()
        self.static_dir = self._copy_static_site()
        self.env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
                "FRONTDESK_SITE_DIR": str(self.site_dir),
                "FRONTDESK_CONTENT_PORT": str(self.content_port),
                "FRONTDESK_FORMS_PORT": str(self.forms_port),
                "FRONTDESK_FORMS_PUBLIC_URL": self.forms,
                "FRONTDESK_SMTP_PORT": str(smtp_port),
                "FRONTDESK_RETRY_BASE_SECONDS": "1",
                # Many submissions from one IP within a minute: the limits are not under test here.
                "FRONTDESK_RATE_LIMITS": "off",
                # Tokens must not need Redis: the dead-Redis forms process still hands them out.
                "FRONTDESK_SECRET_KEY": SECRET,
                "FRONTDESK_INBOX_PORT": str(self.inbox_port),
                "FRONTDESK_INBOX_URL": self.inbox,
                "FRONTDESK_STAFF": ",".join(f"{a}:{r}" for a, r in STAFF.items()),
                # Each test signs staff in afresh: the sign-in throttle is not under test here.
                "FRONTDESK_INBOX_SIGN_IN_PER_ADDRESS_HOUR": "1000",
                "FRONTDESK_INBOX_SIGN_IN_PER_CLIENT_HOUR": "1000",
            }
        )

    def _copy_site_dir(self) -> Path:
        # The tests read the staff email's fields: a full one (the clinic's sends a summary).
        target = clinic_site_copy(self.tmp / "clinic-site")
        for name in ("site.yaml", "forms/contact.yaml"):
            path = target / name
            path.write_text(path.read_text().replace("http://127.0.0.1:8000", self.site))
        return target

    def _copy_static_site(self) -> Path:
        """The site at ``/`` talks to the live forms process; the copy under ``/dead/`` to the one
        whose Redis is gone (same origin, so CORS and the allowed origins are the same)."""
        target = self.tmp / "static-site"
        shutil.copytree(STATIC_SITE, target)
        shutil.copytree(STATIC_SITE, target / "dead")
        # The script hosted with the site, not by the API: the form names the API itself.
        shutil.copy(ROOT / "services" / "forms" / "static" / "frontdesk.js", target)
        minimal = (target / "minimal.html").read_text()
        (target / "self-hosted.html").write_text(
            minimal.replace(
                'data-frontdesk-form="contact"',
                'data-frontdesk-form="contact" data-frontdesk-api="http://127.0.0.1:8002"',
            ).replace('src="http://127.0.0.1:8002/embed/frontdesk.js"', 'src="frontdesk.js"')
        )
        for page in target.rglob("*.html"):
            forms = self.dead_forms if page.parent.name == "dead" else self.forms
            text = page.read_text()
            text = text.replace("http://127.0.0.1:8001", self.content)
            text = text.replace("http://127.0.0.1:8002", forms)
            page.write_text(text)
        return target

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> None:
        self.processes.start(name, list(argv), env or self.env)

    def up(self) -> None:
        frontdesk = FRONTDESK
        dead_env = {
            **self.env,
            "FRONTDESK_FORMS_PORT": str(self.dead_forms_port),
            "FRONTDESK_FORMS_INTERNAL_PORT": str(free_port()),
            # Nothing listens there: every store attempt fails, so submissions answer 503.
            "FRONTDESK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        }
        self.start("content", frontdesk, "serve", "content")
        self.start("forms", frontdesk, "serve", "forms")
        self.start("forms-dead-redis", frontdesk, "serve", "forms", env=dead_env)
        self.start("worker", frontdesk, "worker")
        self.start("inbox", frontdesk, "serve", "inbox")
        self.start(
            "site",
            PYTHON,
            "-m",
            "http.server",
            str(self.site_port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(self.static_dir),
        )
        wait_http(f"{self.content}/health/live")
        wait_http(f"{self.forms}/health/ready")
        wait_http(f"{self.dead_forms}/health/live")
        wait_http(f"{self.site}/index.html")
        wait_http(f"{self.inbox}/health/ready")

    def down(self) -> None:
        self.processes.stop()


@pytest.fixture(scope="module")
def module_redis() -> Iterator[redis.Redis]:
    """The test database, flushed once for the module (the processes keep running across tests)."""
    with flushed_test_db() as client:
        yield client


@pytest.fixture(scope="module")
def mail_server() -> Iterator[tuple[Inbox, int]]:
    """A real aiosmtpd server for the module's worker: ``(inbox, port)``."""
    with running_inbox() as server:
        yield server


@pytest.fixture
def inbox(mail_server: tuple[Inbox, int]) -> Inbox:
    """The module's inbox, emptied for this test."""
    mail_server[0].envelopes.clear()
    return mail_server[0]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    module_redis: redis.Redis,
    mail_server: tuple[Inbox, int],
) -> Iterator[BrowserStack]:
    running = BrowserStack(tmp_path_factory.mktemp("browser"), mail_server[1])
    try:
        running.up()
        yield running
    finally:
        running.down()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context; a screenshot of the final state lands in ``test-results/browser``."""
    context = browser.new_context(
        java_script_enabled=not request.node.get_closest_marker("no_javascript")
    )
    opened = context.new_page()
    try:
        yield opened
    finally:
        form = opened.locator("#get-in-touch")
        whole = request.node.get_closest_marker("full_page") is not None or form.count() == 0
        if not whole:
            form.scroll_into_view_if_needed()
        screenshot(opened, request.node.name, full_page=whole)
        context.close()


@pytest.fixture
def csp() -> Iterator[CspGuard]:
    """A :class:`CspGuard` for the test's contexts (``csp.watch(context)``): any Content Security
    Policy violation or page error they report fails the test at teardown."""
    guard = CspGuard()
    yield guard
    guard.assert_none()


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Save what ``page`` shows as ``test-results/browser/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    page.screenshot(path=str(SCREENSHOTS / f"{safe}.png"), full_page=full_page)


def stored(client: redis.Redis, form: str = "contact") -> int:
    """How many submissions of ``form`` the store holds."""
    return int(client.zcard(form_index_key(form)))
