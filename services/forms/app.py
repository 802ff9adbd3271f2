"""The forms service's public Litestar app: ``create_app(settings)``.

Form definitions, submissions, phone checks, the embed script and bare health. Metrics, worker
health, health detail and the staff API are on the internal port (services/forms/internal.py).
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
import redis
from litestar import HttpMethod, Litestar, Request, Response, get, post, route
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from frontdesk.apidocs import openapi_config
from frontdesk.entry import EntryApp
from frontdesk.metrics import RequestCounters, prometheus
from frontdesk.problems import (
    ProblemError,
    exception_handlers,
    problem_responses,
)
from frontdesk.redis import connect, connect_async
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.problems import missing_form
from frontdesk.submissions.ratelimit import Limit
from frontdesk.submissions.store import SubmissionStore, retry_schedule
from services.forms.captcha import RESPONSE_FIELDS
from services.forms.embed import EmbedScript, embed_script_handler
from services.forms.front import SubmissionDoor
from services.forms.health import live, public_ready
from services.forms.intake import cors_headers, submit_form
from services.forms.openapi import SubmitOperation
from services.forms.phone import METADATA_VERSION, check_phone, normalise_region
from services.forms.reloading import reloading_forms
from services.forms.state import FormsState
from services.forms.timetrap import issue_token
from services.forms.validate import message_for, published_codes
from services.forms.web import client_bucket, forwarded_for_lines, pick_language

PHONE_CHECKS_PER_MINUTE = 120

log = logging.getLogger("frontdesk.forms")


class PhoneCheck(msgspec.Struct, kw_only=True):
    """``GET /v1/phone/check``: libphonenumber's verdict on one number (see DESIGN.md)."""

    possible: bool
    valid: bool
    accepted: bool
    """Whether a submission takes this number under the form's phone policy: under ``possible`` a
    possible but not valid number is accepted (and flagged ``phone_unverified`` for staff)."""
    reason: str | None
    message: str
    e164: str | None
    national: str | None
    international: str | None
    extension: str | None
    type: str | None
    region: str | None
    metadata_version: str


def _state(request: Request[Any, Any, State]) -> FormsState:
    state: FormsState = request.app.state.forms
    return state


def _form(state: FormsState, form_id: str) -> FormDefinition:
    form = state.forms.get(form_id)
    if form is None:
        raise missing_form(state.catalog.broken, form_id)
    return form


class FieldInfo(msgspec.Struct, kw_only=True):
    """One field of the public definition."""

    name: str
    label: str
    type: str
    required: bool
    max_length: int | None
    options: list[str]


class PublicPhone(msgspec.Struct, kw_only=True):
    """The phone policy and default region (the form's, else the site's)."""

    policy: str
    default_region: str


class PublicCaptcha(msgspec.Struct, kw_only=True):
    """What the page needs to render the CAPTCHA widget (never the secret)."""

    provider: str
    site_key: str
    response_field: str


class PublicMessages(msgspec.Struct, kw_only=True):
    """Texts in the chosen language: success, error, phone_valid and per-code ones."""

    success: str
    error: str
    phone_valid: str
    codes: dict[str, str]


class PublicDefinition(msgspec.Struct, kw_only=True):
    """``GET /v1/forms/{form}``: what a page needs to render and submit the form."""

    id: str
    title: str
    action: str
    language: str
    fields: list[FieldInfo]
    phone: PublicPhone
    messages: PublicMessages
    honeypot: str
    token: str
    min_fill_seconds: float
    captcha: PublicCaptcha | None


ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
# X-Request-ID: docs/api.md invites scripts to send their own id.
PREFLIGHT_HEADERS = "Content-Type, Accept, Accept-Language, Idempotency-Key, X-Request-ID"


@get(
    ["/v1/forms/{form_id:str}"],
    summary="The public definition of a form, with a fresh time-trap token",
    responses=problem_responses(400, 404, 503),
)
async def definition(
    request: Request[Any, Any, State], form_id: FromPath[str]
) -> Response[PublicDefinition]:
    """Fields, labels, messages (``Accept-Language``), phone default region and a fresh ``token``.

    Readable from any origin; ``Cache-Control: no-store`` because every answer has its own token.
    503 problem+json when the signing secret cannot be read from Redis.
    """
    state = _state(request)
    form = _form(state, form_id)
    language = pick_language(form, None, request.headers.get("accept-language"))
    try:
        secret = await state.secret()
    except redis.RedisError:
        raise ProblemError(503, "store_unavailable", "Redis does not answer.") from None
    translation = form.messages.languages.get(language)
    captcha = form.spam.captcha
    body = PublicDefinition(
        id=form.id,
        title=form.title,
        action=f"{state.settings.forms_public_url.rstrip('/')}/v1/forms/{form.id}/submissions",
        language=language,
        fields=[
            FieldInfo(
                name=f.name,
                label=f.label,
                type=f.type,
                required=f.required,
                max_length=f.max_length,
                options=f.options,
            )
            for f in form.fields
        ],
        phone=PublicPhone(
            policy=form.phone.policy,
            default_region=form.phone.default_region or state.default_region,
        ),
        messages=PublicMessages(
            success=(translation.success if translation else None) or form.messages.success,
            error=(translation.error if translation else None) or form.messages.error,
            phone_valid=(translation.phone_valid if translation else None)
            or form.messages.phone_valid,
            codes=published_codes(form, language),
        ),
        honeypot=form.spam.honeypot,
        token=issue_token(secret, form.id),
        min_fill_seconds=form.spam.min_fill_seconds,
        captcha=PublicCaptcha(
            provider=captcha.provider,
            site_key=captcha.site_key,
            response_field=RESPONSE_FIELDS[captcha.provider],
        )
        if captcha
        else None,
    )
    headers = {**ANY_ORIGIN, "Cache-Control": "no-store", "Vary": "Accept-Language"}
    return Response(content=body, headers=headers)


