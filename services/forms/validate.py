"""Field rules of a submission: shape, required, length, options, control characters, encoded words,
email, phone, and the typed fields (date, time, number, radio, checkbox_group, hidden; their rules
in frontdesk/submissions/fieldtypes.py).

Values are normalised first: Unicode NFC, trimmed. Field error codes are stable; their messages come
from the form (``messages.codes``) or :data:`DEFAULT_MESSAGES`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import unicodedata
from typing import Any

import msgspec

from frontdesk.submissions import fieldtypes
from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.definition import Field, FormDefinition
from frontdesk.submissions.emails import check_email
from frontdesk.submissions.record import PhoneInfo
from services.forms.captcha import RESPONSE_FIELDS
from services.forms.phone import check_phone, normalise_region

EXTRA_MAX_LENGTH = 2000
_EXTRA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class FieldError(msgspec.Struct, kw_only=True):
    """One rejected field: ``field`` name, stable ``code``, human ``message``."""

    field: str
    code: str
    message: str


class Outcome(msgspec.Struct, kw_only=True):
    """Result of validation: normalised ``fields``, ``phone``, ``flags`` and ``errors`` (empty: valid)."""

    fields: dict[str, str] = {}
    phone: PhoneInfo | None = None
    flags: list[str] = []
    errors: list[FieldError] = []
    language: str = "en"
    today: dt.date | None = None


def published_codes(form: FormDefinition, language: str) -> dict[str, str]:
    """``messages.codes`` of the public definition: every code of :data:`DEFAULT_MESSAGES` with the
    text :meth:`~frontdesk.submissions.definition.Messages.code_text` gives it in ``language``
    (codes a form names that no client can receive are left out).
    """
    return {code: form.messages.code_text(code, language) for code in DEFAULT_MESSAGES}


# A browser submits a textarea's line breaks as CRLF (HTML Living Standard, "normalize line breaks"
# on form submission); U+2028/U+2029 are line breaks too. All become "\n" in a multi-line field.
_LINE_BREAKS = re.compile("\r\n?|\u2028|\u2029")
# Refused characters: C0/C1 controls (Unicode category Cc: U+0000-U+001F and U+007F-U+009F, a set
# Unicode keeps stable), the line and paragraph separators (Zl, Zp: U+2028, U+2029) and the
# characters that reorder how text displays (the "Trojan Source" bidi controls, CVE-2021-42574),
# unlike other format characters (ZWJ in emoji, ZWNJ in Persian, soft hyphen). A multi-line field
# allows LF and tab. One regex instead of a category lookup per character.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")
_CONTROL_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")


# An RFC 2047 encoded word is "=?charset?encoding?text?=". Python's email package decodes one while
# folding a header (CVE-2024-6923, unpatched in 3.11.7): in a mail header a visitor's
# "=?utf-8?q?x=0D=0ABcc:...?=" became a Bcc line, "=?utf-8?q?Dr_Who_=3Cboss=40...?=" a spoofed
# sender. Either delimiter is refused in a value that reaches a header, so no encoded word can be
# made either inside one value or across two values a subject template puts side by side.
_ENCODED_WORD = re.compile(r"=\?|\?=")


@functools.lru_cache(maxsize=256)
def _subject_fields(subject: str) -> frozenset[str]:
    """The field names a subject template names (``{name}``, ``{topic!r}`` → ``name``, ``topic``)."""
    try:
        names = {p for _, p, _, _ in string.Formatter().parse(subject) if p}
    except ValueError:  # refused by the form check; nothing of it reaches a header
        return frozenset()
    return frozenset(n.split(".")[0].split("[")[0] for n in names)


def reaches_a_header(form: FormDefinition, field: Field) -> bool:
    """Whether ``field``'s value is written into a mail header: the visitor's name (``name``, the
    Reply-To display name), every email field, every field the form's ``subject`` names.
    """
    return (
        field.name == "name" or field.type == "email" or field.name in _subject_fields(form.subject)
    )


def _has_control(text: str, multiline: bool) -> bool:
    """True when ``text`` holds a C0/C1 control (LF and tab allowed in multi-line fields), a line
    or paragraph separator, or a bidi control.
    """
    return (_CONTROL_MULTILINE if multiline else _CONTROL).search(text) is not None


def validate(
    form: FormDefinition,
    data: dict[str, Any],
    default_region: str,
    language: str = "en",
    today: dt.date | None = None,
) -> Outcome:
    """Check ``data`` (field name → posted value) against ``form``; messages in ``language``.

    Names starting with ``_`` are reserved and skipped, as is the CAPTCHA provider's response
    field; ``<phone field>_country`` carries the phone region. Other unknown names follow the
    form's ``extra_fields`` policy. ``default_region`` is the site's (ISO 3166-1 alpha-2);
    ``today`` the calendar date in the site's time zone that date bounds count from (default: the
    UTC date).
    """
    outcome = Outcome()
    outcome.language = language
    outcome.today = today or dt.datetime.now(dt.UTC).date()
    known = {f.name for f in form.fields}
    reserved = {f"{f.name}_country" for f in form.fields if f.type == "phone"}
    if form.spam.captcha is not None:
        reserved.add(RESPONSE_FIELDS[form.spam.captcha.provider])
    extras: list[Field] = []
    for name in data:
        if name.startswith("_") or name in known or name in reserved:
            continue
        if form.extra_fields == "keep" and _EXTRA_NAME.match(name):
            extras.append(Field(name=name, label=name, type="text", max_length=EXTRA_MAX_LENGTH))
        elif form.extra_fields == "refuse" or form.extra_fields == "keep":
            outcome.errors.append(
                FieldError(
                    field=name[:100],
                    code="unknown_field",
                    message=form.messages.code_text("unknown_field", language),
                )
            )
    for field in [*form.fields, *extras]:
        _check_field(form, field, data, default_region, outcome)
    return outcome


def _fail(form: FormDefinition, outcome: Outcome, field: Field, code: str) -> None:
    message = form.messages.code_text(code, outcome.language)
    outcome.errors.append(FieldError(field=field.name, code=code, message=message))


def _check_field(
    form: FormDefinition, field: Field, data: dict[str, Any], default_region: str, outcome: Outcome
) -> None:
    if field.type == "hidden":
        # The editor's value, whatever was posted under the name (a page cannot change it).
        if field.value:
            outcome.fields[field.name] = field.value
        return
    if field.type == "checkbox_group":
        _check_group(form, field, data.get(field.name), outcome)
        return
    raw = data.get(field.name)
    if field.type == "number" and isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)  # a JSON number, read back as its shortest text: 0.1 stays "0.1"
    if field.type == "checkbox" and raw in (None, "", False):
        raw = None
    if isinstance(raw, bool) and field.type == "checkbox":
        raw = "yes" if raw else None
    if raw is not None and not isinstance(raw, str):
        _fail(form, outcome, field, "not_a_string")
        return
    value = unicodedata.normalize("NFC", raw).strip() if raw is not None else ""
    if field.type == "textarea":
        value = _LINE_BREAKS.sub("\n", value)
    if not value:
        if field.required:
            _fail(form, outcome, field, "required")
        return
    if field.max_length is not None and len(value) > field.max_length:
        _fail(form, outcome, field, "too_long")
        return
    if _has_control(value, multiline=field.type == "textarea"):
        _fail(form, outcome, field, "control_characters")
        return
    if reaches_a_header(form, field) and _ENCODED_WORD.search(value):
        _fail(form, outcome, field, "encoded_word")
        return
    if field.type in ("select", "radio") and value not in field.options:
        _fail(form, outcome, field, "invalid_option")
        return
    code = _typed_code(field, value, outcome.today or dt.datetime.now(dt.UTC).date())
    if code is not None:
        _fail(form, outcome, field, code)
        return
    if field.type == "email":
        verdict = check_email(value)
        if verdict.normalized is None:
            _fail(form, outcome, field, verdict.code or "invalid_email")
            return
        value = verdict.normalized
    if field.type == "phone":
        posted = data.get(f"{field.name}_country")
        region = normalise_region(posted) if isinstance(posted, str) else None
        region = region or form.phone.default_region or default_region
        phone = check_phone(value, region, form.phone.policy)
        if not phone.accepted:
            _fail(form, outcome, field, phone.reason or "invalid_number")
            return
        if not phone.valid:
            outcome.flags.append("phone_unverified")
        # Every field of the stored PhoneInfo but the raw input comes from the verdict, by name.
        read = {name: getattr(phone, name) for name in PhoneInfo.__struct_fields__[1:]}
        outcome.phone = PhoneInfo(raw=value, **read)
    outcome.fields[field.name] = value


def _typed_code(field: Field, value: str, today: dt.date) -> str | None:
    """The error code of a date, time or number ``value`` under ``field``'s bounds, else ``None``."""
    if field.type == "date":
        return fieldtypes.check_date(value, field.min, field.max, today)
    if field.type == "time":
        return fieldtypes.check_time(value, field.min, field.max)
    if field.type == "number":
        return fieldtypes.check_number(value, field.min, field.max, field.step)
    return None


def _check_group(form: FormDefinition, field: Field, raw: Any, outcome: Outcome) -> None:
    """A checkbox group: one string or a list of strings (a JSON array, or a form body's repeated
    key), each one of ``options``; stored as the chosen options in the field's order, one a line.
    Empty strings are left out (a page's "none" placeholder); an empty choice is a missing value.
    """
    values = raw if isinstance(raw, list) else [] if raw is None or raw is False else [raw]
    if not all(isinstance(value, str) for value in values):
        _fail(form, outcome, field, "not_a_string")
        return
    chosen = [unicodedata.normalize("NFC", value).strip() for value in values]
    chosen = [value for value in chosen if value]
    if not chosen:
        if field.required:
            _fail(form, outcome, field, "required")
        return
    stored = fieldtypes.chosen_options(chosen, field.options)
    if stored is None:
        _fail(form, outcome, field, "invalid_option")
        return
    if field.max_length is not None and len(stored) > field.max_length:
        _fail(form, outcome, field, "too_long")
        return
    outcome.fields[field.name] = stored
