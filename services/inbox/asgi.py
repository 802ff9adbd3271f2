"""ASGI entry point of the inbox for the server: ``services.inbox.asgi:app_factory``."""

from litestar import Litestar

from frontdesk.settings import load_settings
from services.inbox.app import create_app


def app_factory() -> Litestar:
    """The inbox app with settings read from the environment."""
    return create_app(load_settings())
