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


class Messages(Base, kw_only=True):
    """Texts shown to visitors: success, error, the phone widget's ``phone_valid``, and per code."""

    success: str = DEFAULT_SUCCESS
    error: str = DEFAULT_ERROR
    phone_valid: str = "Valid number"
    codes: dict[str, str] = {}


class Redirects(Base, kw_only=True):
    """Where plain HTML posts are sent (303) after success or error: paths or allowed absolute URLs."""

    success: str | None = None
    error: str | None = None


class AutoReply(Base, kw_only=True):
    """The visitor's confirmation email (RFC 3834 ``Auto-Submitted: auto-replied``).

    ``subject`` and ``body`` (plain text; paragraphs split on blank lines for the HTML part) come
    only from this definition, never from the request, so the form cannot relay visitor text.
    Sent to the form's first ``email`` field; a form without one sends none.
    """

    subject: str
    body: str


class Webhook(Base, kw_only=True):
    """A JSON POST of each stored submission to ``url``, signed with HMAC-SHA256 over
    ``<timestamp>.<body>`` with ``FRONTDESK_SECRET_KEY``; retried like email (docs/worker.md).
    """

    url: Annotated[str, Meta(pattern=r"^https?://")]


class FormDefinition(Base, kw_only=True):
    """``forms/<id>.yaml``: fields, phone policy, recipients, sender, subject, messages, redirects,
    allowed origins (absent: any) and retention (days a submission is kept).
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
    auto_reply: AutoReply | None = None
    webhook: Webhook | None = None

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
