"""Interim stand-ins for two parts of the Forms API contract that the embed work needs in its browser
tests: ``GET /v1/forms/{form}`` (public definition + time-trap token) and the 303 answer to a plain
HTML post. The forms-service work (per-form CORS, time trap, redirects) owns the real ones; when it
lands, drop this module and its two lines in ``services/forms/app.py``.

- The token is ``<issued unix ms>.<hex HMAC-SHA256 of it>``; nothing here checks it (the submit
  handler ignores ``_``-prefixed fields).
- A plain HTML post (urlencoded or multipart, ``Accept`` listing ``text/html`` before any JSON type,
  DESIGN.md "Forms API") to a form with ``redirects`` gets 303 to the success page for a 2xx and to the
  error page otherwise; paths resolve against the site's ``base_url``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import urllib.parse
from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from frontdesk.problems import ProblemError
from services.forms.definition import FormDefinition

_SUBMISSIONS = re.compile(r"^/v1/forms/([a-z0-9-]+)/submissions/?$")


class PublicField(msgspec.Struct, kw_only=True):
    """One field as a browser sees it."""

    name: str
    label: str
    type: str
    required: bool
    max_length: int | None
    options: list[str]


class PublicDefinition(msgspec.Struct, kw_only=True):
    """``GET /v1/forms/{form}``: fields, messages, phone region and a fresh time-trap ``token``."""

    id: str
    title: str
    fields: list[PublicField]
    messages: dict[str, str]
    phone_default_region: str
    token: str


def definition_handler(
    forms: dict[str, FormDefinition], default_region: str, secret: str | None
) -> HTTPRouteHandler:
    """The ``GET /v1/forms/{form}`` handler over ``forms``; 404 problem+json for an unknown form."""
    key = (secret or secrets.token_hex(32)).encode()

    @get("/v1/forms/{form_id:str}", summary="A form's public definition and time-trap token")
    async def form_definition(
        request: Request[Any, Any, State], form_id: FromPath[str]
    ) -> PublicDefinition:
        form = forms.get(form_id)
        if form is None:
            raise ProblemError(404, "form_not_found", f"There is no form {form_id!r}.")
        issued = str(int(time.time() * 1000))
        token = f"{issued}.{hmac.new(key, issued.encode(), hashlib.sha256).hexdigest()}"
        return PublicDefinition(
            id=form.id,
            title=form.title,
            fields=[
                PublicField(
                    name=f.name,
                    label=f.label,
                    type=f.type,
                    required=f.required,
                    max_length=f.max_length,
                    options=f.options,
                )
                for f in form.fields
            ],
            messages={
                "success": form.messages.success,
                "error": form.messages.error,
                "phone_valid": form.messages.phone_valid,
            },
            phone_default_region=form.phone.default_region or default_region,
            token=token,
        )

    return form_definition


def _wants_html(accept: str) -> bool:
    """True when ``accept`` lists ``text/html`` before any JSON type (what a navigating form sends)."""
    for part in accept.split(","):
        kind = part.split(";")[0].strip().lower()
        if kind == "text/html":
            return True
        if kind == "application/json" or kind.endswith("+json"):
            return False
    return False


def html_post_redirects(
    forms: dict[str, FormDefinition], base_url: str
) -> Any:  # the middleware factory Litestar calls with the next ASGI app
    """ASGI middleware factory: turn JSON answers to plain HTML posts into 303 redirects."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            match = (
                _SUBMISSIONS.match(scope.get("path", ""))
                if scope["type"] == ScopeType.HTTP
                else None
            )
            form = forms.get(match.group(1)) if match else None
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if (
                form is None
                or scope.get("method") != "POST"
                or content_type not in ("application/x-www-form-urlencoded", "multipart/form-data")
                or not _wants_html(headers.get("accept", ""))
                or not (form.redirects.success and form.redirects.error)
            ):
                await app(scope, receive, send)
                return
            success = urllib.parse.urljoin(base_url, form.redirects.success)
            error = urllib.parse.urljoin(base_url, form.redirects.error)

            async def redirect(message: Message) -> None:
                if message["type"] == "http.response.start":
                    location = success if 200 <= message["status"] < 300 else error
                    start: HTTPResponseStartEvent = {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                    }
                    await send(start)
                elif message["type"] == "http.response.body" and not message.get("more_body"):
                    end: HTTPResponseBodyEvent = {
                        "type": "http.response.body",
                        "body": b"",
                        "more_body": False,
                    }
                    await send(end)

            await app(scope, receive, redirect)

        return wrapped

    return middleware
