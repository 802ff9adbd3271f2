"""The forms service's Litestar app: ``create_app(settings)``."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery

from frontdesk.problems import ProblemError, exception_handlers, problem_response
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


async def _read_fields(request: Request[Any, Any, State]) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            raise ProblemError(400, "malformed_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ProblemError(400, "malformed_json", "The body must be a JSON object.")
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
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
        return fields
    raise ProblemError(
        415,
        "unsupported_media_type",
        "Send application/json, application/x-www-form-urlencoded or multipart/form-data.",
    )


@post("/v1/forms/{form_id:str}/submissions", status_code=201, summary="Submit a form")
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
    kinds: list[MessageKind] = ["staff", "auto_reply"] if form.auto_reply else ["staff"]
    kinds += ["webhook"] if form.webhook else []
    submission.messages += [MessageState(kind=kind) for kind in kinds[1:]]
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


@get("/v1/phone/check", summary="Check a phone number as a submission would")
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


@get("/health/ready", summary="Redis answers")
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
