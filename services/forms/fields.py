"""A form field as the public definition shows it (:class:`~services.forms.schemas.FieldInfo`)."""

from __future__ import annotations

import datetime as dt

from frontdesk.submissions import fieldtypes
from frontdesk.submissions.definition import Field
from services.forms.schemas import FieldInfo


def public_field(field: Field, today: dt.date) -> FieldInfo:
    """``field`` for the page: a date's bounds resolved on ``today`` (the site's date) to
    ``YYYY-MM-DD``, a time's as ``HH:MM``, a number's bounds and step as decimal text. A loaded
    form's bounds are readable (the form check refuses others).
    """
    low: str | None = None
    high: str | None = None
    step: str | None = None
    if field.type == "date":
        dates = [fieldtypes.date_bound(b, today) for b in (field.min, field.max)]
        low, high = (d.isoformat() if d is not None else None for d in dates)
    elif field.type == "time":
        low, high = fieldtypes.time_bound(field.min), fieldtypes.time_bound(field.max)
    elif field.type == "number":
        numbers = [fieldtypes.decimal_bound(b) for b in (field.min, field.max, field.step)]
        low, high, step = (str(n) if n is not None else None for n in numbers)
    return FieldInfo(
        name=field.name,
        label=field.label,
        type=field.type,
        required=field.required,
        max_length=field.max_length,
        options=field.options,
        min=low,
        max=high,
        step=step,
    )
