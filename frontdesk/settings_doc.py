"""``docs/settings.md`` and ``.env.example``, generated from :class:`~frontdesk.settings.Settings`.

Names, types and defaults come from the struct; the sentences from :data:`DESCRIPTIONS`, keyed by
field name. ``frontdesk settings-doc`` rewrites both files; ``--check`` only says whether they are
current (a test runs it, so a new setting without a description or a stale file fails the suite).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import msgspec

from frontdesk.settings import CHAT_PREFIX, PREFIX, Settings

DOC_PATH = Path("docs/settings.md")
ENV_PATH = Path(".env.example")

DESCRIPTIONS: dict[str, str] = {
    "site_dir": "The site directory both services and the worker read (pages, collections, forms).",
    "redis_url": "Redis for submissions, the queue and rate limits: `redis://`, `rediss://` (TLS) "
    "or `unix://`. A password goes in the URL (`rediss://:PASSWORD@host:6380/0`).",
    "redis_sentinels": "Comma-separated `host:port` of Redis Sentinels; set: every process asks "
    "them for the current primary of `FRONTDESK_REDIS_SENTINEL_MASTER` and follows a failover "
    "without a restart. `FRONTDESK_REDIS_URL` then gives only the scheme (`rediss://` for TLS), "
    "credentials and database; its host and port are not used. Empty: `FRONTDESK_REDIS_URL` "
    "is the server.",
    "redis_sentinel_master": "The primary's name in the sentinels' configuration "
    "(`sentinel monitor NAME ...`).",
    "redis_min_replicas": "Replicas that must hold a submission before it is answered 201: "
    "after the write, Redis's `WAIT` (docs/operations.md, Redis). 0: answered when the primary "
    "has it (replication is asynchronous, so a failover may lose it).",
    "redis_min_replicas_timeout_ms": "Milliseconds (1 to 4000) the answer waits for "
    "`FRONTDESK_REDIS_MIN_REPLICAS` replicas; fewer by then: 503 `not_replicated` with "
    "`Retry-After`, and the visitor's retry is answered with the same submission.",
    "host": "Listening address of both services (`0.0.0.0` in containers).",
    "content_port": "Port of the content service.",
    "forms_port": "Port of the forms service.",
    "internal_host": "Listening address of both services' internal ports (health detail, "
    "`/metrics`; the staff API is the inbox's). Keep it off the internet: `127.0.0.1`, or "
    "`0.0.0.0` inside a container whose internal port only probes and Prometheus reach.",
    "content_internal_port": "Internal port of the content service: `/health/live`, "
    "`/health/ready` with the site's problems, `/metrics`.",
    "forms_internal_port": "Internal port of the forms service: `/health/live`, `/health/ready` "
    "with Redis's error, `/health/workers` and `/metrics` (the staff API is the inbox's).",
    "forms_public_url": "How browsers reach the forms service; form sections of pages point there.",
    "inbox_port": "Port of the staff inbox (`frontdesk serve inbox`). Never public: publish it on "
    "loopback, a VPN or behind an SSO proxy (docs/inbox.md).",
    "inbox_url": "The inbox's public origin (`https://inbox.clinic.example`): sign-in links point "
    "there (never at the request's `Host`); when it is https its cookies are `Secure` and named "
    "with the `__Host-` prefix.",
    "staff": "Comma-separated `address:role[:forms=a+b][:totp][:name=Display Name]` entries: who "
    "may sign in to the inbox, as `reader`, `responder` or `admin`, on which forms (default every "
    "form); `:totp` requires two-step sign-in of that account; `:name=` is the name their replies "
    "are signed with (default the address; no comma, colon or line break). Removing an entry ends "
    "that address's sessions at their next request.",
    "audit_retention_days": "Days the audit log keeps an entry (who signed in, viewed, exported, "
    "erased, released, resent or replied; never visitor data), 1 to 3650.",
    "inbox_session_idle": "Seconds an inbox session lives without a request (30 minutes).",
    "inbox_session_absolute": "Seconds an inbox session lives at most, however busy (12 hours).",
    "inbox_sign_in_per_address_hour": "Sign-in links asked for one address per hour; past it the "
    "inbox answers 429 (known and unknown addresses alike).",
    "inbox_mail_from": "The `From` of the inbox's sign-in mails (`Name <address>`).",
    "inbox_sign_in_per_client_hour": "Sign-in links asked for by one client (IP, IPv6 network) "
    "per hour; past it 429.",
    "inbox_totp_failures": "Wrong two-step codes one address may enter per 15 minutes; past it "
    "every code (even a right one) is refused until the window ends (429).",
    "content_cors_origins": "Comma-separated origins allowed to read content; `*` for any.",
    "trusted_proxies": "Comma-separated CIDRs whose `X-Forwarded-For` is believed for the client "
    "IP (rate limits, the CAPTCHA's `remoteip`, the staff throttle): every line of the "
    "header, read from the right, skipping these. Empty: the peer address is the client.",
    "ipv6_prefix": "IPv6 clients are counted per network of this prefix length (32 to 128), not "
    "per address: a /64 is one customer's network. IPv4 is counted per address.",
    "smtp_host": "The relay the worker sends through.",
    "smtp_port": "The relay's port (465 requires `FRONTDESK_SMTP_SECURITY=tls`).",
    "smtp_security": "`none`, `starttls` or `tls` (implicit TLS). `none` is refused for a relay "
    "that is not a literal loopback address or `localhost` unless "
    "`FRONTDESK_SMTP_ALLOW_PLAINTEXT=on`.",
    "smtp_allow_plaintext": "`on` or `off`: allow `FRONTDESK_SMTP_SECURITY=none` to a relay "
    "beyond this host, and SMTP AUTH without TLS. Only for a development mail catcher "
    "(compose's Mailpit).",
    "smtp_username": "Relay user name; unset: no authentication. Needs `starttls` or `tls` "
    "(or `FRONTDESK_SMTP_ALLOW_PLAINTEXT=on`). A secret.",
    "smtp_password": "Relay password. A secret.",
    "smtp_ca_file": "CA bundle that verifies the relay's certificate; unset: the system store.",
    "smtp_timeout": "Seconds to wait for the relay on each step.",
    "retry_base_seconds": "First retry delay of a failed email; it doubles up to one hour.",
    "retry_max_hours": "How long failed emails are retried in all before they count as failed.",
    "secret_key": "The master key (at least 32 characters): every signing key (time trap, "
    "webhooks, ...) is derived from it with HKDF-SHA256 and a purpose label (docs/security.md). "
    "Unset: generated once and kept in Redis (`SET NX`), shared by every replica. A secret.",
    "rate_limits": "`on` or `off`; `off` lifts every rate limit and form cap (benchmarks, bulk "
    "checks); the auto-reply bounds stay.",
    "auto_reply_per_address_day": "Auto-replies to one mailbox a day, over every form (the "
    "address case-folded, a `+tag` dropped, and dots ignored at gmail.com/googlemail.com); past "
    "it the staff mail still goes, the auto-reply is skipped (`address_limit` on the record). "
    "0: no auto-replies.",
    "auto_reply_per_domain_hour": "Auto-replies to one domain an hour, over every form, shared by "
    "everyone there: a flood can spend a large provider's hour; past it the staff mail still "
    "goes, the auto-reply is skipped (`domain_limit`). Raise it if courtesy replies to a big "
    "provider matter more than mail volume. 0: no auto-replies.",
    "staff_tokens": "Comma-separated `name:token[:forms=a+b][:actions=read+export]` entries for "
    "the staff API (served by the inbox, on `FRONTDESK_INBOX_PORT`); unset: the staff API is "
    "off. Tokens have at least 32 characters; without `forms=` a token reaches every form, "
    "without `actions=` it may `read`, `export`, `release`, `resend`, `delete` and `erase`. "
    "The name appears in the audit log. A secret.",
    "preview_tokens": "Comma-separated bearer tokens that show drafts; unset: no preview. A secret.",
    "queue_name": "The RQ queue of the notification jobs.",
    "worker_maintenance_interval": "Seconds between the worker's maintenance sweeps (recovery of "
    "abandoned jobs, the delivery sweep, registry cleanup).",
    "job_timeout": "Seconds a job may run before RQ stops it. Keep the worker's stop grace period "
    "(compose `stop_grace_period`, Kubernetes `terminationGracePeriodSeconds`) above it.",
    "content_cache_control": "`Cache-Control` of public content answers (preview answers are "
    "always `private, no-store`).",
    "content_watch": "`on` or `off`: reload the site when a file of the site directory changes "
    "(`SIGHUP` always reloads); the content service, the forms service and the worker.",
    "content_reload_debounce": "Seconds of quiet after a file change before the site reloads "
    "(every process).",
    "content_publish_check": "Seconds between the content service's checks for a due "
    "`publish_at` (and for a build-hook announcement Redis refused), whatever its timer expects.",
    "captcha_secret": "Server-side secret of the CAPTCHA provider (Turnstile, hCaptcha or "
    "reCAPTCHA) for forms that enable one. A secret.",
    "captcha_verify_url": "Where every form's CAPTCHA is verified instead of its provider's "
    "siteverify URL (tests, a self-hosted proxy). Never taken from the site directory: the "
    "request carries the CAPTCHA secret.",
    "chat_secrets": "One variable per chat target a form's `notify_chat` names: "
    "`FRONTDESK_CHAT_CLINIC_SLACK` for `secret: CLINIC_SLACK`. The value is the incoming webhook "
    "URL (Slack, Teams, Discord) or, for Telegram, `<bot token>/<chat id>`. Unset: that target's "
    "messages are skipped (`frontdesk forms check` reports it). Destinations follow the webhook "
    "rules (`https`, global addresses) (docs/forms.md, Chat notifications). Secrets.",
    "telegram_api_url": "The Telegram Bot API's base URL (a local Bot API server, or a test "
    "receiver); the bot token is added to its path and never logged.",
    "webhook_allow_http": "`on` or `off`: allow `http://` webhook and build-hook URLs (default: "
    "`https://` only).",
    "webhook_allow_networks": "Comma-separated CIDRs webhooks and build hooks may reach although they are "
    "loopback, private, link-local or otherwise not global (e.g. `10.1.2.0/24` for an "
    "in-cluster receiver). Empty: only global addresses.",
    "recipient_domains": "Comma-separated domains a form's staff mail may go to (`recipients`, "
    "`routes`, `cc`, `bcc`, `reply_to`), e.g. `clinic.example`; a subdomain must be listed "
    "itself. A form file naming an address on another domain does not load and `frontdesk forms "
    "check` names it. Empty: any domain.",
    "worker_reconnect_max": "Longest wait in seconds between the worker's attempts to reach Redis "
    "during an outage (the worker waits for Redis, it does not exit; the waits start at 0.25 s and "
    "double up to this).",
    "drill_pause_dir": "Test only (failure drills): a directory where a drill arms the worker's pause "
    "points (`worker/pause.py`). Leave unset.",
    "worker_heartbeat": "Seconds between a worker's heartbeats; a worker silent for longer than "
    "about three of them counts as gone (`frontdesk health worker`, `/health/workers`).",
    "http_header_read_timeout": "Seconds a client may take to send its request headers before the "
    "server closes the connection (slowloris); granian's own default is 30.",
    "log_level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`; one line per record on stderr, in "
    "`FRONTDESK_LOG_FORMAT`.",
    "log_format": (
        "`json`: one JSON object per line (for log collectors); `text`: "
        "`19:04:05 forms INFO message [req 74e0fe7c]` (local time, process, level, message, "
        "request id), control characters in a message escaped. `scripts/run` (`make run`) sets "
        "`text` when its output is a terminal and the variable is unset."
    ),
}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is tuple:
        return "comma-separated list"
    names = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "`on` / `off`",
        Path: "path",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(value: Any) -> str | None:
    """The variable's text for a default; ``None`` when the default is "unset"."""
    if value is None or value == ():
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


