"""OpenAPI for the content API with discriminators on the tagged unions.

Litestar 2.25 renders a msgspec tagged union as a plain ``oneOf``; :func:`msgspec.json.schema`
knows the tag field and values. :func:`add_discriminators` copies that knowledge into Litestar's
generated document (OpenAPI 3.1 §4.8.25, Discriminator Object) once, at startup.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Discriminator, OpenAPI, Reference, Schema

from services.content import public

# The tagged unions of the public types: sections on ``type``, items on ``kind``.
UNIONS: tuple[Any, ...] = (public.SectionOutT, public.ItemOut)


def union_tags(union: Any) -> tuple[str, dict[str, str]]:
    """``(tag field, {tag value: struct name})`` of a msgspec tagged union, from msgspec's schema."""
    schema = msgspec.json.schema(union)
    discriminator = schema["discriminator"]
    mapping = {tag: ref.rsplit("/", 1)[-1] for tag, ref in discriminator["mapping"].items()}
    return discriminator["propertyName"], mapping


def _walk(node: Any, visit: Any) -> None:
    if isinstance(node, Schema):
        visit(node)
        for value in vars(node).values():
            _walk(value, visit)
    elif isinstance(node, list | tuple):
        for value in node:
            _walk(value, visit)
    elif isinstance(node, dict):
        for value in node.values():
            _walk(value, visit)
    elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Reference):
        for value in vars(node).values():
            _walk(value, visit)


def patch_discriminators(openapi: OpenAPI) -> int:
    """Give every ``oneOf`` that lists exactly one of :data:`UNIONS`' members a ``discriminator``
    with its mapping; returns how many were patched.
    """
    unions = [union_tags(u) for u in UNIONS]
    patched = 0

    def visit(schema: Schema) -> None:
        nonlocal patched
        members = schema.one_of or []
        refs = {m.ref.rsplit("/", 1)[-1]: m.ref for m in members if isinstance(m, Reference)}
        if not refs or len(refs) != len(members):
            return
        for field, mapping in unions:
            names = set(mapping.values())
            if set(refs) == names:
                schema.discriminator = Discriminator(
                    property_name=field,
                    mapping={tag: refs[name] for tag, name in mapping.items()},
                )
                patched += 1

    _walk(openapi.paths, visit)
    _walk(openapi.components, visit)
    return patched


def add_discriminators(app: Litestar) -> None:
    """Startup hook: patch the app's (cached) OpenAPI document in place."""
    patch_discriminators(app.openapi_schema)
