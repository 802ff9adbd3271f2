"""``frontdesk serve content|forms|inbox``: the production ASGI server (granian) for one service."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.server import MPServer

from frontdesk.internal import port_is_free
from frontdesk.logging import dict_config
from frontdesk.settings import Settings

log = logging.getLogger("frontdesk.serve")

TARGETS = {
    "content": "services.content.asgi:app_factory",
    "forms": "services.forms.asgi:app_factory",
    "inbox": "services.inbox.asgi:app_factory",
}


class _ReloadInPlace(MPServer):
    """Granian whose ``SIGHUP`` is passed on to the workers instead of respawning them.

    Both services reload the site on ``SIGHUP`` inside each worker (the content its pages, the
    forms service its forms and ``site.yaml``) and keep the last good version of what is bad; a
    respawned worker would have none.
    """

    def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
        for worker in list(getattr(self, "wrks", [])):
            pid = getattr(getattr(worker, "inner", None), "pid", None)
            if pid:
                os.kill(pid, signal.SIGHUP)


class PortInUse(Exception):
    """The service's internal port is taken (another Frontdesk, or anything else)."""


def serve(service: str, settings: Settings, workers: int = 1) -> None:
    """Run ``service`` on ``FRONTDESK_HOST`` and its port until SIGTERM/SIGINT (graceful stop).

    The content and forms services' worker processes also answer the service's internal port on
    ``FRONTDESK_INTERNAL_HOST`` (health detail, metrics, staff API; frontdesk/internal.py), opened
    by the app's startup. Raises :class:`PortInUse` when that port is already bound: granian
    listens with ``SO_REUSEPORT``, so a second stack on the same internal port would otherwise
    share it silently.

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
    if workers > 1:
        # prometheus_client counters live in one process: a scrape would see one worker's share.
        log.warning(
            "%d server processes: /metrics (internal port) shows one of them per scrape; "
            "prefer one process per container and more replicas (docs/operations.md)",
            workers,
        )
    # Free-threaded builds use granian's thread server: workers share the process, no forwarding.
    server = _ReloadInPlace if Granian is MPServer else Granian
    server(
        TARGETS[service],
        address=settings.host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        log_access=False,
        # Applied in granian's worker processes too: the app's lines are JSON there as well.
        log_dictconfig=dict_config(settings.log_level, settings.log_format, service),
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, int(settings.http_header_read_timeout * 1000))
        ),
    ).serve()
