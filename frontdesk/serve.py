"""``frontdesk serve content|forms``: the production ASGI server (granian) for one service."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

from frontdesk.settings import Settings

TARGETS = {
    "content": "services.content.asgi:app_factory",
    "forms": "services.forms.asgi:app_factory",
}


def serve(service: str, settings: Settings, workers: int = 1) -> None:
    """Run ``service`` on ``FRONTDESK_HOST`` and its port until SIGTERM/SIGINT (graceful stop).

    A client that has not sent its request headers within ``FRONTDESK_HTTP_HEADER_READ_TIMEOUT``
    seconds is disconnected (slowloris); granian's own default is 30 s.
    """
    port = settings.content_port if service == "content" else settings.forms_port
    Granian(
        TARGETS[service],
        address=settings.host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        log_access=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, int(settings.http_header_read_timeout * 1000))
        ),
    ).serve()