@post(
    ["/v1/forms/{form_id:str}/submissions"],
    status_code=201,
    summary="Submit a form",
    request_max_body_size=10_000_000,
    operation_class=SubmitOperation,
    responses=problem_responses(400, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def submit(request: Request[Any, Any, State], form_id: FromPath[str]) -> Response[Any]:
    """Validate, store and queue the staff notification; 201 ``{ok, id, message}``.

    422 problem+json with ``message`` (the form's error text) and ``errors: [{field, code,
    message}]``; 400, 403, 409, 413, 415, 429, 503 as DESIGN.md lists; plain HTML posts get 303 or
    a small HTML page. Never a 2xx for an unstored submission.
    """
    state = _state(request)
    form = state.forms.get(form_id)
    if form is None:
        raise missing_form(state.catalog.broken, form_id, headers={"Vary": "Origin"})
    return await submit_form(request, state, form)


@route(
    ["/v1/forms/{form_id:str}/submissions"],
    http_method=[HttpMethod.OPTIONS],
    include_in_schema=False,
)
async def preflight(request: Request[Any, Any, State], form_id: FromPath[str]) -> Response[None]:
    """CORS preflight: 204 echoing an allowed origin, ``Vary: Origin`` and the allowed headers;
    another origin gets 204 without ``Access-Control-Allow-Origin``. Never a redirect or an auth
    challenge. ``Allow`` lists what this port serves: the staff list of the same path is on the
    internal port.
    """
    state = _state(request)
    headers = cors_headers(state.forms.get(form_id), request.headers.get("origin"))
    if "Access-Control-Allow-Origin" in headers:
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": PREFLIGHT_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    headers["Allow"] = "POST, OPTIONS"
    return Response(content=None, status_code=204, headers=headers)


@get(
    "/v1/phone/check",
    summary="Check a phone number as a submission would",
    responses=problem_responses(400, 404, 429, 503),
)
async def phone_check(
    request: Request[Any, Any, State],
    number: FromQuery[str],
    region: FromQuery[str | None] = None,
    form: FromQuery[str | None] = None,
    language: FromQuery[str | None] = None,
) -> Response[PhoneCheck]:
    """The same verdict a submission gets; unparseable input is ``valid: false``, never a 5xx."""
    state = _state(request)
    definition = _form(state, form) if form else None
    policy = definition.phone.policy if definition else "possible"
    default = (definition.phone.default_region if definition else None) or state.default_region
    await _limit_phone_checks(request, state)
    verdict = check_phone(number, normalise_region(region) or default, policy, national=True)
    if definition is None:
        message = "Valid number" if verdict.valid else "Invalid number"
        if verdict.accepted and not verdict.valid:
            message = DEFAULT_MESSAGES["phone_unverified"]
    else:
        tag = pick_language(definition, language, request.headers.get("accept-language"))
        translation = definition.messages.languages.get(tag)
        if verdict.valid:
            message = (
                translation.phone_valid if translation else None
            ) or definition.messages.phone_valid
        else:
            # Accepted but not valid: the submission goes through, so the widget must not say
            # "Invalid number" (the page and the server never disagree).
            code = "phone_unverified" if verdict.accepted else verdict.reason or "invalid_number"
            message = message_for(definition, code, tag)
    body = PhoneCheck(
        possible=verdict.possible,
        valid=verdict.valid,
        accepted=verdict.accepted,
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
    return Response(content=body, headers=ANY_ORIGIN)


async def _limit_phone_checks(request: Request[Any, Any, State], state: FormsState) -> None:
    """120 checks a minute per client bucket (``client_bucket``: an IPv6 client's /64); lifted by
    ``FRONTDESK_RATE_LIMITS=off``. When Redis does not answer, the check still runs: it needs no
    storage.
    """
    if not state.settings.rate_limits:
        return
    peer = request.client.host if request.client else None
    bucket = client_bucket(
        peer,
        forwarded_for_lines(request.headers),
        state.trusted_proxies,
        state.settings.ipv6_prefix,
    )
    try:
        wait = await state.limiter.hit([Limit(f"phone:{bucket}", PHONE_CHECKS_PER_MINUTE, 60)])
    except redis.RedisError:
        return
    if wait:
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many checks; try again in {wait} seconds.",
            headers={"Retry-After": str(wait), **ANY_ORIGIN},
        )


class FormsApp(EntryApp):
    """The forms app: its :attr:`entry` (set by :func:`create_app`) is the request-id middleware
    around the submissions' front door and :meth:`routed`, so every answer carries
    ``X-Request-ID``, unrouted 404s and 405s too.
    """


def forms_state(settings: Settings, catalog: Catalog | None = None) -> FormsState:
    """Load the forms of ``settings.site_dir`` (unless ``catalog`` is given: the public app's, for
    the internal app of the same process) and connect to Redis (a sync client for the store and RQ,
    an asyncio one for the submission path).

    Broken form files do not stop the service (their forms answer 503 until fixed); raises
    ``ValueError`` when ``site.yaml`` gives no ``base_url`` (nothing to resolve redirects against).
    Pages and collections are the content service's: this service never reads them.
    """
    if catalog is None:
        catalog = Catalog(settings.site_dir)
        catalog.load()
        if catalog.site is None:
            raise ValueError(f"{settings.site_dir}: {catalog.site_problem}")
    store = SubmissionStore(
        connect(settings.redis_url),
        settings.queue_name,
        retry_schedule(settings.retry_base_seconds, settings.retry_max_hours),
        int(settings.job_timeout),
    )
    connection = connect_async(settings.redis_url)
    return FormsState(settings, catalog, store, connection)


def create_app(settings: Settings) -> FormsApp:
    """Load the forms of ``settings.site_dir`` and build the app; raises on a bad ``site.yaml``.

    While it serves, the forms and ``site.yaml`` reload on a change of the site directory and on
    ``SIGHUP`` (:mod:`services.forms.reloading`).
    """
    state = forms_state(settings)

    def lifespan(_: Litestar) -> AbstractAsyncContextManager[None]:
        return reloading_forms(state.catalog, settings)

    counters = RequestCounters("forms")
    # The middleware counts this app's requests; /metrics itself is on the internal port.
    metrics_middleware, _ = prometheus("forms", counters=counters)
    # No global CORSConfig: it cannot follow each form's allowed_origins. The submission route
    # answers CORS itself (preflight + headers); public reads send "Access-Control-Allow-Origin: *".
    # The preflight comes first: Litestar adds its own OPTIONS handler to a path that has none yet.
    app = FormsApp(
        route_handlers=[
            preflight,
            definition,
            submit,
            phone_check,
            live,
            public_ready,
            embed_script_handler(EmbedScript.load()),
        ],
        # The metrics middleware stays inside Litestar: it labels requests by route template.
        middleware=[metrics_middleware],
        logging_config=None,  # frontdesk.logging configures every process (JSON lines)
        state=State({"forms": state}),
        exception_handlers=exception_handlers(),
        on_shutdown=[state.redis.aclose],
        lifespan=[lifespan],
        openapi_config=openapi_config(title="Frontdesk forms API", version="1"),
    )
    # Outside Litestar, so unrouted answers get the id too; it binds REQUEST_ID for the handlers
    # (the submission record, the job's meta) and the log lines. Behind it, the front door takes
    # submissions to defined forms past Litestar's routing (services/forms/front.py).
    app.entry = RequestIdMiddleware(SubmissionDoor(app, state, app.routed, counters))
    return app
