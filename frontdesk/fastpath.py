"""A Litestar app with a fast path in front of its routing.

Each service answers its hot requests on a *fast path*, an ASGI app in front of Litestar's
routing: the content service its public reads of prepared bodies (services/content/fastpath.py),
the forms service its submissions (services/forms/fastpath.py). What the fast path does not take
goes the *routed path*: Litestar's routing, middleware and handlers (:meth:`FastPathApp.routed`).
Both paths answer a request the same way: they call the same functions, and tests send each
request both ways and compare.

The fast path also carries what must see every HTTP request: Litestar runs app middleware only
after a route matched, so answers it gives before that (404 of an unknown path, 405 of a method a
path does not take) never pass it. The request id (and the content service's CORS headers) are
therefore set around :meth:`~FastPathApp.routed` in :attr:`~FastPathApp.fast_path`; an app with
no fast answers of its own (the internal ports) has only those there.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp


class FastPathApp(Litestar):
    """A Litestar app whose HTTP requests go through :attr:`fast_path` (set by its app factory,
    wrapping :meth:`routed`); lifespan events (and any other scope) go to Litestar directly.
    """

    fast_path: ASGIApp

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry point: HTTP through :attr:`fast_path`, the rest to Litestar."""
        if scope["type"] == "http":
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def routed(self, scope: Any, receive: Any, send: Any) -> None:
        """The routed path: Litestar's routing, middleware and handlers."""
        await super().__call__(scope, receive, send)
