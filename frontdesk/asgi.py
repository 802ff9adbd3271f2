"""What the plain ASGI middleware of the services share: HTTP only, and headers added to the answer.

:class:`HttpMiddleware` passes every other scope (lifespan, websocket) to the wrapped app as it
is and hands HTTP requests to the subclass's :meth:`~HttpMiddleware.http`;
:func:`editing_start` wraps ``send`` so that the headers of ``http.response.start`` go through one
function (the body messages pass unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]


class HttpMiddleware:
    """ASGI middleware around ``app`` that acts on HTTP requests only (:meth:`http`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP to :meth:`http`; any other scope straight to ``app``."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request, usually by calling ``self.app``."""
        raise NotImplementedError


def editing_start(send: Send, edit: Callable[[Iterable[tuple[bytes, bytes]]], Headers]) -> Send:
    """``send`` with the headers of the answer's ``http.response.start`` replaced by
    ``edit(headers)`` (ASGI ``(name, value)`` byte pairs; ``edit`` returns a new list).
    """

    async def send_edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = edit(message.get("headers", []))
        await send(message)

    return send_edited
