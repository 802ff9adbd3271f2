"""Form definitions: ``forms/<id>.yaml`` of the site directory, decoded with unknown keys refused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

FieldType = Literal["text", "email", "phone", "textarea", "select", "checkbox"]

DEFAULT_SUCCESS = "Thank you! Your submission has been received!"
DEFAULT_ERROR = "Oops! Something went wrong while submitting the form."


class Base(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Common config: keyword-only, unknown keys refused."""


class Field(Base, kw_only=True):
    """One form field; ``max_length`` counts characters after normalisation."""

    name: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$")]
    label: str
    type: FieldType = "text"
    required: bool = False
    max_length: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    options: list[str] = []


class PhonePolicy(Base, kw_only=True):
    """How phone fields are judged (libphonenumber): ``possible`` accepts numbers of a possible
    length and flags ``phone_unverified`` when not valid; ``valid`` refuses what is not valid.
    ``default_region`` (ISO 3166-1 alpha-2) overrides the site's.
    """

    policy: Literal["possible", "valid"] = "possible"
    default_region: str | None = None


class Translation(Base, kw_only=True):
    """The texts of one language (a BCP 47 tag such as ``fr`` or ``pt-BR``); unset ones fall back
    to the form's English texts.
    """

    success: str | None = None
    error: str | None = None
    phone_valid: str | None = None
    codes: dict[str, str] = {}


class Messages(Base, kw_only=True):
    """Texts shown to visitors: success, error, the phone widget's ``phone_valid``, per error code
    (``codes``), and per language (``languages``: tag → :class:`Translation`). English is the default.
    """

    success: str = DEFAULT_SUCCESS
    error: str = DEFAULT_ERROR
    phone_valid: str = "Valid number"
    codes: dict[str, str] = {}
    languages: dict[str, Translation] = {}


class Redirects(Base, kw_only=True):
    """Where plain HTML posts are sent (303) after success or error: paths or allowed absolute URLs."""

    success: str | None = None
    error: str | None = None
    next_allowed: list[str] = []
    """Targets a posted ``_next`` may name (exact paths or absolute URLs); any other is ignored."""


class RateLimits(Base, kw_only=True):
    """Submissions allowed per client IP a minute and an hour, and per form an hour (DESIGN.md)."""

    per_ip_minute: Annotated[int, Meta(ge=1)] = 5
    per_ip_hour: Annotated[int, Meta(ge=1)] = 30
    per_form_hour: Annotated[int, Meta(ge=1)] = 300
    enabled: bool = True


class Captcha(Base, kw_only=True):
    """An optional CAPTCHA verified server-side (``secret``: ``FRONTDESK_CAPTCHA_SECRET``).

    ``verify_url`` defaults to the provider's siteverify endpoint; ``timeout`` in seconds. A provider
    that does not answer quarantines the submission rather than refusing it.
    """

    provider: Literal["turnstile", "hcaptcha", "recaptcha"]
    site_key: str
    verify_url: str | None = None
    timeout: Annotated[float, Meta(gt=0, le=30)] = 5.0


class Spam(Base, kw_only=True):
    """Spam defences: the honeypot field's name, the time trap's minimum fill time (seconds),
    rate limits and an optional CAPTCHA.
    """

    honeypot: Annotated[str, Meta(pattern=r"^_[a-z0-9_]+$")] = "_gotcha"
    min_fill_seconds: Annotated[float, Meta(ge=0, le=3600)] = 3.0
    rate_limits: RateLimits = msgspec.field(default_factory=RateLimits)
    captcha: Captcha | None = None


class AutoReply(Base, kw_only=True):
    """An optional confirmation email to the visitor (subject and text body templates)."""

    subject: str
    body: str


class FormDefinition(Base, kw_only=True):
    """``forms/<id>.yaml``: fields, phone policy, recipients, sender, subject, messages, redirects,
    allowed origins (absent: any), retention (days a submission is kept), spam defences, auto-reply,
    extra-field policy and the body size limit in bytes (413 beyond it).
    """

    id: Annotated[str, Meta(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
    title: str
    fields: list[Field]
    recipients: list[str]
    sender: str
    subject: str = "New inquiry from {name} via {form}"
    phone: PhonePolicy = msgspec.field(default_factory=PhonePolicy)
    messages: Messages = msgspec.field(default_factory=Messages)
    redirects: Redirects = msgspec.field(default_factory=Redirects)
    allowed_origins: list[str] | None = None
    retention_days: Annotated[int, Meta(ge=1, le=3650)] = 90
    spam: Spam = msgspec.field(default_factory=Spam)
    auto_reply: AutoReply | None = None
    extra_fields: Literal["refuse", "ignore", "keep"] = "refuse"
    """Posted fields the form does not define: ``refuse`` (422 ``unknown_field``), ``ignore``
    (dropped) or ``keep`` (stored as text, same control-character and length rules as ``text``)."""
    max_body_bytes: Annotated[int, Meta(ge=1024, le=10_000_000)] = 65_536

    def field(self, name: str) -> Field | None:
        """The field called ``name``, if any."""
        return next((f for f in self.fields if f.name == name), None)


class FormsError(Exception):
    """One or more form files are bad; ``problems`` lists ``file: path: message`` strings."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_forms(site_dir: Path) -> dict[str, FormDefinition]:
    """Every ``forms/*.yaml`` of ``site_dir`` by id; raises :class:`FormsError` listing all problems."""
    forms: dict[str, FormDefinition] = {}
    problems: list[str] = []
    for file in sorted((site_dir / "forms").glob("*.yaml")):
        rel = file.relative_to(site_dir).as_posix()
        try:
            form = msgspec.yaml.decode(file.read_bytes(), type=FormDefinition)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).rpartition(" - at ")
            problems.append(f"{rel}: {path.strip('`') or '$'}: {message or exc}")
            continue
        except (msgspec.DecodeError, OSError) as exc:
            problems.append(f"{rel}: $: not readable YAML: {exc}")
            continue
        if form.id in forms:
            problems.append(f"{rel}: $.id: duplicate form id {form.id!r}")
        names = [f.name for f in form.fields]
        for index, name in enumerate(names):
            if names.index(name) != index:
                problems.append(f"{rel}: $.fields[{index}].name: duplicate field {name!r}")
        forms[form.id] = form
    if problems:
        raise FormsError(problems)
    return forms
