"""ASGI entry point of the forms service for the server: ``services.forms.asgi:app_factory``."""

from litestar import Litestar

from frontdesk.internal import serve_internal
from frontdesk.settings import load_settings
from services.forms.app import create_app
from services.forms.internal import create_internal_app


def app_factory() -> Litestar:
    """The public forms app with settings read from the environment; its startup opens the
    internal port (``FRONTDESK_INTERNAL_HOST:FRONTDESK_FORMS_INTERNAL_PORT``) in the same process,
    reading the same (reloading) forms.
    """
    settings = load_settings()
    app = create_app(settings)
    internal = create_internal_app(settings, app.state.forms.catalog)
    serve_internal(app, internal, settings.forms_internal_port, settings)
    return app
