"""The forms service's Litestar app: ``create_app(settings)``."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery

from frontdesk.problems import (
    ProblemError,
    exception_handlers,
    problem_response,
    problem_responses,
)
from frontdesk.redis import connect
from frontdesk.settings import Settings
from services.content.loader import load_site
from services.forms.definition import FormDefinition, load_forms
from services.forms.phone import METADATA_VERSION, check_phone, normalise_region
from services.forms.record import MessageKind, MessageState, Submission, new_submission_id
from services.forms.store import StoreUnavailable, SubmissionStore, retry_schedule
from services.forms.validate import message_for, validate

log = logging.getLogger("frontdesk.forms")


class Accepted(msgspec.Struct, kw_only=True):
    """201 answer to an accepted submission."""

    ok: bool
    id: str
    message: str


class PhoneCheck(msgspec.Struct, kw_only=True):
    """``GET /v1/phone/check``: libphonenumber's verdict on one number (see DESIGN.md)."""

    possible: bool
    valid: bool
    reason: str | None
    message: str
    e164: str | None
    national: str | None
    international: str | None
    extension: str | None
    type: str | None
    region: str | None
    metadata_version: str


class FormsState(msgspec.Struct, kw_only=True):
    """What the handlers share: settings, form definitions, the site's default region, the store."""

    settings: Settings
    forms: dict[str, FormDefinition]
    default_region: str
    store: SubmissionStore


def _state(request: Request[Any, Any, State]) -> FormsState:
    state: FormsState = request.app.state.forms
    return state


def _form(state: FormsState, form_id: str) -> FormDefinition:
    form = state.forms.get(form_id)
    if form is None:
        raise ProblemError(404, "form_not_found", f"There is no form {form_id!r}.")
    return form


async def _read_body(request: Request[Any, Any, State]) -> bytes:
    """The whole body (at most Litestar's ``request_max_body_size``, else 413).

    Litestar raises ``InternalServerException`` (a 500) when the client disconnects before its
    announced ``Content-Length`` arrived; that is the client's fault: 400 ``incomplete_body``.
    """
    try:
        return await request.body()
    except InternalServerException:
        raise ProblemError(
            400, "incomplete_body", "The request body ended before its announced length."
        ) from None


# More fields than any contact form has: a body with more is refused before validation, so
# 10,000 unknown fields cannot buy a 10,000-entry error list.
MAX_FIELDS = 100


def _too_many_fields() -> ProblemError:
    return ProblemError(
        413, "too_many_fields", f"A submission carries at most {MAX_FIELDS} fields."
    )


def _invalid_encoding() -> ProblemError:
    return ProblemError(400, "invalid_encoding", "The body is not valid UTF-8.")


