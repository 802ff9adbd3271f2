"""ASGI entry point of the content service for the server: ``services.content.asgi:app_factory``."""

from litestar import Litestar

from frontdesk.settings import load_settings
from services.content.app import create_app


def app_factory() -> Litestar:
    """The content app with settings read from the environment."""
    return create_app(load_settings())
