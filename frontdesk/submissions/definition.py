"""Form definitions: ``forms/<id>.yaml`` of the site directory, decoded with unknown keys refused."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from frontdesk.decoding import where_and_what
from frontdesk.settings import CHAT_NAME, CHAT_PREFIX, Settings, chat_secret
from frontdesk.site import form_files
from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.record import CHAT_KINDS, SOURCE_FIELDS, MessageKind

FieldType = Literal[
    "text",
    "email",
    "phone",
    "textarea",
    "select",
    "checkbox",
    "date",
    "time",
    "radio",
    "checkbox_group",
    "number",
    "hidden",
]
# The types whose value is one (or, for checkbox_group, several) of the field's ``options``.
OPTION_TYPES = ("select", "radio", "checkbox_group")
# The types with ``min``/``max`` bounds (``step``: number only); rules in fieldtypes.py.
BOUNDED_TYPES = ("date", "time", "number")

DEFAULT_SUCCESS = "Thank you! Your submission has been received!"
DEFAULT_ERROR = "Oops! Something went wrong while submitting the form."
# A Telegram target's secret: the bot token (``<bot id>:<key>``), "/", the chat id (a number,
# negative for groups, or a channel's @name).
TELEGRAM_SECRET = re.compile(r"(\d+:[A-Za-z0-9_-]+)/(-?\d+|@[A-Za-z0-9_]{5,})")
# The texts of :class:`Messages` that :class:`Translation` can override (error codes aside).
TextName = Literal["success", "error", "phone_valid", "back"]


class Base(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Common config: keyword-only, unknown keys refused."""


class Field(Base, kw_only=True):
    """One form field; ``max_length`` counts characters after normalisation.

    ``options``: the values of a ``select``, ``radio`` or ``checkbox_group``. ``min``/``max``: the
    bounds of a ``date`` (``YYYY-MM-DD``, or days from today in the site's time zone: ``+1d``,
    ``-7d``), a ``time`` (``"HH:MM"``, quoted: YAML reads ``10:30`` as a number) or a ``number``
    (decimal); ``step``: a number's (decimal, > 0, counted from ``min``). ``value``: what a
    ``hidden`` field stores (a posted value is ignored). Typed ``Any`` because YAML reads a date,
    a number or text depending on how a bound is written; :func:`cross_check` reads each with
    frontdesk/submissions/fieldtypes.py, which the submission check uses too.
    """

    name: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$")]
    label: str
    type: FieldType = "text"
    required: bool = False
    max_length: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    options: list[str] = []
    min: Any = None
    max: Any = None
    step: Any = None
    value: str | None = None


class PhonePolicy(Base, kw_only=True):
    """How phone fields are judged (libphonenumber): ``possible`` accepts numbers of a possible
    length and flags ``phone_unverified`` when not valid; ``valid`` refuses what is not valid.
    ``default_region`` (ISO 3166-1 alpha-2) overrides the site's.
    """

    policy: Literal["possible", "valid"] = "possible"
    default_region: str | None = None


class Translation(Base, kw_only=True):
    """The texts of one language (a BCP 47 tag such as ``fr`` or ``pt-BR``); unset ones fall back
    to the form's English texts.
    """

    success: str | None = None
    error: str | None = None
    phone_valid: str | None = None
    back: str | None = None
    codes: dict[str, str] = {}


class Messages(Base, kw_only=True):
    """Texts shown to visitors: success, error, the phone widget's ``phone_valid``, the "back"
    link of the HTML answer pages (``back``), per error code (``codes``), and per language
    (``languages``: tag → :class:`Translation`). English is the default.
    """

    success: str = DEFAULT_SUCCESS
    error: str = DEFAULT_ERROR
    phone_valid: str = "Valid number"
    back: str = "Go back"
    codes: dict[str, str] = {}
    languages: dict[str, Translation] = {}

    def text(self, name: TextName, language: str) -> str:
        """The text ``name`` in ``language`` (a tag of :attr:`languages`), else the English one:
        ``text("success", "fr")``.
        """
        translation = self.languages.get(language)
        translated: str | None = getattr(translation, name) if translation is not None else None
        english: str = getattr(self, name)
        return translated or english

    def code_text(self, code: str, language: str) -> str:
        """The text of error code ``code`` in ``language``, else the form's English one, else the
        default of :data:`~frontdesk.submissions.codes.DEFAULT_MESSAGES` (the one lookup behind an
        error's ``message`` and the public definition's ``messages.codes``).
        """
        translation = self.languages.get(language)
        if translation is not None and code in translation.codes:
            return translation.codes[code]
        if code in self.codes:
            return self.codes[code]
        return DEFAULT_MESSAGES.get(code, "This value is not accepted.")