def _parse_urlencoded(body: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs (WHATWG URL §5.1), decoded as strict UTF-8:
    invalid bytes, raw or %-escaped, are refused instead of being stored as U+FFFD.
    """
    try:
        return urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise _invalid_encoding() from None
    except ValueError:  # parse_qsl's max_num_fields
        raise _too_many_fields() from None


async def _read_fields(request: Request[Any, Any, State]) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = msgspec.json.decode(await _read_body(request))
        except (msgspec.DecodeError, RecursionError):
            # msgspec raises RecursionError for arrays/objects nested deeper than the
            # interpreter's recursion limit: hostile input, answered like any malformed body.
            raise ProblemError(400, "malformed_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ProblemError(400, "malformed_json", "The body must be a JSON object.")
        if len(data) > MAX_FIELDS:
            raise _too_many_fields()
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        body = await _read_body(request)  # form() parses the cached body
        items: list[tuple[str, Any]]
        if content_type == "multipart/form-data":
            try:
                items = list((await request.form()).multi_items())
            except (UnicodeDecodeError, LookupError):
                # Litestar decodes each part with its charset and lets the error through (500).
                raise _invalid_encoding() from None
        else:
            items = _parse_urlencoded(body)
        fields: dict[str, Any] = {}
        for key, value in items:
            if not isinstance(value, str):
                raise ProblemError(
                    422, "files_not_accepted", "This form does not accept file uploads."
                )
            if key in fields:
                previous = fields[key]
                fields[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                fields[key] = value
        if len(fields) > MAX_FIELDS:
            raise _too_many_fields()
        return fields
    raise ProblemError(
        415,
        "unsupported_media_type",
        "Send application/json, application/x-www-form-urlencoded or multipart/form-data.",
    )


@dataclass
class SubmitOperation(Operation):
    """OpenAPI operation of the submission endpoint: the handler reads its body itself (three media
    types), so the body is documented here: an object of field name → text value.
    """

    def __post_init__(self) -> None:
        fields = Schema(
            type=OpenAPIType.OBJECT,
            additional_properties=Schema(type=OpenAPIType.STRING),
            min_properties=1,
            description="Field name → value; names starting with `_` are reserved.",
        )
        self.request_body = RequestBody(
            required=True,
            content={media: OpenAPIMediaType(schema=fields) for media in SUBMISSION_MEDIA_TYPES},
        )


SUBMISSION_MEDIA_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)


@post(
    "/v1/forms/{form_id:str}/submissions",
    status_code=201,
    summary="Submit a form",
    operation_class=SubmitOperation,
    responses=problem_responses(400, 404, 413, 415, 422, 503),
)
async def submit(request: Request[Any, Any, State], form_id: FromPath[str]) -> Response[Accepted]:
    """Validate, store and queue the staff notification; 201 ``{ok, id, message}``.

    422 problem+json with ``message`` (the form's error text) and ``errors: [{field, code,
    message}]``; 503 when the submission could not be stored. Never a 2xx for an unstored one.
    """
    state = _state(request)
    form = _form(state, form_id)
    data = await _read_fields(request)
    outcome = validate(form, data, state.default_region)
    if outcome.errors:
        return problem_response(  # type: ignore[return-value]
            422,
            "validation_failed",
            "Some fields need attention.",
            message=form.messages.error,
            errors=msgspec.to_builtins(outcome.errors),
        )
    submission = Submission(
        id=new_submission_id(),
        form=form.id,
        status="received",
        created_at=dt.datetime.now(dt.UTC),
        fields=outcome.fields,
        phone=outcome.phone,
        flags=outcome.flags,
        request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
        messages=[MessageState(kind="staff")],
    )
    kinds: list[MessageKind] = ["staff"]
    try:
        await anyio.to_thread.run_sync(state.store.save, submission, form.retention_days, kinds)
    except StoreUnavailable:
        log.exception("submission %s could not be stored", submission.id)
        raise ProblemError(
            503,
            "store_unavailable",
            "The submission could not be stored; nothing was kept. Try again shortly.",
            extra={"message": form.messages.error},
            headers={"Retry-After": "5"},
        ) from None
    log.info("submission %s accepted for form %s", submission.id, form.id)
    body = Accepted(ok=True, id=submission.id, message=form.messages.success)
    return Response(content=body, status_code=201)


@get(
    "/v1/phone/check",
    summary="Check a phone number as a submission would",
    responses=problem_responses(400, 404),
)
async def phone_check(
    request: Request[Any, Any, State],
    number: FromQuery[str],
    region: FromQuery[str | None] = None,
    form: FromQuery[str | None] = None,
) -> PhoneCheck:
    """The same verdict a submission gets; unparseable input is ``valid: false``, never a 5xx."""
    state = _state(request)
    definition = _form(state, form) if form else None
    policy = definition.phone.policy if definition else "possible"
    default = (definition.phone.default_region if definition else None) or state.default_region
    verdict = check_phone(number, normalise_region(region) or default, policy)
    if verdict.valid:
        message = definition.messages.phone_valid if definition else "Valid number"
    elif definition:
        message = message_for(definition, verdict.reason or "invalid_number", phone=True)
    else:
        message = "Invalid number"
    return PhoneCheck(
        possible=verdict.possible,
        valid=verdict.valid,
        reason=verdict.reason,
        message=message,
        e164=verdict.e164,
        national=verdict.national,
        international=verdict.international,
        extension=verdict.extension,
        type=verdict.type,
        region=verdict.region,
        metadata_version=METADATA_VERSION,
    )


@get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process answers."""
    return {"status": "ok"}


@get("/health/ready", summary="Redis answers", responses=problem_responses(503))
async def ready(request: Request[Any, Any, State]) -> dict[str, str]:
    """200 ``{"status": "ok"}`` when Redis answers a PING; else 503 problem+json."""
    state = _state(request)
    try:
        await anyio.to_thread.run_sync(state.store.redis.ping)
    except Exception as exc:
        raise ProblemError(503, "redis_unavailable", f"Redis does not answer: {exc}") from None
    return {"status": "ok"}


def create_app(settings: Settings) -> Litestar:
    """Load the forms of ``settings.site_dir`` and build the app; raises on a bad site directory."""
    site = load_site(settings.site_dir)
    forms = load_forms(settings.site_dir)
    store = SubmissionStore(
        connect(settings.redis_url),
        settings.queue_name,
        retry_schedule(settings.retry_base_seconds, settings.retry_max_hours),
        int(settings.job_timeout),
    )
    state = FormsState(
        settings=settings, forms=forms, default_region=site.config.default_region, store=store
    )
    origins = sorted({o for f in forms.values() for o in (f.allowed_origins or ["*"])})
    return Litestar(
        route_handlers=[submit, phone_check, live, ready],
        state=State({"forms": state}),
        exception_handlers=exception_handlers(),
        cors_config=CORSConfig(
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "Accept", "Accept-Language", "Idempotency-Key"],
        ),
        openapi_config=OpenAPIConfig(title="Frontdesk forms API", version="1"),
    )
