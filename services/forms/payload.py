"""A submission's body, read and decoded: ``application/json``, ``application/x-www-form-urlencoded``
or ``multipart/form-data`` into one ``{field: value}`` dict, within the form's ``max_body_bytes``
and :data:`MAX_FIELDS`. Every refusal is a :class:`~frontdesk.problems.ProblemError` the
submission route answers with the form's texts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.datastructures import Headers, State
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Receive, ReceiveMessage

from frontdesk.problems import ProblemError
from frontdesk.submissions.definition import FormDefinition

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# More fields than any contact form has: a body with more is refused before validation, so 10,000
# unknown fields cannot buy a 10,000-entry error list (found by tests/hostile).
MAX_FIELDS = 100


def _too_many_fields() -> ProblemError:
    return ProblemError(
        413, "too_many_fields", f"A submission carries at most {MAX_FIELDS} fields."
    )


def _too_large(form: FormDefinition) -> ProblemError:
    return ProblemError(
        413, "body_too_large", f"The body is larger than {form.max_body_bytes} bytes."
    )


def _invalid_encoding() -> ProblemError:
    return ProblemError(400, "invalid_encoding", "The body is not valid UTF-8.")


class _OverLimit(Exception):
    """More body bytes arrived than the form takes."""


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` raising :class:`_OverLimit` once the body passes ``limit`` bytes."""
    received = 0

    async def capped() -> ReceiveMessage:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))  # optional in ASGI
            if received > limit:
                raise _OverLimit
        return message

    return capped


async def _read_body(request: Request[Any, Any, State], form: FormDefinition) -> bytes:
    """The whole body; raises 413 ``body_too_large`` or 400 ``incomplete_body``.

    A body without ``Content-Length`` (chunked) is read no further than the form's
    ``max_body_bytes`` and the chunk that passes it: the route's ``request_max_body_size`` (10 MB,
    the most any form may take) would otherwise be read first, 150 times the default form's 64 KiB
    for every such post. Past the limit the answer is this form's 413 — with the CORS headers, the
    form's message and, for a plain HTML post, the page (found by a new user's trial: a script on
    an allowed origin could not read Litestar's bare one). Litestar raises
    ``InternalServerException`` (a 500) when the client disconnects before its announced
    ``Content-Length`` arrived; that is the client's fault: 400 ``incomplete_body``.
    """
    request.receive = _capped(request.receive, form.max_body_bytes)
    try:
        return await request.body()
    except (RequestEntityTooLarge, _OverLimit):
        raise _too_large(form) from None
    except InternalServerException:
        raise ProblemError(
            400, "incomplete_body", "The request body ended before its announced length."
        ) from None


def _decode_json(body: bytes) -> dict[str, Any]:
    """A JSON object (RFC 8259, UTF-8); raises 400 ``malformed_json`` or 413 ``too_many_fields``."""
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        # msgspec raises RecursionError for arrays/objects nested deeper than the interpreter's
        # recursion limit: hostile input, answered like any malformed body.
        raise ProblemError(400, "malformed_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProblemError(400, "malformed_json", "The body must be a JSON object.")
    if len(data) > MAX_FIELDS:
        raise _too_many_fields()
    return data


def _decode_urlencoded(body: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs (WHATWG URL §5.1) in strict UTF-8: invalid
    bytes, raw or %-escaped, are refused (400 ``invalid_encoding``) instead of being stored as
    U+FFFD; more than :data:`MAX_FIELDS` pairs → 413 ``too_many_fields``.
    """
    try:
        # Only the value's "+" means a space here (WHATWG URL); "%2B" is a plus sign.
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise _invalid_encoding() from None
    except ValueError:  # parse_qsl's max_num_fields
        raise _too_many_fields() from None


async def _decode_multipart(request: Request[Any, Any, State]) -> list[tuple[str, Any]]:
    """``multipart/form-data`` parts (RFC 7578) as ``(name, value)``; raises 400
    ``invalid_encoding`` (a part that is not valid in its charset), 400 ``malformed_form``
    (unreadable, or over Litestar's 1,000-part limit) or 413 ``too_many_fields``.
    """
    try:
        items = list((await request.form()).multi_items())
    except (UnicodeDecodeError, LookupError):
        # Litestar decodes each part with its charset and lets the error through (a 500).
        raise _invalid_encoding() from None
    except Exception:
        raise ProblemError(400, "malformed_form", "The multipart body could not be read.") from None
    if len(items) > MAX_FIELDS:
        raise _too_many_fields()
    return items


async def decode_body(
    request: Request[Any, Any, State], sent: Headers, content_type: str, form: FormDefinition
) -> tuple[bytes, dict[str, Any]]:
    """``(raw body, fields)`` of a body of media type ``content_type``; raises 400
    (``malformed_json``, ``malformed_form``, ``invalid_encoding``, ``incomplete_body``), 413
    (``body_too_large``, ``too_many_fields``), 415 or 422 ``files_not_accepted``.
    """
    if content_type not in ("application/json", *FORM_TYPES):
        raise ProblemError(
            415,
            "unsupported_media_type",
            "Send application/json, application/x-www-form-urlencoded or multipart/form-data.",
        )
    length = sent.get("content-length", "")
    if length.isdigit() and int(length) > form.max_body_bytes:
        raise _too_large(form)
    body = await _read_body(request, form)
    if len(body) > form.max_body_bytes:
        raise _too_large(form)
    if content_type == "application/json":
        return body, _decode_json(body)
    if content_type == "application/x-www-form-urlencoded":
        return body, _collect(_decode_urlencoded(body))
    items = await _decode_multipart(request)  # parses the body read above (Litestar caches it)
    if any(not isinstance(value, str) for _, value in items):
        raise ProblemError(422, "files_not_accepted", "This form does not accept file uploads.")
    return body, _collect(items)


def _collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Pairs to a dict; a repeated name becomes a list (a field error later, never a 500)."""
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields
