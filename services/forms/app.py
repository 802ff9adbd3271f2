"""The forms service's public Litestar app: ``create_app(settings)``.

Form definitions, submissions, phone checks, the embed script and bare health. Metrics, worker
health, health detail and the staff API are on the internal port (services/forms/internal.py).
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import redis
from litestar import HttpMethod, Litestar, Request, Response, get, post, route
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from frontdesk.apidocs import openapi_config
from frontdesk.fastpath import FastPathApp
from frontdesk.health import live, public_ready
from frontdesk.metrics import RequestCounters, prometheus
from frontdesk.problems import (
    ProblemError,
    exception_handlers,
    problem_responses,
)
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from frontdesk.submissions.access import open_access
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.problems import missing_form, store_unavailable
from services.forms.altcha import Challenge, limit_challenges, new_challenge
from services.forms.captcha import RESPONSE_FIELDS
from services.forms.embed import EmbedScript, embed_script_handler
from services.forms.fastpath import SubmissionFastPath
from services.forms.fields import public_field
from services.forms.intake import cors_headers, html_post, submit_form, unavailable_page
from services.forms.openapi import SubmitOperation
from services.forms.phonecheck import limit_phone_checks, phone_verdict
from services.forms.reloading import reloading_forms
from services.forms.schemas import (
    PhoneCheck,
    PublicCaptcha,
    PublicDefinition,
    PublicMessages,
    PublicPhone,
)
from services.forms.state import FormsState
from services.forms.timetrap import issue_token
from services.forms.validate import published_codes
from services.forms.web import ANY_ORIGIN, pick_language
from services.forms.widget import AltchaWidget, widget_handler

log = logging.getLogger("frontdesk.forms")


def _state(request: Request[Any, Any, State]) -> FormsState:
    state: FormsState = request.app.state.forms
    return state


def _form(state: FormsState, form_id: str) -> FormDefinition:
    form = state.forms.get(form_id)
    if form is None:
        raise missing_form(state.catalog.broken, form_id)
    return form


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
        raise store_unavailable() from None
    today = state.today()
    body = PublicDefinition(
        id=form.id,
        title=form.title,
        action=f"{state.settings.forms_public_url.rstrip('/')}/v1/forms/{form.id}/submissions",
        language=language,
        fields=[public_field(f, today) for f in form.fields],
        phone=PublicPhone(
            policy=form.phone.policy,
            default_region=form.phone.default_region or state.default_region,
        ),
        messages=PublicMessages(
            success=form.messages.text("success", language),
            error=form.messages.text("error", language),
            phone_valid=form.messages.text("phone_valid", language),
            codes=published_codes(form, language),
        ),
        honeypot=form.spam.honeypot,
        token=issue_token(secret, form.id),
        min_fill_seconds=form.spam.min_fill_seconds,
        captcha=_public_captcha(state, form, request.app.state.altcha_widget),
        today=today.isoformat(),
    )
    headers = {**ANY_ORIGIN, "Cache-Control": "no-store", "Vary": "Accept-Language"}
    return Response(content=body, headers=headers)


def _public_captcha(
    state: FormsState, form: FormDefinition, widget: AltchaWidget
) -> PublicCaptcha | None:
    """The CAPTCHA part of the public definition; ALTCHA's names its challenge and widget URLs."""
    captcha = form.spam.captcha
    if captcha is None:
        return None
    public = PublicCaptcha(
        provider=captcha.provider,
        site_key=captcha.site_key,
        response_field=RESPONSE_FIELDS[captcha.provider],
    )
    if captcha.provider == "altcha":
        origin = state.settings.forms_public_url.rstrip("/")
        public.challenge_url = f"{origin}/v1/forms/{form.id}/captcha/challenge"
        public.script_url = f"{origin}{widget.path}"
    return public


