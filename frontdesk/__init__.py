"""Frontdesk: code shared by the content service, the forms service and the worker."""
