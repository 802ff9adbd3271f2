"""``frontdesk serve content|forms|inbox``: the production ASGI server (granian) for one service.

With one worker (the default) the service is one process: granian's embedded server runs the app in
this process's event loop, with no launcher process that only waits. With ``--workers N`` (N > 1)
granian's launcher forks N server processes and supervises them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from granian.constants import Interfaces
from granian.http import HTTP1Settings

from frontdesk.internal import not_experimental, port_is_free
from frontdesk.logging import dict_config
from frontdesk.settings import Settings

log = logging.getLogger("frontdesk.serve")


class PortInUse(Exception):
    """The service's internal port is taken (another Frontdesk, or anything else)."""


class ServerStopped(Exception):
    """The app failed its startup or its server stopped without being asked to (logged above)."""


def serve(service: str, target: str, settings: Settings, workers: int = 1) -> None:
    """Run ``service``, whose app factory is ``target`` (``module:function``, named by the CLI, the
    one place that wires services in), on ``FRONTDESK_HOST`` and its port until SIGTERM/SIGINT
    (graceful stop).

    One worker (the default) serves in this process; more are forked (:func:`_serve_forked`). The
    content and forms services' serving process (each, with more workers) also answers the
    service's internal port on ``FRONTDESK_INTERNAL_HOST`` (health detail, metrics, staff API;
    frontdesk/internal.py), opened by the app's startup. Raises :class:`PortInUse` when that port
    is already bound: granian listens with ``SO_REUSEPORT``, so a second stack on the same internal
    port would otherwise share it silently. The inbox has one port, staff-facing as a whole.

    ``SIGHUP`` reloads the site directory in place (pages for the content service, forms and
    ``site.yaml`` for the forms service).

    A client that has not sent its request headers within ``FRONTDESK_HTTP_HEADER_READ_TIMEOUT``
    seconds is disconnected (slowloris); granian's own default is 30 s.
    """
    ports = {
        "content": (settings.content_port, settings.content_internal_port),
        "forms": (settings.forms_port, settings.forms_internal_port),
        # The inbox is staff-facing as a whole: its one port is kept off the internet.
        "inbox": (settings.inbox_port, None),
    }
    port, internal = ports[service]
    if internal is not None and not port_is_free(settings.internal_host, internal):
        raise PortInUse(
            f"the internal port {settings.internal_host}:{internal} of the {service} service is "
            f"in use; set FRONTDESK_{service.upper()}_INTERNAL_PORT"
        )
    options: dict[str, Any] = {
        "address": settings.host,
        "port": port,
        "interface": Interfaces.ASGI,
        "factory": True,
        "log_access": False,
        # The same logging config as this process's (granian applies its own otherwise).
        "log_dictconfig": dict_config(settings.log_level, settings.log_format, service),
        "http1_settings": HTTP1Settings(
            header_read_timeout=max(1, int(settings.http_header_read_timeout * 1000))
        ),
    }
    if workers <= 1:
        _serve_in_process(_factory(target), options)
        return
    # prometheus_client counters live in one process: a scrape would see one worker's share.
    log.warning(
        "%d server processes: /metrics (internal port) shows one of them per scrape; "
        "prefer one process per container and more replicas (docs/operations.md)",
        workers,
    )
    _serve_forked(target, workers, options)


def _factory(target: str) -> Callable[[], Any]:
    """The app factory named ``module:function``."""
    module, _, name = target.partition(":")
    factory: Callable[[], Any] = getattr(importlib.import_module(module), name)
    return factory


def _serve_in_process(factory: Callable[[], Any], options: dict[str, Any]) -> None:
    """Serve ``factory()``'s app with granian's embedded server in this process until SIGTERM or
    SIGINT (then the app's shutdown runs and requests in flight finish). Raises
    :class:`ServerStopped` when the app's startup failed or the server ended on its own, so that the
    process exits non-zero and its supervisor restarts it, as granian's launcher exits 1 then.

    The event loop is granian's choice for its own workers (uvloop when installed, else asyncio).
    ``SIGHUP`` is the app's: each service's startup installs its reload handler; until it has, a
    ``SIGHUP`` is logged and ignored instead of ending the process.
    """
    from granian import loops
    from granian.errors import FatalError
    from granian.server.embed import Server

    logging.getLogger("_granian").addFilter(not_experimental)
    server = Server(factory, **options)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, server.stop)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: log.info("SIGHUP before the app started: ignored")
        )
        await server.serve()

    loop = loops.get("auto")
    try:
        loop.run_until_complete(main())
    except FatalError as exc:  # the app's startup failed; granian logged why
        raise ServerStopped(f"the app did not start ({exc})") from None
    finally:
        loop.close()
    if server.interrupt_children:
        raise ServerStopped("the server stopped on an error (logged above)")
    log.info("shutdown completed")


def _serve_forked(target: str, workers: int, options: dict[str, Any]) -> None:
    """Serve ``target`` in ``workers`` processes forked and supervised by granian's launcher.

    ``SIGHUP`` goes to each worker (each reloads in place and keeps the last good version of what is
    bad: the content its pages, the forms service its forms and ``site.yaml``) instead of granian's
    respawn, which would start a worker with none. Free-threaded builds use granian's thread server:
    workers share the process, nothing to forward.
    """
    from granian import Granian
    from granian.server import MPServer

    class ReloadInPlace(MPServer):
        def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
            for worker in list(getattr(self, "wrks", [])):
                pid = getattr(getattr(worker, "inner", None), "pid", None)
                if pid:
                    os.kill(pid, signal.SIGHUP)

    server = ReloadInPlace if Granian is MPServer else Granian
    server(target, workers=workers, **options).serve()