@get(
    ["/v1/forms/{form_id:str}/captcha/challenge"],
    summary="A fresh ALTCHA proof-of-work challenge for a form",
    responses=problem_responses(400, 404, 429, 503),
)
async def captcha_challenge(
    request: Request[Any, Any, State], form_id: FromPath[str]
) -> Response[Challenge]:
    """A challenge signed for this form (docs/forms.md "CAPTCHA"); 404 ``captcha_not_used`` when
    the form's CAPTCHA is not ``altcha``. ``Cache-Control: no-store`` (each answer is new), readable
    from any origin, 120 a minute per client (429 ``rate_limited``), 503 when the key cannot be
    read from Redis.
    """
    state = _state(request)
    form = _form(state, form_id)
    captcha = form.spam.captcha
    if captcha is None or captcha.provider != "altcha":
        raise ProblemError(
            404,
            "captcha_not_used",
            f"Form {form_id!r} has no ALTCHA challenge.",
            headers=ANY_ORIGIN,
        )
    bucket = state.access.client_bucket(request)
    await limit_challenges(state.limiter, state.settings.rate_limits, bucket)
    try:
        key = await state.captcha_key()
    except redis.RedisError:
        raise store_unavailable() from None
    headers = {**ANY_ORIGIN, "Cache-Control": "no-store"}
    # Off the event loop: issuing derives the challenge's key once (``cost`` PBKDF2 iterations).
    challenge = await anyio.to_thread.run_sync(new_challenge, key, form.id, captcha)
    return Response(content=challenge, headers=headers)


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
    message}]``; 400, 403, 409, 413, 415, 429, 503 as docs/api.md lists; plain HTML posts get 303 or
    a small HTML page. Never a 2xx for an unstored submission.
    """
    state = _state(request)
    form = state.forms.get(form_id)
    if form is None:
        problem = missing_form(state.catalog.broken, form_id, headers={"Vary": "Origin"})
        last_good = state.catalog.definitions.get(form_id)
        if last_good is not None and html_post(request):
            # A browser posting without JavaScript gets the form's own error page, not JSON.
            return unavailable_page(request, state, last_good, problem)
        raise problem
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
    bucket = state.access.client_bucket(request)
    await limit_phone_checks(state, bucket)
    accept_language = request.headers.get("accept-language")
    body = phone_verdict(state, number, region, definition, language, accept_language)
    return Response(content=body, headers=ANY_ORIGIN)


class FormsApp(FastPathApp):
    """The forms app: its :attr:`fast_path` (set by :func:`create_app`) is the request-id
    middleware around the submissions' fast path and :meth:`routed`, so every answer carries
    ``X-Request-ID``, unrouted 404s and 405s too.
    """


def forms_state(settings: Settings, catalog: Catalog | None = None) -> FormsState:
    """The forms service's state over :func:`~frontdesk.submissions.access.open_access` (the forms
    of ``settings.site_dir``, or ``catalog``: the public app's, for the internal app of the same
    process). Broken form files do not stop the service (their forms answer 503 until fixed);
    raises ``ValueError`` when ``site.yaml`` gives no ``base_url``. Pages and collections are the
    content service's: this service never reads them.
    """
    return FormsState(open_access(settings, catalog))


def create_app(settings: Settings) -> FormsApp:
    """Load the forms of ``settings.site_dir`` and build the app; raises on a bad ``site.yaml``.

    While it serves, the forms and ``site.yaml`` reload on a change of the site directory and on
    ``SIGHUP`` (:mod:`services.forms.reloading`).
    """
    state = forms_state(settings)
    widget = AltchaWidget.load()

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
            captcha_challenge,
            live,
            public_ready,
            embed_script_handler(EmbedScript.load()),
            widget_handler(widget),
        ],
        # The metrics middleware stays inside Litestar: it labels requests by route template.
        middleware=[metrics_middleware],
        logging_config=None,  # frontdesk.logging configures every process (JSON lines)
        state=State(
            {"forms": state, "redis_ping": state.store.redis.ping, "altcha_widget": widget}
        ),
        exception_handlers=exception_handlers(),
        on_shutdown=[state.redis.aclose],
        lifespan=[lifespan],
        openapi_config=openapi_config(title="Frontdesk forms API", version="1"),
    )
    # Outside Litestar, so unrouted answers get the id too; it binds REQUEST_ID for the handlers
    # (the submission record, the job's meta) and the log lines. Behind it, the fast path takes
    # submissions to defined forms past Litestar's routing (services/forms/fastpath.py).
    app.fast_path = RequestIdMiddleware(SubmissionFastPath(app, state, app.routed, counters))
    return app
