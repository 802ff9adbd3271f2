"""A JSON Schema (draft 2020-12) of ``forms/<id>.yaml``, for editor completion and checks.

``frontdesk forms schema OUT`` writes it as ``OUT/form.schema.json``; a form file opts in with a
modeline such as ``# yaml-language-server: $schema=../schemas/form.schema.json`` (YAML Language
Server). Generated from :class:`~frontdesk.submissions.definition.FormDefinition`, so it names
every key the forms service reads and refuses the others, as the service does. The bounds
``min``/``max``/``step`` are typed ``Any`` there (YAML reads a bound as a date, a number or text
depending on how it is written): here they get the shapes of
frontdesk/submissions/fieldtypes.py. The cross-field rules (a bound's type matching its field's,
``min`` ≤ ``max``, routes naming an option) stay ``frontdesk forms check``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from frontdesk.submissions.definition import FormDefinition

DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILE_NAME = "form.schema.json"

# The written forms of a bound, as fieldtypes.py reads them ([0-9], as there: not any script's digits).
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
OFFSET_PATTERN = r"^[+-][0-9]{1,5}d$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"
# A decimal greater than 0: not negative, and not all zeros.
POSITIVE_DECIMAL_PATTERN = r"^(?!0+(\.0+)?$)[0-9]{1,30}(\.[0-9]{1,30})?$"

_BOUND: dict[str, Any] = {
    "description": (
        "A bound: a date field's YYYY-MM-DD or days from today (+1d, -7d, +0d: today in the "
        "site's time zone); a time field's \"HH:MM\" (quoted: YAML reads 10:30 as a number); a "
        "number field's decimal."
    ),
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": DATE_PATTERN, "title": "date"},
        {"type": "string", "pattern": OFFSET_PATTERN, "title": "days from today"},
        {"type": "string", "pattern": TIME_PATTERN, "title": "time"},
        {"type": "string", "pattern": DECIMAL_PATTERN, "title": "decimal"},
        {"type": "null"},
    ],
    "default": None,
}
_STEP: dict[str, Any] = {
    "description": "A number field's step: a decimal greater than 0, counted from min.",
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": POSITIVE_DECIMAL_PATTERN, "title": "decimal"},
        {"type": "null"},
    ],
    "default": None,
}


def form_schema() -> dict[str, Any]:
    """The schema of one form file: ``{"$schema", "title", "$ref", "$defs"}``; every object
    refuses unknown keys (``additionalProperties: false``), as the service does.
    """
    schema = msgspec.json.schema(FormDefinition)
    field = schema["$defs"]["Field"]["properties"]
    field["min"] = dict(_BOUND)
    field["max"] = dict(_BOUND)
    field["step"] = dict(_STEP)
    return {"$schema": DIALECT, "title": "Frontdesk forms/<id>.yaml", **schema}


def write_form_schema(out: Path) -> Path:
    """Write :func:`form_schema` as ``out/form.schema.json`` (``out`` created); returns the file."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    path.write_bytes(msgspec.json.format(msgspec.json.encode(form_schema()), indent=2) + b"\n")
    return path
