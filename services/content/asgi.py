"""ASGI entry point of the content service for the server: ``services.content.asgi:app_factory``."""

from frontdesk.internal import serve_internal
from frontdesk.settings import load_settings
from services.content.app import ContentApp, create_app, create_internal_app


def app_factory() -> ContentApp:
    """The public content app with settings read from the environment; its startup opens the
    internal port (``FRONTDESK_INTERNAL_HOST:FRONTDESK_CONTENT_INTERNAL_PORT``) in the same process,
    reading the same site holder.
    """
    settings = load_settings()
    app = create_app(settings)
    serve_internal(
        app,
        create_internal_app(settings, app.state.holder),
        settings.content_internal_port,
        settings,
    )
    return app
