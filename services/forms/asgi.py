"""ASGI entry point of the forms service for the server: ``services.forms.asgi:app_factory``."""

from litestar import Litestar

from frontdesk.settings import load_settings
from services.forms.app import create_app


def app_factory() -> Litestar:
    """The forms app with settings read from the environment."""
    return create_app(load_settings())