# Settings read from a family of variables rather than one: (variable shown, type shown).
_FAMILIES = {"chat_secrets": (f"{CHAT_PREFIX}<NAME>", "text, one variable per name")}


def variable_of(field_name: str) -> str:
    """The variable (or family of variables, ``FRONTDESK_CHAT_<NAME>``) of setting ``field_name``."""
    family = _FAMILIES.get(field_name)
    return family[0] if family else PREFIX + field_name.upper()


def _fields() -> list[tuple[str, str, str | None, str]]:
    """``(variable, type, default text, description)`` for every setting, in struct order."""
    hints = typing.get_type_hints(Settings)
    rows = []
    for field in msgspec.structs.fields(Settings):
        variable, type_name = _FAMILIES.get(
            field.name, (PREFIX + field.name.upper(), _type_name(hints[field.name]))
        )
        rows.append(
            (
                variable,
                type_name,
                _default_text(field.default),
                DESCRIPTIONS.get(field.name, ""),
            )
        )
    return rows


def undocumented() -> list[str]:
    """Settings fields without a sentence in :data:`DESCRIPTIONS`."""
    return [f.name for f in msgspec.structs.fields(Settings) if f.name not in DESCRIPTIONS]


def render_markdown() -> str:
    """The text of ``docs/settings.md``."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `frontdesk settings-doc` from frontdesk/settings.py: do not edit. -->",
        "",
        "Every process (content, forms, worker, CLI) reads these environment variables once at "
        "start. A bad value stops the process with one message naming every bad variable. "
        "Defaults run the whole stack on one laptop; `.env.example` lists them all.",
        "",
        "| variable | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for variable, type_name, default, description in _fields():
        shown = "unset" if default is None else f"`{default}`" if default else "empty"
        lines.append(f"| `{variable}` | {type_name} | {shown} | {description} |")
    lines += [
        "",
        "Secrets (`FRONTDESK_SMTP_PASSWORD`, `FRONTDESK_STAFF_TOKENS`, `FRONTDESK_PREVIEW_TOKENS`, "
        "`FRONTDESK_SECRET_KEY`, `FRONTDESK_CHAT_<NAME>`, and a Redis URL with a password) "
        "belong in `.env` (compose) or "
        "the `frontdesk-secrets` Secret (Kubernetes), never in a committed file.",
        "",
    ]
    return "\n".join(lines)


# Settings whose default a copied .env must not pin: scripts/run picks the log format by whether
# its output is a terminal, and honcho reads .env before that choice.
_LEFT_TO_THE_RUNNER = {"FRONTDESK_LOG_FORMAT"}


def render_env_example() -> str:
    """The text of ``.env.example``: every variable with its default; unset ones commented out."""
    lines = [
        "# Every Frontdesk setting with its default (docs/settings.md explains each).",
        "# Copy to .env to change them. Generated by `frontdesk settings-doc`: do not edit.",
        "# Commented-out variables are unset by default; an empty value is not the same as unset.",
    ]
    for variable, _, default, _ in _fields():
        if default is None:
            lines.append(f"# {variable}=")
        elif variable in _LEFT_TO_THE_RUNNER:
            lines.append(f"# {variable}={default}")
        else:
            lines.append(f"{variable}={default}")
    return "\n".join(lines) + "\n"


def write(root: Path, *, check: bool = False) -> list[Path]:
    """Rewrite (or, with ``check``, compare) both files under ``root``; returns the stale ones."""
    stale = []
    generated = {DOC_PATH: render_markdown(), ENV_PATH: render_env_example()}
    for relative, text in generated.items():
        path = root / relative
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale
