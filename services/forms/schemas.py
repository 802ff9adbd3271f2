"""The response bodies of the forms service's public routes (msgspec Structs, in the OpenAPI
document as they are sent).
"""

from __future__ import annotations

import msgspec


class PhoneCheck(msgspec.Struct, kw_only=True):
    """``GET /v1/phone/check``: libphonenumber's verdict on one number."""

    possible: bool
    valid: bool
    accepted: bool
    """Whether a submission takes this number under the form's phone policy: under ``possible`` a
    possible but not valid number is accepted (and flagged ``phone_unverified`` for staff)."""
    reason: str | None
    message: str
    e164: str | None
    national: str | None
    international: str | None
    extension: str | None
    type: str | None
    region: str | None
    metadata_version: str


class FieldInfo(msgspec.Struct, kw_only=True):
    """One field of the public definition. ``min``/``max``: a date field's bounds as dates
    (``YYYY-MM-DD``, offsets resolved against the definition's ``today``), a time field's
    (``HH:MM``), a number field's (decimal text, never a binary float); ``step``: a number's.
    A hidden field is listed without its value (the server stores it; nothing to post).
    """

    name: str
    label: str
    type: str
    required: bool
    max_length: int | None
    options: list[str]
    min: str | None = None
    max: str | None = None
    step: str | None = None


class PublicPhone(msgspec.Struct, kw_only=True):
    """The phone policy and default region (the form's, else the site's)."""

    policy: str
    default_region: str


class PublicCaptcha(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the page needs to render the CAPTCHA widget (never the secret)."""

    provider: str
    site_key: str
    response_field: str
    challenge_url: str | None = None
    """``altcha``: where the widget fetches a challenge."""
    script_url: str | None = None
    """``altcha``: the widget's script, served by this service."""


class PublicMessages(msgspec.Struct, kw_only=True):
    """Texts in the chosen language: success, error, phone_valid and per-code ones."""

    success: str
    error: str
    phone_valid: str
    codes: dict[str, str]


class PublicDefinition(msgspec.Struct, kw_only=True):
    """``GET /v1/forms/{form}``: what a page needs to render and submit the form."""

    id: str
    title: str
    action: str
    language: str
    fields: list[FieldInfo]
    phone: PublicPhone
    messages: PublicMessages
    honeypot: str
    token: str
    min_fill_seconds: float
    captcha: PublicCaptcha | None
    today: str
    """Today's date (``YYYY-MM-DD``) in the site's time zone: the day date bounds count from, so
    the embed script checks a date against the same day as the server."""
