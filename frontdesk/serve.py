"""``frontdesk serve content|forms``: the production ASGI server (granian) for one service."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces

from frontdesk.logging import dict_config
from frontdesk.settings import Settings

TARGETS = {
    "content": "services.content.asgi:app_factory",
    "forms": "services.forms.asgi:app_factory",
}


def serve(service: str, settings: Settings, workers: int = 1) -> None:
    """Run ``service`` on ``FRONTDESK_HOST`` and its port until SIGTERM/SIGINT (graceful stop)."""
    port = settings.content_port if service == "content" else settings.forms_port
    Granian(
        TARGETS[service],
        address=settings.host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        log_access=False,
        # Applied in granian's worker processes too: the app's lines are JSON there as well.
        log_dictconfig=dict_config(settings.log_level),
    ).serve()
