"""Composes the emails of a submission with jinja2 (autoescape on for HTML).

Headers: From = the form's sender, To = its recipients, Reply-To = the visitor (staff mail),
Subject from the form's template with the visitor's values cleaned, Date, and a Message-ID derived
from the submission id and the sender's domain, so a repeated send carries the same Message-ID.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from services.forms.definition import FormDefinition
from services.forms.record import MessageKind, Submission

TEMPLATES = Path(__file__).parent / "templates"
_SPACE = re.compile(r"\s+")


def build_environment() -> tuple[jinja2.Environment, jinja2.Environment]:
    """(text, html) jinja2 environments over the shipped templates; HTML autoescapes."""
    loader = jinja2.FileSystemLoader(TEMPLATES)
    text = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined)  # noqa: S701
    html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return text, html


def clean_header_value(value: str, limit: int = 120) -> str:
    """One line of at most ``limit`` characters: whitespace (CR/LF included) folded to single spaces."""
    text = _SPACE.sub(" ", value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def subject_for(form: FormDefinition, submission: Submission) -> str:
    """The form's subject template (``{field}`` placeholders, ``{form}``) filled with cleaned values."""
    values = _Values({k: clean_header_value(v, 60) for k, v in submission.fields.items()})
    values["form"] = form.title
    return clean_header_value(form.subject.format_map(values), 200)


def message_id(submission: Submission, kind: MessageKind, sender: str) -> str:
    """``<submission id>.<kind>@<sender domain>`` in angle brackets (RFC 5322 msg-id)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "frontdesk.invalid"
    return f"<{submission.id}.{kind}@{domain}>"


def staff_message(
    form: FormDefinition,
    submission: Submission,
    envs: tuple[jinja2.Environment, jinja2.Environment],
) -> EmailMessage:
    """The staff notification: text and HTML parts, Reply-To the visitor's email field."""
    context: dict[str, Any] = {
        "form": form,
        "submission": submission,
        "fields": submission.fields,
        "phone": submission.phone,
        "flags": submission.flags,
    }
    text_env, html_env = envs
    message = EmailMessage()
    message["From"] = form.sender
    message["To"] = ", ".join(form.recipients)
    visitor = next((f for f in form.fields if f.type == "email"), None)
    if visitor is not None and submission.fields.get(visitor.name):
        name = clean_header_value(submission.fields.get("name", ""), 80)
        local, _, domain = submission.fields[visitor.name].rpartition("@")
        message["Reply-To"] = Address(display_name=name, username=local, domain=domain)
    message["Subject"] = subject_for(form, submission)
    message["Date"] = format_datetime(submission.created_at)
    message["Message-ID"] = message_id(submission, "staff", form.sender)
    message.set_content(text_env.get_template("staff.txt.j2").render(context))
    message.add_alternative(html_env.get_template("staff.html.j2").render(context), subtype="html")
    return message


def recipients_of(message: EmailMessage) -> list[str]:
    """The envelope recipients: every address of To and Cc."""
    headers = [str(v) for key in ("To", "Cc") for v in message.get_all(key, [])]
    return [address for _, address in getaddresses(headers) if address]