class Redirects(Base, kw_only=True):
    """Where plain HTML posts are sent (303) after success or error: paths or allowed absolute URLs."""

    success: str | None = None
    error: str | None = None
    next_allowed: list[str] = []
    """Targets a posted ``_next`` may name (exact paths or absolute URLs); any other is ignored."""


class RateLimits(Base, kw_only=True):
    """Submissions allowed per client (an IPv4 address or IPv6 network, ``web.client_bucket``) a
    minute and an hour (past them: 429), and per form an hour. Past ``per_form_hour`` a post from
    the form page (a valid time-trap token and an allowed ``Origin``) draws on ``verified_hour``
    more and is delivered; any other post, and one past both, is kept quarantined (``form_cap``),
    at most ``held_hour`` of them an hour (past that: 429). docs/forms.md "Spam, without losing
    people".
    """

    per_ip_minute: Annotated[int, Meta(ge=1)] = 5
    per_ip_hour: Annotated[int, Meta(ge=1)] = 30
    per_form_hour: Annotated[int, Meta(ge=1)] = 300
    verified_hour: Annotated[int, Meta(ge=0)] = 100
    held_hour: Annotated[int, Meta(ge=0)] = 100
    enabled: bool = True


class Captcha(Base, kw_only=True):
    """An optional CAPTCHA verified server-side.

    ``turnstile``, ``hcaptcha`` and ``recaptcha`` need ``site_key`` and the secret
    ``FRONTDESK_CAPTCHA_SECRET``; they are verified at the provider's siteverify endpoint, or at
    ``FRONTDESK_CAPTCHA_VERIFY_URL``; ``verify_url`` is refused here (:func:`cross_check`): the
    request carries the secret, and the site directory does not decide where secrets go.
    ``timeout`` in seconds. A provider that does not answer quarantines the submission rather than
    refusing it.

    ``altcha`` is a proof of work issued and checked by Frontdesk itself (no third party, no
    ``site_key``): the visitor's browser derives PBKDF2-SHA-256 keys of ``cost`` iterations for
    counters 0, 1, 2, … until it meets the one the server drew, uniformly from 0 to
    ``max_number``; so on average ``max_number / 2`` derivations. A challenge is good for
    ``expires_minutes`` minutes and one submission (docs/forms.md "CAPTCHA").
    """

    provider: Literal["turnstile", "hcaptcha", "recaptcha", "altcha"]
    site_key: str = ""
    verify_url: str | None = None
    timeout: Annotated[float, Meta(gt=0, le=30)] = 5.0
    cost: Annotated[int, Meta(ge=1, le=1_000_000)] = 1_000
    """``altcha``: PBKDF2 iterations of each key derivation."""
    max_number: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    """``altcha``: the largest counter a challenge can ask for."""
    expires_minutes: Annotated[int, Meta(ge=1, le=1440)] = 20
    """``altcha``: how long a challenge can be solved and submitted."""


class Spam(Base, kw_only=True):
    """Spam defences: the honeypot field's name, the time trap's minimum fill time (seconds) and
    token lifetime (hours; an older token counts as missing), rate limits and an optional CAPTCHA.
    """

    honeypot: Annotated[str, Meta(pattern=r"^_[a-z0-9_]+$")] = "_gotcha"
    min_fill_seconds: Annotated[float, Meta(ge=0, le=3600)] = 3.0
    token_lifetime_hours: Annotated[float, Meta(ge=1, le=720)] = 24.0
    rate_limits: RateLimits = msgspec.field(default_factory=RateLimits)
    captcha: Captcha | None = None


class AutoReply(Base, kw_only=True):
    """The visitor's confirmation email (RFC 3834 ``Auto-Submitted: auto-replied``).

    ``subject`` and ``body`` (plain text; paragraphs split on blank lines for the HTML part) come
    only from this definition, never from the request, so the form cannot relay visitor text.
    Sent to the form's first ``email`` field; a form without one sends none.
    """

    subject: str
    body: str


