"""``POST /v1/forms/{form}/submissions``: origin check, body (read and decoded in ``payload.py``),
validation, spam checks, rate limits, idempotency and duplicates, storage — then the answer (JSON
here; problem+json and the plain-HTML-post answers in ``answer.py``). See docs/api.md and
docs/forms.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NamedTuple

import msgspec
import redis
from litestar import Request, Response
from litestar.datastructures import Headers, State
from litestar.enums import MediaType

from frontdesk import metrics
from frontdesk.logging import REQUEST_ID
from frontdesk.networks import address_bucket, client_address, forwarded_for_lines, normalise_origin
from frontdesk.problems import ProblemError
from frontdesk.requestid import new_request_id
from frontdesk.submissions import replicas
from frontdesk.submissions.budget import (
    HELD_REASON,
    auto_reply_skip,
    form_tiers,
    plan,
    queued_messages,
)
from frontdesk.submissions.claims import (
    ClaimTimeout,
    IdempotencyConflict,
    RateLimited,
    Stored,
    duplicate_claim,
    idempotency_claim,
)
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.ratelimit import Limit, Tier
from frontdesk.submissions.record import MessageKind, Submission, new_submission_id
from frontdesk.submissions.script import Claim
from services.forms.altcha import require_solution
from services.forms.answer import HtmlAnswer, problem_answer
from services.forms.payload import decode_body
from services.forms.source import inquiry_source
from services.forms.spam import captcha_reasons, spam_reasons
from services.forms.state import FormsState
from services.forms.validate import Outcome, validate
from services.forms.web import origin_allowed, pick_language, posting_origin, wants_html

log = logging.getLogger("frontdesk.forms")

_ACCEPTED_ENCODER = msgspec.json.Encoder()


class Accepted(msgspec.Struct, kw_only=True):
    """201 answer to an accepted submission (also to a duplicate or a replay: the first id)."""

    ok: bool
    id: str
    message: str


# Response headers a script on an allowed origin may read besides the CORS-safelisted ones: the
# request id (to quote in a report) and a 429's or 503's Retry-After.
EXPOSED_HEADERS = "X-Request-ID, Retry-After"


def cors_headers(form: FormDefinition | None, origin_header: str | None) -> dict[str, str]:
    """CORS answer headers for the submission route: the exact origin echoed when allowed (never
    ``*`` with an allowlist) with ``Access-Control-Expose-Headers``, nothing otherwise; always
    ``Vary: Origin``.
    """
    headers = {"Vary": "Origin"}
    if form is not None and origin_header and origin_allowed(form, normalise_origin(origin_header)):
        headers["Access-Control-Allow-Origin"] = origin_header
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def submit_form(
    request: Request[Any, Any, State], state: FormsState, form: FormDefinition
) -> Response[Any]:
    """The whole submission route for ``form``; every answer carries the CORS headers."""
    sent = request.headers  # looked up once: each request.headers goes through the scope state
    content_type = sent.get("content-type", "").split(";")[0].strip().lower()
    html_post = wants_html(content_type, sent.get("accept", ""))
    headers = cors_headers(form, sent.get("origin"))
    # The answer's language: Accept-Language, until a posted _language says otherwise.
    language = pick_language(form, None, sent.get("accept-language"))
    try:
        received = await _receive(request, sent, content_type, form)
        posted_language = _text(received.data.get("_language"))
        if posted_language:  # else the Accept-Language choice already made stands
            language = pick_language(form, posted_language, sent.get("accept-language"))
        accepted, next_target = await _intake(request, sent, state, form, received, language)
    except ProblemError as exc:
        metrics.submission_rejected(form.id, exc.code)
        if html_post:
            return _html(request, state, form, language, headers).error(exc)
        return problem_answer(exc, form, language, headers)
    if html_post:
        return _html(request, state, form, language, headers).success(accepted.message, next_target)
    # Encoded here: Litestar's own encoding of a Struct goes through its type-encoder lookup.
    return Response(
        content=_ACCEPTED_ENCODER.encode(accepted),
        status_code=201,
        media_type=MediaType.JSON,
        headers=headers,
    )


def html_post(request: Request[Any, Any, State]) -> bool:
    """Whether ``request`` is a plain HTML post (services/forms/web.py ``wants_html``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return wants_html(content_type, request.headers.get("accept", ""))


def unavailable_page(
    request: Request[Any, Any, State],
    state: FormsState,
    last_good: FormDefinition,
    problem: ProblemError,
) -> Response[bytes]:
    """A plain HTML post to a form whose file broke: the answer ``problem`` (503
    ``form_unavailable``) as its last good definition would give it (its error page or redirect),
    in the language the request asks for.
    """
    language = pick_language(last_good, None, request.headers.get("accept-language"))
    headers = cors_headers(last_good, request.headers.get("origin"))
    return _html(request, state, last_good, language, headers).error(problem)


def _html(
    request: Request[Any, Any, State],
    state: FormsState,
    form: FormDefinition,
    language: str,
    headers: dict[str, str],
) -> HtmlAnswer:
    return HtmlAnswer(form, language, state.base_url, request.headers.get("referer"), headers)


class _Received(NamedTuple):
    """A submission's body as read: whether it named its origin (``Origin`` or ``Referer``), its
    bytes and its decoded fields.
    """

    origin_present: bool
    body: bytes
    data: dict[str, Any]


async def _receive(
    request: Request[Any, Any, State], sent: Headers, content_type: str, form: FormDefinition
) -> _Received:
    """The origin check, then the body read and decoded (:func:`~services.forms.payload.decode_body`);
    raises ProblemError. ``sent`` are the request's headers, ``content_type`` its media type
    (lower case).
    """
    present, origin = posting_origin(sent.get("origin"), sent.get("referer"))
    if present and not origin_allowed(form, origin):
        raise ProblemError(
            403, "origin_not_allowed", "Submissions to this form are not accepted from this site."
        )
    body, data = await decode_body(request, sent, content_type, form)
    return _Received(present, body, data)


async def _intake(
    request: Request[Any, Any, State],
    sent: Headers,
    state: FormsState,
    form: FormDefinition,
    received: _Received,
    language: str,
) -> tuple[Accepted, str | None]:
    """Check and store what was ``received``, with texts in ``language``; returns ``(answer,
    _next target)`` or raises ProblemError. ``sent`` are the request's headers.
    """
    present, body, data = received
    outcome = validate(form, data, state.default_region, language, today=state.today())
    success_text = form.messages.text("success", language)
    if outcome.errors:
        raise ProblemError(
            422,
            "validation_failed",
            "Some fields need attention.",
            extra={"errors": msgspec.to_builtins(outcome.errors)},
        )
    # The client behind trusted proxies: its address for the CAPTCHA, its bucket for the limits.
    peer = request.client.host if request.client else None
    ip = client_address(peer, forwarded_for_lines(sent), state.trusted_proxies)
    flags = list(outcome.flags)
    if not present:
        flags.append("origin_unknown")
    try:
        reasons = await spam_reasons(state, form, data, flags)
    except redis.RedisError:
        raise _unavailable(form) from None
    limits = _limits(state, form, address_bucket(ip, state.settings.ipv6_prefix))
    if form.spam.captcha is not None and form.spam.captcha.provider == "altcha":
        # Checked here, by Frontdesk itself: a bad or spent solution is refused, not quarantined.
        try:
            captcha_key = await state.captcha_key()
        except redis.RedisError:
            raise _unavailable(form) from None
        await require_solution(captcha_key, state.redis, form, data, sent.get("idempotency-key"))
    elif form.spam.captcha is not None:
        # The provider is asked only for a post the limits take (each call costs a round trip
        # to a third party, and some providers bill it).
        await _check_limits(state, form, limits, _tiers(state, form, flags, reasons))
        reasons += await captcha_reasons(state, form, data, ip)
    kinds: list[MessageKind] = [] if reasons else form.message_kinds()
    kinds, messages = queued_messages(kinds, flags)
    submission = Submission(
        id=new_submission_id(),
        form=form.id,
        status="quarantined" if reasons else "received",
        created_at=dt.datetime.now(dt.UTC),
        fields=outcome.fields,
        phone=outcome.phone,
        flags=[*flags, *reasons],
        request_id=REQUEST_ID.get() or new_request_id(),
        messages=messages,
        language=language,
        quarantine_reason=reasons[0] if reasons else None,
        source=inquiry_source(form, data, sent.get("referer")),
    )
    claims = _claims(form, submission, outcome, sent.get("idempotency-key"), body)
    tiers = _tiers(state, form, flags, reasons)
    stored = await _store(state, form, submission, kinds, claims, limits, tiers)
    if not stored.replayed:
        status = "quarantined" if stored.held else submission.status
        log.info("submission %s accepted for form %s (%s)", submission.id, form.id, status)
        if stored.held or submission.quarantine_reason:
            metrics.submission_quarantined(
                form.id, HELD_REASON if stored.held else submission.quarantine_reason or ""
            )
        else:
            metrics.submission_accepted(form.id)
    else:
        log.info("submission for form %s answered with the earlier %s", form.id, stored.id)
    next_target = _text(data.get("_next"))
    if next_target not in form.redirects.next_allowed:
        next_target = None
    return Accepted(ok=True, id=stored.id, message=success_text), next_target


def _claims(
    form: FormDefinition,
    submission: Submission,
    outcome: Outcome,
    idempotency_key: str | None,
    body: bytes,
) -> list[Claim]:
    """The idempotency claim (when the header is sent) and the duplicate claim. A quarantined
    submission claims no duplicate key: a person's later identical post must not be folded into
    a quarantined one and so never reach staff.
    """
    claims: list[Claim] = []
    if idempotency_key:
        if len(idempotency_key) > 255:
            raise ProblemError(
                400, "bad_idempotency_key", "The Idempotency-Key header is over 255 characters."
            )
        claims.append(idempotency_claim(form.id, idempotency_key, body, submission.id))
    if submission.status == "quarantined":
        return claims
    email = next(
        (
            outcome.fields[f.name]
            for f in form.fields
            if f.type == "email" and f.name in outcome.fields
        ),
        "",
    )
    phone = outcome.phone.e164 or outcome.phone.raw if outcome.phone else ""
    message = next(
        (
            outcome.fields[f.name]
            for f in form.fields
            if f.type == "textarea" and f.name in outcome.fields
        ),
        "",
    )
    if email or phone or message:
        claims.append(duplicate_claim(form.id, email, phone or "", message, submission.id))
    return claims


def _limits(state: FormsState, form: FormDefinition, bucket: str) -> list[Limit]:
    """The per-client limits (past them: 429), ``bucket`` being
    :func:`~services.forms.web.client_bucket`'s; the form's own are its tiers (:func:`_tiers`).
    """
    rules = form.spam.rate_limits
    if not state.settings.rate_limits or not rules.enabled:
        return []
    return [
        Limit(f"ip:{form.id}:{bucket}", rules.per_ip_minute, 60),
        Limit(f"ip:{form.id}:{bucket}", rules.per_ip_hour, 3600),
    ]


def _tiers(
    state: FormsState, form: FormDefinition, flags: list[str], reasons: list[str]
) -> list[Tier]:
    """The form's hourly tiers; a post with a valid token and an allowed origin, not
    quarantined, draws on the verified budget too.
    """
    if not state.settings.rate_limits or not form.spam.rate_limits.enabled:
        return []
    return form_tiers(form, verified=not reasons and auto_reply_skip(flags) is None)


def _limited(limited: RateLimited) -> ProblemError:
    return ProblemError(
        429,
        "rate_limited",
        f"Too many submissions; try again in {limited.wait} seconds.",
        headers={"Retry-After": str(limited.wait)},
    )


async def _check_limits(
    state: FormsState, form: FormDefinition, limits: list[Limit], tiers: list[Tier]
) -> None:
    """Raise the 429 the submission script would answer, counting nothing (503 when Redis fails)."""
    try:
        wait = await state.limiter.check(limits, tiers)
    except redis.RedisError as exc:
        log.error("the rate limits of form %s could not be read: %s", form.id, exc)
        raise _unavailable(form) from None
    if wait:
        raise _limited(RateLimited(wait))


def _unavailable(form: FormDefinition) -> ProblemError:
    return ProblemError(
        503,
        "store_unavailable",
        "The submission could not be stored; nothing was kept. Try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _store(
    state: FormsState,
    form: FormDefinition,
    submission: Submission,
    kinds: list[MessageKind],
    claims: list[Claim],
    limits: list[Limit],
    tiers: list[Tier],
) -> Stored:
    """Rate limits, tiers, claims and the write in one round trip (asyncio client); then, with
    ``FRONTDESK_REDIS_MIN_REPLICAS``, the wait for replicas to hold the answered record (503
    ``not_replicated`` when they do not in time: a retry is answered with the same record).
    """
    write = state.store.prepare(submission, form.retention_days, kinds)
    budget = plan(state.settings, form, submission, kinds, write.record, tiers)
    settings = state.settings
    try:
        stored = await state.claimer.run(submission.id, claims, write, limits, budget)
        await replicas.confirm(
            state.redis,
            stored.id,
            settings.redis_min_replicas,
            settings.redis_min_replicas_timeout_ms,
        )
        return stored
    except replicas.NotReplicated as exc:
        log.warning("submission %s not confirmed by replicas: %s", submission.id, exc)
        raise ProblemError(
            503,
            "not_replicated",
            "The submission was not yet confirmed; send it again shortly: it will not be doubled.",
            headers={"Retry-After": "2"},
        ) from None
    except RateLimited as limited:
        raise _limited(limited) from None
    except IdempotencyConflict:
        raise ProblemError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different body.",
        ) from None
    except (redis.RedisError, ClaimTimeout) as exc:
        log.error("submission %s could not be stored: %s", submission.id, exc)
        raise _unavailable(form) from None
