"""The answers of ``POST /v1/forms/{form}/submissions`` (docs/forms.md, "POST /v1/forms/{form}/submissions").

API callers get RFC 9457 problem+json for every refusal (:func:`problem_answer`). A *plain HTML
post* (a browser navigating, no JavaScript) gets :class:`HtmlAnswer`: a 303 to the form's success or
error page, or else a small page of our own (``templates/answer.html.j2``, jinja2 with autoescape)
with the status of the answer — for a refused field, its label and message, in the answer's
language — and a link back to the form. No field value the visitor typed is shown on it; the
posted texts that can appear (an unknown field's name, the ``Referer`` in the link) are escaped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import msgspec
from litestar import Response
from markupsafe import Markup

from frontdesk.problems import ProblemError, problem_body
from frontdesk.redirects import redirect_response
from frontdesk.submissions.definition import FormDefinition
from services.forms.web import back_url, resolve_redirect, with_query

TEMPLATES = Path(__file__).parent / "templates"
# The page's one script: the "back" link returns through the browser's history when there is
# one, so the form comes back with what was typed in it; without JavaScript (or without history)
# the link's address is followed. Pinned by its hash in the page's Content-Security-Policy.
BACK_SCRIPT = (
    'document.getElementById("back").addEventListener("click", function (event) {'
    " if (history.length > 1) { event.preventDefault(); history.back(); } });"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(BACK_SCRIPT.encode()).digest()).decode()
PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    # The page answers one submission; a cache must not hand it to anyone else.
    "Cache-Control": "no-store",
}


def problem_answer(
    exc: ProblemError, form: FormDefinition, language: str, headers: dict[str, str]
) -> Response[bytes]:
    """problem+json for ``exc``, with ``message`` (the form's error text in ``language``) and its
    ``extra`` members (``errors`` for 422) and headers (``Retry-After``) added to ``headers``.
    """
    error_text = form.messages.text("error", language)
    body = problem_body(exc.status, exc.code, exc.detail, **{"message": error_text, **exc.extra})
    return Response(
        content=msgspec.json.encode(body),
        status_code=exc.status,
        media_type="application/problem+json",
        headers={**headers, **exc.headers},
    )


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("answer.html.j2")


@dataclass(frozen=True)
class HtmlAnswer:
    """The answers to one plain HTML post of ``form``: texts in ``language`` (a tag of the form's
    ``messages.languages``, or ``en``); redirect targets resolved against ``base_url`` (the site's);
    ``referer`` is the request's header (the "back" link); ``headers`` go on every answer (CORS).
    """

    form: FormDefinition
    language: str
    base_url: str
    referer: str | None
    headers: dict[str, str]

    def success(self, message: str, next_target: str | None) -> Response[bytes]:
        """303 to the allowlisted ``_next`` or the form's success page, else a 200 page saying
        ``message``.
        """
        target = resolve_redirect(next_target, self.base_url, self.form) if next_target else None
        target = target or resolve_redirect(self.form.redirects.success, self.base_url, self.form)
        if target:
            return redirect_response(303, target, self.headers)
        return self._page(200, message)

    def error(self, exc: ProblemError) -> Response[bytes]:
        """303 to the form's error page with ``error=<code>`` (plus ``fields=a,b`` for refused
        fields, ``retry_after=<seconds>`` for 429/503) added to its query; without one, a page with
        ``exc``'s status and headers: the form's error text, then each refused field's label and
        message, or ``exc``'s human ``detail``.
        """
        target = resolve_redirect(self.form.redirects.error, self.base_url, self.form)
        if target:
            # Retry-After on a 3xx would ask the browser to wait before following it (RFC 9110
            # §10.2.3): the seconds travel in the query instead.
            return redirect_response(303, with_query(target, self._error_params(exc)), self.headers)
        error_text = self.form.messages.text("error", self.language)
        errors = [
            {"label": self._label(str(e["field"])), "message": str(e["message"])}
            for e in self._field_errors(exc)
        ]
        return self._page(exc.status, error_text, errors, exc.detail, exc.headers)

    def _field_errors(self, exc: ProblemError) -> list[dict[str, Any]]:
        errors = exc.extra.get("errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    def _error_params(self, exc: ProblemError) -> dict[str, str]:
        params = {"error": exc.code}
        # Only the form's own field names: an unknown field's name is the visitor's text.
        names = [str(e["field"]) for e in self._field_errors(exc)]
        fields = [name for name in dict.fromkeys(names) if self.form.field(name) is not None]
        if fields:
            params["fields"] = ",".join(fields)
        if "Retry-After" in exc.headers:
            params["retry_after"] = exc.headers["Retry-After"]
        return params

    def _label(self, name: str) -> str:
        field = self.form.field(name)
        return field.label if field is not None else name

    def _page(
        self,
        status: int,
        heading: str,
        errors: list[dict[str, str]] | None = None,
        detail: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Response[bytes]:
        page = _template().render(
            language=self.language,
            heading=heading,
            errors=errors or [],
            detail=detail,
            back_url=back_url(self.referer, self.base_url, self.form),
            back_text=self.form.messages.text("back", self.language),
            script=Markup(BACK_SCRIPT),  # noqa: S704 (our constant, pinned by the CSP hash)
        )
        return Response(
            content=page.encode(),
            status_code=status,
            media_type="text/html",
            headers={**self.headers, **(extra_headers or {}), **PAGE_HEADERS},
        )