class Webhook(Base, kw_only=True):
    """A JSON POST of each stored submission to ``url``, signed with HMAC-SHA256 over
    ``<timestamp>.<body>`` with the webhook key (derived from the master key); retried like email.
    ``https`` to a global address unless ops allow more (worker/destinations.py, docs/worker.md).
    """

    url: Annotated[str, Meta(pattern=r"^https?://")]


ChatFormat = Literal["slack", "teams", "discord", "telegram"]


class ChatTarget(Base, kw_only=True):
    """A chat message of each stored inquiry (docs/forms.md, "Chat notifications").

    ``format``: ``slack``, ``teams`` (an incoming webhook or a Workflows webhook taking an
    Adaptive Card), ``discord`` or ``telegram`` (Bot API ``sendMessage``). ``secret``: the name
    of the ops secret holding the URL or token, ``FRONTDESK_CHAT_<secret>``; the site directory
    never holds one (:func:`cross_check`, :func:`secrets_written`). ``full``: the message carries
    the visitor's values, and only when the form also says ``notify: full`` in so many words;
    otherwise it is a summary (the form, the time, a link to the inquiry in the inbox).
    """

    format: ChatFormat
    secret: str
    full: bool = False


# Where an editor may paste what must stay an ops secret: the URL shapes of the chat services'
# webhooks and a Telegram bot token. Found anywhere in a form file, the file is refused.
_CHAT_SECRET_SHAPES = (
    re.compile(r"hooks\.slack\.com/", re.IGNORECASE),
    re.compile(r"discord(?:app)?\.com/api/(?:v\d+/)?webhooks/", re.IGNORECASE),
    re.compile(r"\.webhook\.office\.com/|\.logic\.azure\.com|\.powerplatform\.com", re.I),
    re.compile(r"api\.telegram\.org/bot", re.IGNORECASE),
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}"),  # a Telegram bot token
)


def secrets_written(text: str) -> list[str]:
    """What in a form file's ``text`` looks like a chat webhook URL or bot token, as
    ``$: message`` strings (never the text itself: it is a secret, now in the site directory).
    """
    if not any(shape.search(text) for shape in _CHAT_SECRET_SHAPES):
        return []
    return [
        "$: the file holds what looks like a chat webhook URL or bot token; a form names its "
        "chat target's secret (notify_chat: [{format: slack, secret: CLINIC_SLACK}]) and ops set "
        "FRONTDESK_CHAT_CLINIC_SLACK. Remove it, and have ops replace it: the site directory is "
        "not a place for secrets"
    ]


# The field types whose value is one of the editor's ``options``: the only ones a route may read,
# so the visitor picks among the editor's choices and never names a recipient.
ROUTABLE_TYPES = frozenset({"select", "radio"})


class Routes(Base, kw_only=True):
    """Staff recipients chosen by the value of one select or radio field.

    ``field`` names the field; ``to`` maps some of its options to the addresses that get the staff
    email instead of the form's ``recipients``. Any other value (an option with no route, an empty
    value, anything else) goes to the form's ``recipients``. Example::

        routes:
          field: topic
          to:
            Back pain: [physio-a@clinic.example]
            Billing: [office@clinic.example]
    """

    field: str
    to: Annotated[dict[str, Annotated[list[str], Meta(min_length=1)]], Meta(min_length=1)]


