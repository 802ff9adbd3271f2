"""A Litestar app with an entry in front of its routing, for what must see every HTTP request.

Litestar runs app middleware only after a route matched, so answers it gives before that (404 of an
unknown path, 405 of a method a path does not take) never pass it. Both services need something
on every request — the forms service the request id, the content service its front door
(services/content/front.py) with the request id and CORS behind it — so each is an
:class:`EntryApp` whose :attr:`~EntryApp.entry` is set by its app factory and wraps
:meth:`~EntryApp.routed`, Litestar's own handling.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp


class EntryApp(Litestar):
    """A Litestar app whose HTTP requests go through :attr:`entry`; lifespan events (and any
    other scope) go to Litestar directly.
    """

    entry: ASGIApp

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry: HTTP through :attr:`entry`, the rest to Litestar."""
        if scope["type"] == "http":
            await self.entry(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def routed(self, scope: Any, receive: Any, send: Any) -> None:
        """Litestar's routing, middleware and handlers."""
        await super().__call__(scope, receive, send)
