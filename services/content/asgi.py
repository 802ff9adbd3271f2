"""ASGI entry point of the content service for the server: ``services.content.asgi:app_factory``."""

from frontdesk.settings import load_settings
from services.content.app import ContentApp, create_app


def app_factory() -> ContentApp:
    """The content app with settings read from the environment."""
    return create_app(load_settings())
