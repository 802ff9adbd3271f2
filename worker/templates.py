"""The Jinja environments of the email templates, which editors write: a sandbox, not code.

Templates come from the site directory (docs/worker.md), and editors are trusted with content only
(docs/security.md). So they run in Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:
no attribute starting with ``_`` (``cycler.__init__.__globals__`` reached ``os``), no internal
attributes of functions and frames, no mutation of the context's lists and dicts. A template that
tries raises :class:`jinja2.sandbox.SecurityError` (a ``TemplateError``) when rendered: the worker
records it as a template error of that message, and ``frontdesk forms check`` reports it.

Files are read only from inside the template folders: a symbolic link (to ``/proc/self/environ``,
say, whose text would be mailed to the form's recipients) is refused like a missing template.
"""

from __future__ import annotations

import datetime as dt
import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2
import msgspec
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.forms.definition import AutoReply, FormDefinition
from services.forms.record import Submission

Environments = tuple[jinja2.Environment, jinja2.Environment]


class ContainedLoader(jinja2.FileSystemLoader):
    """A :class:`jinja2.FileSystemLoader` that refuses a template whose file is, or lies under, a
    symbolic link inside its search path (the search path itself may be a link).
    """

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        """The template's source; raises :class:`jinja2.TemplateNotFound` for a linked file."""
        source, filename, uptodate = super().get_source(environment, template)
        for root in self.searchpath:
            relative = os.path.relpath(filename, root)
            if relative.startswith(os.pardir):
                continue
            if os.path.realpath(filename) != os.path.join(os.path.realpath(root), relative):
                raise jinja2.TemplateNotFound(
                    template, f"{template}: a symbolic link; links are refused in templates"
                )
            return source, filename, uptodate
        raise jinja2.TemplateNotFound(template)  # pragma: no cover - jinja found it in a root


def sandboxed_environments(paths: Sequence[Path]) -> Environments:
    """(text, html) sandboxed environments over ``paths`` in order; HTML autoescapes."""
    loader = ContainedLoader(list(paths))
    # Plain-text mail: nothing to escape.
    text = ImmutableSandboxedEnvironment(
        loader=loader, autoescape=False, undefined=jinja2.StrictUndefined
    )
    html = ImmutableSandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined
    )
    return text, html


def describe(exc: jinja2.TemplateError) -> str:
    """``<exception type>: <message>`` of a template error: names and attributes, never values."""
    return f"{type(exc).__name__}: {exc.message or ''}"[:300]


def check_templates(site_dir: Path, forms: dict[str, FormDefinition]) -> list[str]:
    """Render every email template of every form with a sample submission; one
    ``<file>: <exception type>: <message>`` string per template that fails (syntax, sandbox,
    undefined names, a refused link).
    """
    from worker.messages import auto_reply_message, build_environment, staff_message

    problems: set[str] = set()
    for form in forms.values():
        sample = Submission(
            id="0" * 28,
            form=form.id,
            status="received",
            created_at=dt.datetime.now(dt.UTC),
            fields={f.name: "a@example.com" if f.type == "email" else "x" for f in form.fields},
        )
        envs = build_environment(site_dir, form.id)
        if form.auto_reply is None:
            # Rendered all the same: a form may gain an auto-reply without another check.
            form = msgspec.structs.replace(form, auto_reply=AutoReply(subject="s", body="b"))
        for compose in (staff_message, auto_reply_message):
            try:
                compose(form, sample, envs)
            except jinja2.TemplateError as exc:
                problems.add(f"{_culprit(exc, site_dir)}: {describe(exc)}")
    return sorted(problems)


def _culprit(exc: jinja2.TemplateError, site_dir: Path) -> str:
    """The template file the error happened in, relative to the site when it is one of the site's."""
    name = getattr(exc, "filename", None) or next(
        (
            frame.filename
            for frame in reversed(traceback.extract_tb(exc.__traceback__))
            if frame.filename.endswith(".j2")
        ),
        getattr(exc, "name", None) or "templates",
    )
    path = Path(name)
    return path.relative_to(site_dir).as_posix() if path.is_relative_to(site_dir) else str(name)
