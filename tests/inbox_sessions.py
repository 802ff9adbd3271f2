"""Signed-in inbox clients for tests that are not about signing in.

:func:`staff_client` builds the inbox app for the current ``FRONTDESK_*`` environment (the ``env``
fixture), opens a session for an address through the app's own session code (as a used sign-in
link does) and hands back a Litestar ``TestClient`` holding the browser and session cookies, plus
the CSRF token of that browser and session (read from a page after the session cookie is set: the
token is bound to both). Tests of signing in itself use the mailed link
(tests/service/test_inbox.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from litestar.testing import TestClient

from frontdesk.settings import load_settings
from services.inbox import sessions
from services.inbox.app import create_app
from services.inbox.sessions import SESSION_COOKIE, cookie_name
from services.inbox.state import InboxState

INBOX_ORIGIN = "https://inbox.clinic.example"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


class StaffClient:
    """A signed-in browser: ``client`` (its cookies set), ``csrf`` (its token) and ``state``."""

    def __init__(self, client: TestClient[Any], csrf: str, state: InboxState) -> None:
        self.client = client
        self.csrf = csrf
        self.state = state

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """POST a url-encoded form with this browser's CSRF token; no redirects followed."""
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data={**(data or {}), "_csrf": self.csrf}, **kwargs)


@contextmanager
def staff_client(
    address: str, clock: Callable[[], float] | None = None, **env: str
) -> Iterator[StaffClient]:
    """A client signed in as ``address`` (which must be in ``FRONTDESK_STAFF``); ``env`` overrides
    ``FRONTDESK_*`` values; ``clock`` is the app's clock (Unix seconds).
    """
    import os

    values = {k: v for k, v in os.environ.items() if k.startswith("FRONTDESK_")}
    values.setdefault("FRONTDESK_INBOX_URL", INBOX_ORIGIN)
    settings = load_settings({**values, **env})
    app = create_app(settings, clock) if clock is not None else create_app(settings)
    with TestClient(app, base_url=settings.inbox_url) as client:
        state: InboxState = app.state.inbox
        client.get("/sign-in")  # a browser id
        session_id = client.blocking_portal.call(sessions.open_session, state, address)
        client.cookies.set(cookie_name(state, SESSION_COOKIE), session_id)
        page = client.get("/sign-in")
        found = _CSRF.search(page.text)
        assert found, page.text
        yield StaffClient(client, found.group(1), state)
