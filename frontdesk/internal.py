"""The internal port of a service: health detail, ``/metrics`` and the staff API, never public.

Each service process answers two ports: the public one (``FRONTDESK_CONTENT_PORT`` /
``FRONTDESK_FORMS_PORT``, the server granian runs) and the internal one
(``FRONTDESK_CONTENT_INTERNAL_PORT`` / ``FRONTDESK_FORMS_INTERNAL_PORT`` on
``FRONTDESK_INTERNAL_HOST``). The internal app runs in the same process and event loop as the public
one — granian's embedded server, started by the public app's startup hook in each worker — so
``/metrics`` sees the request and submission counters of the very process that counted them, and the
content service's health detail reads the site holder that serves the pages.

Every answer of an internal app carries ``Cache-Control: no-store`` (:class:`NoStore`): staff
answers carry patient data, health and metrics are only true at the moment they are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.enums import ScopeType
from litestar.openapi import ResponseSpec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.logging import LogFormat
from frontdesk.settings import Settings

log = logging.getLogger("frontdesk.internal")

NO_STORE = (b"cache-control", b"no-store")


class BareReady(msgspec.Struct):
    """The public ``/health/ready`` body: ``ok`` or ``unavailable``, never why."""

    status: str


def bare_ready(ok: bool) -> Response[BareReady]:
    """The public readiness answer: 200 ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}``
    (``no-store``); the reason is the internal port's ``/health/ready``.
    """
    return Response(
        BareReady("ok" if ok else "unavailable"),
        status_code=200 if ok else 503,
        headers={"Cache-Control": "no-store"},
    )


def bare_ready_responses(reason: str) -> dict[int, ResponseSpec]:
    """The OpenAPI ``responses`` of a public ``/health/ready``: its 503 and ``reason``."""
    return {
        503: ResponseSpec(data_container=BareReady, description=reason, generate_examples=False)
    }


class NoStore:
    """ASGI middleware: every HTTP answer gets ``Cache-Control: no-store`` (replacing any other),
    errors and unrouted 404s included.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; rewrite the headers of the answer's start."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control"
                ]
                message["headers"] = [*headers, NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (TCP). granian listens with ``SO_REUSEPORT``, so a
    second process on the same internal port would share it silently (and answer for another
    stack); ``frontdesk serve`` checks with a plain bind before starting.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def not_experimental(record: logging.LogRecord) -> bool:
    """A ``logging`` filter for granian's logger: drops the embedded server's "experimental" warning,
    logged on every start (known, and not news to ops).
    """
    return "experimental" not in record.getMessage()


class InternalListener:
    """The internal app served on ``host:port`` by granian's embedded server, in the running event
    loop: :meth:`start` from the public app's startup, :meth:`stop` from its shutdown.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        header_read_timeout: float,
        log_level: str,
        log_format: LogFormat = "json",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.header_read_timeout = header_read_timeout
        self.log_level = log_level
        self.log_format = log_format
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the address cannot be bound (the worker then fails
        its startup, and granian stops: a service without its probes' port is not healthy).
        """
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
        from granian.server.embed import Server

        from frontdesk.logging import dict_config

        self._server = Server(
            self.app,
            address=self.host,
            port=self.port,
            # The internal app has no lifespan of its own: the public app's covers the process.
            interface=Interfaces.ASGINL,
            log_access=False,
            # The server applies a logging config of its own: the process's JSON lines, again.
            log_dictconfig=dict_config(self.log_level, self.log_format),
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, int(self.header_read_timeout * 1000))
            ),
        )
        logging.getLogger("_granian").addFilter(not_experimental)
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        # Binding happens in the task's first steps: let it run so a failure surfaces here.
        for _ in range(50):
            await asyncio.sleep(0.01)
            if self._task.done() or self._server.wrks:
                break
        if self._task.done():
            self._task.result()  # raises the bind error
            raise RuntimeError("the internal server stopped at once")
        log.info("internal port listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and wait for the requests in flight (at most 10 s)."""
        if self._server is None or self._task is None:
            return
        self._server.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=10)


def serve_internal(public: Litestar, internal: ASGIApp, port: int, settings: Settings) -> None:
    """Start ``internal`` on ``FRONTDESK_INTERNAL_HOST:port`` with ``public``'s startup and stop
    it first at ``public``'s shutdown (Litestar runs shutdown hooks last to first).
    """
    listener = InternalListener(
        internal,
        settings.internal_host,
        port,
        settings.http_header_read_timeout,
        settings.log_level,
        settings.log_format,
    )
    public.on_startup.append(listener.start)
    public.on_shutdown.append(listener.stop)
