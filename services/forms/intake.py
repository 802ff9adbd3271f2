"""``POST /v1/forms/{form}/submissions``: body decoding, origin check, validation, spam checks,
rate limits, idempotency and duplicates, storage — then the answer (JSON here; problem+json and
the plain-HTML-post answers in ``answer.py``). See DESIGN.md "Forms API" and "Submission
lifecycle" and docs/forms.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import redis
from litestar import Request, Response
from litestar.datastructures import Headers, State
from litestar.enums import MediaType
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Receive, ReceiveMessage

from frontdesk import metrics, replicas
from frontdesk.logging import REQUEST_ID
from frontdesk.networks import normalise_origin
from frontdesk.problems import ProblemError
from frontdesk.requestid import new_request_id
from frontdesk.submissions.budget import (
    HELD_REASON,
    auto_reply_skip,
    form_tiers,
    plan,
    queued_messages,
)
from frontdesk.submissions.claims import (
    Claim,
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
from services.forms.answer import HtmlAnswer, problem_answer, texts
from services.forms.captcha import RESPONSE_FIELDS, verify_captcha
from services.forms.state import FormsState
from services.forms.timetrap import check_token
from services.forms.validate import Outcome, validate
from services.forms.web import (
    address_bucket,
    client_address,
    forwarded_for_lines,
    origin_allowed,
    pick_language,
    posting_origin,
    wants_html,
)

log = logging.getLogger("frontdesk.forms")

_ACCEPTED_ENCODER = msgspec.json.Encoder()
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# More fields than any contact form has: a body with more is refused before validation, so 10,000
# unknown fields cannot buy a 10,000-entry error list (found by tests/hostile).
MAX_FIELDS = 100


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


async def _decode_body(
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
    language = [pick_language(form, None, sent.get("accept-language"))]
    try:
        accepted, next_target = await _intake(request, sent, content_type, state, form, language)
    except ProblemError as exc:
        metrics.submission_rejected(form.id, exc.code)
        if html_post:
            return _html(request, state, form, language[0], headers).error(exc)
        return problem_answer(exc, form, language[0], headers)
    if html_post:
        return _html(request, state, form, language[0], headers).success(
            accepted.message, next_target
        )
    # Encoded here: Litestar's own encoding of a Struct goes through its type-encoder lookup.
    return Response(
        content=_ACCEPTED_ENCODER.encode(accepted),
        status_code=201,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _html(
    request: Request[Any, Any, State],
    state: FormsState,
    form: FormDefinition,
    language: str,
    headers: dict[str, str],
) -> HtmlAnswer:
    return HtmlAnswer(form, language, state.base_url, request.headers.get("referer"), headers)


async def _intake(
    request: Request[Any, Any, State],
    sent: Headers,
    content_type: str,
    state: FormsState,
    form: FormDefinition,
    answer_language: list[str],
) -> tuple[Accepted, str | None]:
    """Decode, check and store; returns ``(answer, _next target)`` or raises ProblemError.
    ``sent`` are the request's headers, ``content_type`` its media type (lower case).
    ``answer_language[0]`` is updated to the posted ``_language`` once the body is read.
    """
    present, origin = posting_origin(sent.get("origin"), sent.get("referer"))
    if present and not origin_allowed(form, origin):
        raise ProblemError(
            403, "origin_not_allowed", "Submissions to this form are not accepted from this site."
        )
    body, data = await _decode_body(request, sent, content_type, form)
    posted_language = _text(data.get("_language"))
    if posted_language:  # else the Accept-Language choice already made stands
        answer_language[0] = pick_language(form, posted_language, sent.get("accept-language"))
    language = answer_language[0]
    outcome = validate(form, data, state.default_region, language)
    success_text, _ = texts(form, language)
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
    reasons = await _spam_reasons(state, form, data, flags)
    limits = _limits(state, form, address_bucket(ip, state.settings.ipv6_prefix))
    if form.spam.captcha is not None:
        # The provider is asked only for a post the limits take (each call costs a round trip
        # to a third party, and some providers bill it).
        await _check_limits(state, form, limits, _tiers(state, form, flags, reasons))
        reasons += await _captcha_reasons(state, form, data, ip)
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


async def _spam_reasons(
    state: FormsState, form: FormDefinition, data: dict[str, Any], flags: list[str]
) -> list[str]:
    """Quarantine reasons but the CAPTCHA's (empty: a person so far); adds ``no_token`` to
    ``flags`` when it is missing (and ``token_expired`` too when it is past the form's
    ``token_lifetime_hours``).
    """
    reasons: list[str] = []
    honeypot = data.get(form.spam.honeypot)
    values = honeypot if isinstance(honeypot, list) else [honeypot]
    if any(v not in (None, "", False) and (not isinstance(v, str) or v.strip()) for v in values):
        reasons.append("honeypot")
    token = data.get("_token")
    if token in (None, ""):
        flags.append("no_token")
    else:
        try:
            secret = await state.secret()
        except redis.RedisError:
            raise _unavailable(form) from None
        verdict = (
            check_token(
                secret,
                form.id,
                token,
                form.spam.min_fill_seconds,
                lifetime=form.spam.token_lifetime_hours * 3600,
                legacy=state.legacy,
            )
            if isinstance(token, str)
            else "forged"
        )
        if verdict == "expired":  # counts as missing; the second flag tells staff why
            flags += ["no_token", "token_expired"]
        elif verdict == "missing":  # signed with the key before the upgrade
            flags.append("no_token")
        elif verdict != "ok":
            reasons.append(f"token_{verdict}")
    return reasons


async def _captcha_reasons(
    state: FormsState, form: FormDefinition, data: dict[str, Any], ip: str
) -> list[str]:
    """``[captcha_failed]`` or ``[captcha_unavailable]`` unless the provider passes the post."""
    captcha = form.spam.captcha
    if captcha is None:
        return []
    response = _text(data.get(RESPONSE_FIELDS[captcha.provider]))
    result = await verify_captcha(
        captcha,
        state.settings.captcha_secret,
        response,
        ip,
        verify_url=state.settings.captcha_verify_url,
    )
    return [] if result == "passed" else [f"captcha_{result}"]


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
