"""Frontdesk's HTTP services: ``services.content`` and ``services.forms``."""
