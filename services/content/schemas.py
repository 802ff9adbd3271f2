"""JSON Schema (draft 2020-12) files of the site directory's YAML files, for editor completion.

``frontdesk content schema OUT`` writes them; a YAML file opts in with a modeline such as
``# yaml-language-server: $schema=../schemas/page.schema.json`` (YAML Language Server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from services.content.model import ITEM_TYPES, Page, SiteConfig

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def site_schemas() -> dict[str, dict[str, Any]]:
    """``{file name: schema}``: ``site``, ``page`` and one per item kind (``item-faq`` ...)."""
    types: dict[str, tuple[Any, str]] = {
        "site": (SiteConfig, "site.yaml"),
        "page": (Page, "pages/*.yaml"),
    }
    for kind, type_ in ITEM_TYPES.items():
        types[f"item-{kind}"] = (type_, f"collections/<name>/*.yaml of a {kind!r} collection")
    schemas = {}
    for name, (type_, applies_to) in types.items():
        schema = msgspec.json.schema(type_)
        schemas[f"{name}.schema.json"] = {
            "$schema": DIALECT,
            "title": f"Frontdesk {applies_to}",
            **schema,
        }
    return schemas


def write_schemas(out: Path) -> list[Path]:
    """Write :func:`site_schemas` into directory ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in site_schemas().items():
        path = out / name
        path.write_bytes(msgspec.json.format(msgspec.json.encode(schema), indent=2) + b"\n")
        written.append(path)
    return written