class FormDefinition(Base, kw_only=True):
    """``forms/<id>.yaml``: fields, phone policy, recipients, sender, subject, messages, redirects,
    allowed origins (absent: any), retention (days a submission is kept), spam defences, auto-reply,
    extra-field policy and the body size limit in bytes (413 beyond it).

    Staff mail goes to ``recipients``, or to the route of the submission's value (``routes``), with
    ``cc`` named in a Cc header and ``bcc`` in the envelope only.
    """

    id: Annotated[str, Meta(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
    title: str
    fields: list[Field]
    recipients: list[str]
    """The staff email's To: every submission when there are no ``routes``, else those whose value
    has no route."""
    sender: str
    cc: list[str] = []
    """Copied on every staff email, named in its Cc header."""
    bcc: list[str] = []
    """Blind copies of every staff email: envelope recipients named in no header."""
    routes: Routes | None = None
    subject: str = "New inquiry from {name} via {form}"
    phone: PhonePolicy = msgspec.field(default_factory=PhonePolicy)
    messages: Messages = msgspec.field(default_factory=Messages)
    redirects: Redirects = msgspec.field(default_factory=Redirects)
    allowed_origins: list[str] | None = None
    retention_days: Annotated[int, Meta(ge=1, le=3650)] = 90
    spam: Spam = msgspec.field(default_factory=Spam)
    auto_reply: AutoReply | None = None
    extra_fields: Literal["refuse", "ignore", "keep"] = "refuse"
    """Posted fields the form does not define: ``refuse`` (422 ``unknown_field``), ``ignore``
    (dropped) or ``keep`` (stored as text, same control-character and length rules as ``text``)."""
    max_body_bytes: Annotated[int, Meta(ge=1024, le=10_000_000)] = 65_536
    webhook: Webhook | None = None
    notify: Literal["full", "summary"] | None = None
    """What the staff email carries: ``full`` (every field; also when absent) or ``summary`` (no
    visitor data: the form, the time and a link to the inquiry in the inbox). Chat messages carry
    values only when it is written ``full`` (not when absent) and the target says ``full: true``."""
    notify_chat: Annotated[list[ChatTarget], Meta(max_length=len(CHAT_KINDS))] = []
    """Chat messages of each stored inquiry (at most four targets), kinds ``chat_1`` …"""
    reply_to: str | None = None
    """The staff mailbox a visitor's answer to a reply from the inbox goes to (its Reply-To);
    absent: the first of :attr:`recipients`."""

    def staff_mailbox(self) -> str | None:
        """Where a visitor's answers to inbox replies land: :attr:`reply_to`, else the first
        recipient; ``None`` when the form has neither (answers then go to the sender).
        """
        return self.reply_to or next(iter(self.recipients), None)

    def message_kinds(self) -> list[MessageKind]:
        """The messages a stored (not quarantined) submission gets: staff, then the optional ones
        (auto-reply, webhook, one ``chat_<n>`` per ``notify_chat`` target).
        """
        kinds: list[MessageKind] = ["staff"]
        if self.auto_reply is not None:
            kinds.append("auto_reply")
        if self.webhook is not None:
            kinds.append("webhook")
        kinds += CHAT_KINDS[: len(self.notify_chat)]
        return kinds

    def chat_target(self, kind: MessageKind) -> ChatTarget | None:
        """The ``notify_chat`` target of message ``kind`` (``chat_2``: the second), if any."""
        if kind not in CHAT_KINDS:
            return None
        index = CHAT_KINDS.index(kind)
        return self.notify_chat[index] if index < len(self.notify_chat) else None

    def chat_full(self, target: ChatTarget) -> bool:
        """Whether ``target``'s message carries the visitor's values: the target says
        ``full: true`` and the form says ``notify: full`` explicitly (docs/security.md, chat).
        """
        return target.full and self.notify == "full"

    def field(self, name: str) -> Field | None:
        """The field called ``name``, if any."""
        return next((f for f in self.fields if f.name == name), None)

    def staff_recipients(self, values: Mapping[str, str]) -> list[str]:
        """The staff email's To for a submission's stored ``values`` (field name → value): the
        route of the routing field's value when that value is one of the field's options and has a
        route, else :attr:`recipients`. Never an address a visitor typed.
        """
        if self.routes is None:
            return list(self.recipients)
        field = self.field(self.routes.field)
        value = values.get(self.routes.field, "")
        if field is None or field.type not in ROUTABLE_TYPES or value not in field.options:
            return list(self.recipients)
        return list(self.routes.to.get(value, self.recipients))

    def addresses(self) -> list[tuple[str, str]]:
        """Every address the editor directs staff mail to, as (``$.path``, address): recipients,
        each route's, ``cc``, ``bcc`` and ``reply_to`` (where visitors' answers go).
        """
        found = [(f"$.recipients[{i}]", a) for i, a in enumerate(self.recipients)]
        for value, targets in self.routes.to.items() if self.routes else []:
            found += [(f"$.routes.to[{value!r}][{i}]", a) for i, a in enumerate(targets)]
        found += [(f"$.cc[{i}]", a) for i, a in enumerate(self.cc)]
        found += [(f"$.bcc[{i}]", a) for i, a in enumerate(self.bcc)]
        if self.reply_to is not None:
            found.append(("$.reply_to", self.reply_to))
        return found


class FormsError(Exception):
    """One or more form files are bad; ``problems`` lists ``file: path: message`` strings."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _check_routes(form: FormDefinition) -> list[str]:
    """A route reads a select or radio field of the form, and routes only values it can take."""
    routes = form.routes
    if routes is None:
        return []
    field = form.field(routes.field)
    if field is None:
        return [f"$.routes.field: {routes.field!r} is not a field of this form"]
    if field.type not in ROUTABLE_TYPES:
        return [
            f"$.routes.field: {routes.field!r} is a {field.type} field; routes read a select or"
            " radio field, whose value is one of the editor's options"
        ]
    return [
        f"$.routes.to[{value!r}]: not an option of field {field.name!r}"
        f" ({', '.join(repr(o) for o in field.options)})"
        for value in routes.to
        if value not in field.options
    ]


def _check_addresses(form: FormDefinition, recipient_domains: Sequence[str]) -> list[str]:
    """Every staff address is one, and on an allowed domain when ops restrict them."""
    from frontdesk.submissions.emails import check_email

    allowed = {d.strip().lower() for d in recipient_domains if d.strip()}
    problems: list[str] = []
    for path, address in form.addresses():
        normalized = check_email(address).normalized
        if normalized is None:
            problems.append(f"{path}: {address!r} is not an email address")
            continue
        domain = normalized.rpartition("@")[2].lower()
        if allowed and domain not in allowed:
            problems.append(
                f"{path}: {address!r}: mail may go only to {', '.join(sorted(allowed))}"
                " (FRONTDESK_RECIPIENT_DOMAINS)"
            )
    return problems


def cross_check(form: FormDefinition, recipient_domains: Sequence[str] = ()) -> list[str]:
    """Rules one msgspec type cannot say, as ``$.path: message`` strings: each field's
    type-specific keys (:func:`field_problems`), routes, message codes, regions libphonenumber
    knows, origins, redirect targets, addresses (on one of ``recipient_domains`` unless it is
    empty), subject placeholders.
    """
    import string

    import phonenumbers

    from frontdesk.networks import normalise_origin
    from frontdesk.submissions.emails import check_email

    problems: list[str] = []
    names = {f.name for f in form.fields}
    for index, field in enumerate(form.fields):
        problems += [f"$.fields[{index}].{problem}" for problem in field_problems(field)]
        if f"{field.name}_country" in names and field.type == "phone":
            problems.append(f"$.fields[{index}].name: {field.name}_country is the region field")
    region = form.phone.default_region
    if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(f"$.phone.default_region: {region!r} is not a region libphonenumber knows")
    known = set(DEFAULT_MESSAGES)
    texts = [("$.messages.codes", form.messages.codes)] + [
        (f"$.messages.languages.{tag}.codes", t.codes) for tag, t in form.messages.languages.items()
    ]
    for path, codes in texts:
        problems += [f"{path}.{code}: unknown error code" for code in codes if code not in known]
    for index, origin in enumerate(form.allowed_origins or []):
        if origin != "*" and normalise_origin(origin) != origin.rstrip("/").lower():
            problems.append(
                f"$.allowed_origins[{index}]: {origin!r} is not an origin (scheme://host[:port])"
            )
    targets = [("success", form.redirects.success), ("error", form.redirects.error)]
    targets += [(f"next_allowed[{i}]", t) for i, t in enumerate(form.redirects.next_allowed)]
    allowed = {normalise_origin(o) for o in form.allowed_origins or [] if o != "*"}
    for name, target in targets:
        if target and not target.startswith("/") and normalise_origin(target) not in allowed:
            problems.append(
                f"$.redirects.{name}: {target!r} is neither a path nor on an allowed origin"
            )
        if target and target.startswith("//"):
            problems.append(f"$.redirects.{name}: {target!r} is another host, not a path")
    problems += _check_routes(form)
    problems += _check_addresses(form, recipient_domains)
    sender = form.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    if check_email(sender).normalized is None:
        problems.append(f"$.sender: {form.sender!r} has no valid address")
    try:
        placeholders = {p for _, p, _, _ in string.Formatter().parse(form.subject) if p}
    except ValueError as exc:
        problems.append(f"$.subject: {exc}")
    else:
        for placeholder in sorted(placeholders - names - {"form"}):
            problems.append(f"$.subject: {{{placeholder}}} is not a field of this form")
    for index, chat in enumerate(form.notify_chat):
        if not CHAT_NAME.fullmatch(chat.secret):
            # Never echo it: it may be the URL or token itself.
            problems.append(
                f"$.notify_chat[{index}].secret: the name of an ops secret (upper-case letters, "
                "digits, underscores: CLINIC_SLACK, set as FRONTDESK_CHAT_CLINIC_SLACK), not a "
                "URL or token"
            )
    if form.spam.honeypot in SOURCE_FIELDS:
        # The embed script fills these on every post: as the honeypot, every inquiry is spam.
        problems.append(f"$.spam.honeypot: {form.spam.honeypot} is a reserved source field")
    captcha = form.spam.captcha
    if captcha and captcha.provider != "altcha" and not captcha.site_key:
        problems.append(f"$.spam.captcha.site_key: {captcha.provider} needs the site key")
    if captcha and captcha.provider == "altcha" and captcha.site_key:
        problems.append("$.spam.captcha.site_key: altcha has no site key")
    if form.webhook is not None and not _readable_url(form.webhook.url):
        problems.append("$.webhook.url: not a URL (a host, and a port that is a number)")
    if captcha and captcha.verify_url is not None:
        problems.append(
            "$.spam.captcha.verify_url: not allowed in a form (the request carries the CAPTCHA "
            "secret); ops set FRONTDESK_CAPTCHA_VERIFY_URL for a proxy or a test server"
        )
    return problems


def _readable_url(url: str) -> bool:
    """Whether ``url`` has a host and a readable port (``urlsplit`` raises for an unbalanced
    ``[`` and a port that is not a number).
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return bool(parts.hostname) and (parts.port is None or parts.port >= 0)
    except ValueError:
        return False


def field_problems(field: Field) -> list[str]:
    """What is wrong with one field's type-specific keys, as ``key: message`` strings: options only
    on (and required by) select, radio and checkbox_group, none with a line break, none twice;
    bounds only on date, time and number, each readable, ``min`` ≤ ``max``; ``step`` > 0 on a
    number only; ``value`` on (and required by) a hidden field, without control characters.
    """
    import datetime as dt

    from frontdesk.submissions import fieldtypes

    problems: list[str] = []
    kind = field.type
    if kind in OPTION_TYPES and not field.options:
        problems.append(f"options: a {kind} field needs options")
    if kind not in OPTION_TYPES and field.options:
        problems.append("options: only select, radio and checkbox_group fields have options")
    for position, option in enumerate(field.options):
        if "\n" in option or "\r" in option:
            problems.append(f"options[{position}]: an option holds no line break")
        if field.options.index(option) != position:
            problems.append(f"options[{position}]: {option!r} is listed twice")
    if kind not in BOUNDED_TYPES:
        problems += [
            f"{key}: only date, time and number fields have {key}"
            for key in ("min", "max")
            if getattr(field, key) is not None
        ]
    if kind != "number" and field.step is not None:
        problems.append("step: only number fields have a step")
    if kind == "hidden" and field.value is None:
        problems.append("value: a hidden field needs the value it stores")
    if kind != "hidden" and field.value is not None:
        problems.append("value: only hidden fields have a value")
    if field.value is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in field.value):
        # Stored and mailed as is (a subject may name it): no line breaks or other controls.
        problems.append("value: a hidden value holds no line breaks or control characters")
    bounds: dict[str, Any] = {}
    for key in ("min", "max", "step"):
        raw = getattr(field, key)
        try:
            if kind == "date":
                # Offsets are compared on one day: "+1d" vs "+90d" is the same order every day.
                bounds[key] = fieldtypes.date_bound(raw, dt.date(2000, 1, 1))
            elif kind == "time":
                bounds[key] = fieldtypes.time_bound(raw)
            elif kind == "number":
                bounds[key] = fieldtypes.decimal_bound(raw)
        except fieldtypes.BoundError as exc:
            problems.append(f"{key}: {exc}")
    low, high = bounds.get("min"), bounds.get("max")
    if kind == "date" and _mixed_date_bounds(field.min, field.max):
        pass  # a fixed date against an offset: which is earlier depends on the day
    elif low is not None and high is not None and low > high:
        problems.append(f"max: {field.max!r} is before min {field.min!r}")
    step = bounds.get("step")
    if step is not None and step <= 0:
        problems.append(f"step: {field.step!r} is not greater than 0")
    return problems


def _mixed_date_bounds(low: Any, high: Any) -> bool:
    """Whether one date bound is an offset and the other a fixed date."""
    offsets = [isinstance(b, str) and b[:1] in "+-" for b in (low, high) if b is not None]
    return len(offsets) == 2 and offsets[0] != offsets[1]


def load_form_file(
    site_dir: Path, file: Path, recipient_domains: Sequence[str] = ()
) -> FormDefinition:
    """The form of ``file`` (a ``forms/*.yaml`` of ``site_dir``); raises :class:`FormsError` listing
    its problems as ``forms/<file>: $.path: message``. ``recipient_domains`` (ops'
    ``FRONTDESK_RECIPIENT_DOMAINS``; empty: any) are the domains its staff mail may go to.
    """
    rel = file.relative_to(site_dir).as_posix()
    if file.is_symlink() or file.parent.is_symlink():
        # The site directory is content: never read a file of the host through it.
        raise FormsError([f"{rel}: $: a symbolic link; the site directory takes no links"])
    try:
        raw = file.read_bytes()
        written = secrets_written(raw.decode("utf-8", "replace"))
        if written:
            raise FormsError([f"{rel}: {problem}" for problem in written])
        form = msgspec.yaml.decode(raw, type=FormDefinition)
        # The values too: a YAML escape ("hooks\x2eslack.com") hides a shape from the text only.
        written = secrets_written(msgspec.json.encode(form).decode())
        if written:
            raise FormsError([f"{rel}: {problem}" for problem in written])
    except msgspec.ValidationError as exc:
        path, message = where_and_what(exc)
        raise FormsError([f"{rel}: {path}: {message}"]) from None
    except (msgspec.DecodeError, OSError, UnicodeDecodeError) as exc:
        raise FormsError([f"{rel}: $: not readable YAML: {exc}"]) from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # Odd documents (deep nesting, out-of-range values) are still a problem of the file.
        raise FormsError([f"{rel}: $: not readable YAML: {exc}"]) from None
    problems: list[str] = []
    names = [f.name for f in form.fields]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(f"{rel}: $.fields[{index}].name: duplicate field {name!r}")
    problems += [f"{rel}: {problem}" for problem in cross_check(form, recipient_domains)]
    if file.stem != form.id:
        problems.append(f"{rel}: $.id: {form.id!r} differs from the file name {file.stem!r}")
    if problems:
        raise FormsError(problems)
    return form


def chat_secret_problems(forms: Mapping[str, FormDefinition], settings: Settings) -> list[str]:
    """What ``frontdesk forms check`` reports about the chat secrets ``forms`` name, as
    ``forms/<id>.yaml: $.path: message`` strings: a name ops did not set, a Telegram value that
    is not ``<bot token>/<chat id>``, a webhook value that is not an http(s) URL. Never a value.
    """
    problems: list[str] = []
    for form_id, form in sorted(forms.items()):
        for index, target in enumerate(form.notify_chat):
            where = f"forms/{form_id}.yaml: $.notify_chat[{index}].secret"
            variable = f"{CHAT_PREFIX}{target.secret}"
            value = chat_secret(settings, target.secret)
            if value is None:
                problems.append(
                    f"{where}: {variable} is not set; its messages are skipped until ops set it"
                )
            elif target.format == "telegram" and not TELEGRAM_SECRET.fullmatch(value.reveal()):
                problems.append(f"{where}: {variable} is not <bot token>/<chat id>")
            elif target.format != "telegram" and not value.reveal().startswith("http"):
                problems.append(f"{where}: {variable} is not the {target.format} webhook URL")
    return problems


def load_forms(site_dir: Path, recipient_domains: Sequence[str] = ()) -> dict[str, FormDefinition]:
    """Every ``forms/*.yaml`` of ``site_dir`` by id (staff mail to ``recipient_domains`` only, when
    not empty); raises :class:`FormsError` listing all problems
    (the check command's all-or-nothing view; the running processes use
    :class:`frontdesk.submissions.catalog.Catalog`, which keeps the good forms of a broken site).
    """
    forms: dict[str, FormDefinition] = {}
    problems: list[str] = []
    for file in form_files(site_dir).values():
        try:
            forms[file.stem] = load_form_file(site_dir, file, recipient_domains)
        except FormsError as exc:
            problems += exc.problems
    if problems:
        raise FormsError(problems)
    return forms
