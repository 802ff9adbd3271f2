"""Process settings, read once from ``FRONTDESK_*`` environment variables.

Every process (content, forms, worker, CLI) calls :func:`load_settings` once at start and passes the
resulting :class:`Settings` down; nothing reads the environment afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from frontdesk.logging import LogFormat
from frontdesk.staff_accounts import StaffMember, parse_staff
from frontdesk.staff_tokens import StaffToken, parse_staff_tokens

PREFIX = "FRONTDESK_"
CHAT_PREFIX = PREFIX + "CHAT_"
"""``FRONTDESK_CHAT_<NAME>``: the URL or token of the chat target a form names ``<NAME>``."""
# A chat secret's name as a form writes it: upper-case letters, digits and underscores.
CHAT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

SmtpSecurity = Literal["none", "starttls", "tls"]


class SettingsError(Exception):
    """Raised when one or more environment variables hold bad values.

    ``problems`` is a list of ``(variable, reason)`` pairs; ``str()`` joins them into one message.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {name}: {reason}" for name, reason in problems)
        super().__init__(f"bad settings ({len(problems)}):\n{lines}")


class SecretText:
    """A secret's text that never shows itself: ``repr()`` and ``str()`` give ``'***'``, so a
    settings dump, an exception or a log line that formats it carries no secret; :meth:`reveal`
    gives the text to the one place that uses it.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        """The secret's text."""
        return self._text

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretText) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


class ChatSecret(msgspec.Struct, frozen=True):
    """One ``FRONTDESK_CHAT_<NAME>`` variable: its ``name`` (``<NAME>``, what a form's
    ``notify_chat`` target names) and its ``value`` (a webhook URL, or a Telegram
    ``<bot token>/<chat id>``), masked.
    """

    name: str
    value: SecretText


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of every Frontdesk process; field ``x_y`` is variable ``FRONTDESK_X_Y``.

    Defaults run the whole stack on one laptop. Times are in seconds unless the name says otherwise.
    """

    site_dir: Path = Path("examples/clinic-site")
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "frontdesk"
    redis_min_replicas: int = 0
    redis_min_replicas_timeout_ms: int = 1000
    host: str = "127.0.0.1"
    content_port: int = 8001
    forms_port: int = 8002
    internal_host: str = "127.0.0.1"
    content_internal_port: int = 9001
    forms_internal_port: int = 9002
    forms_public_url: str = "http://127.0.0.1:8002"
    inbox_port: int = 8003
    inbox_url: str = "http://127.0.0.1:8003"
    staff: tuple[StaffMember, ...] = ()
    inbox_session_idle: float = 1800.0
    inbox_session_absolute: float = 43200.0
    inbox_sign_in_per_address_hour: int = 5
    inbox_sign_in_per_client_hour: int = 20
    inbox_totp_failures: int = 5
    inbox_mail_from: str = "Frontdesk <frontdesk@localhost>"
    audit_retention_days: int = 365
    content_cors_origins: tuple[str, ...] = ("*",)
    trusted_proxies: tuple[str, ...] = ()
    ipv6_prefix: int = 64
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: SmtpSecurity = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_ca_file: Path | None = None
    smtp_timeout: float = 15.0
    retry_base_seconds: float = 60.0
    retry_max_hours: float = 24.0
    secret_key: str | None = None
    captcha_secret: str | None = None
    captcha_verify_url: str | None = None
    webhook_allow_http: bool = False
    webhook_allow_networks: tuple[str, ...] = ()
    chat_secrets: tuple[ChatSecret, ...] = ()
    telegram_api_url: str = "https://api.telegram.org"
    recipient_domains: tuple[str, ...] = ()
    smtp_allow_plaintext: bool = False
    rate_limits: bool = True
    auto_reply_per_address_day: int = 3
    auto_reply_per_domain_hour: int = 50
    staff_tokens: tuple[StaffToken, ...] = ()
    preview_tokens: tuple[str, ...] = ()
    content_cache_control: str = "public, max-age=60, stale-while-revalidate=600"
    content_watch: bool = True
    content_reload_debounce: float = 0.5
    content_publish_check: float = 30.0
    queue_name: str = "frontdesk"
    worker_maintenance_interval: float = 30.0
    worker_heartbeat: float = 30.0
    job_timeout: float = 180.0
    worker_reconnect_max: float = 5.0
    drill_pause_dir: Path | None = None
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    http_header_read_timeout: float = 10.0


_PATH_FIELDS = {"site_dir", "smtp_ca_file", "drill_pause_dir"}
_LIST_FIELDS = {"content_cors_origins", "trusted_proxies", "preview_tokens"}
_LIST_FIELDS |= {"webhook_allow_networks", "redis_sentinels", "recipient_domains"}
_BOOL_WORDS = {"on": True, "true": True, "1": True, "yes": True, "off": False, "false": False}
_BOOL_WORDS |= {"0": False, "no": False}
_BOOL_FIELDS = {"rate_limits", "content_watch", "webhook_allow_http", "smtp_allow_plaintext"}
# A domain name as written in an address's domain part: labels of letters (any script), digits and
# hyphens, no scheme, port, path or "@".
_DOMAIN = re.compile(r"(?!-)[\w-]{1,63}(?<!-)(?:\.(?!-)[\w-]{1,63}(?<!-))+", re.IGNORECASE)
# HMAC keys shorter than the hash output weaken it (RFC 2104 §3); 32 characters also rule out a
# password typed by hand.
MIN_SECRET_KEY_LENGTH = 32
MAX_REPLICAS_TIMEOUT_MS = 4000


def chat_secret(settings: Settings, name: str) -> SecretText | None:
    """The value of ``FRONTDESK_CHAT_<name>``, or ``None`` when ops did not set it."""
    return next((s.value for s in settings.chat_secrets if s.name == name), None)


def _chat_secrets(env: Mapping[str, str]) -> tuple[tuple[ChatSecret, ...], list[tuple[str, str]]]:
    """Every non-empty ``FRONTDESK_CHAT_<NAME>`` of ``env`` (sorted by name), and the problems
    of the bad ones (a name forms cannot write). A problem never echoes the value.
    """
    found: list[ChatSecret] = []
    problems: list[tuple[str, str]] = []
    for variable in sorted(env):
        name = variable.removeprefix(CHAT_PREFIX)
        if not variable.startswith(CHAT_PREFIX) or not env[variable].strip():
            continue
        if not CHAT_NAME.fullmatch(name):
            problems.append(
                (variable, "a chat secret's name is upper-case letters, digits and underscores")
            )
            continue
        found.append(ChatSecret(name, SecretText(env[variable].strip())))
    return tuple(found), problems


def _raw_value(field: str, raw: str) -> Any:
    """Turn one variable's text into the value msgspec converts; raises ValueError when malformed."""
    if field in _LIST_FIELDS:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if field in _PATH_FIELDS:
        return Path(raw)
    if field == "staff_tokens":
        return parse_staff_tokens(raw)
    if field == "staff":
        return parse_staff(raw)
    if field in _BOOL_FIELDS:
        try:
            return _BOOL_WORDS[raw.strip().lower()]
        except KeyError:
            raise ValueError("expected on or off") from None
    return raw


def _cross_checks(settings: Settings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if settings.smtp_port == 465 and settings.smtp_security != "tls":
        problems.append(
            (
                f"{PREFIX}SMTP_PORT",
                f"port 465 is implicit TLS but {PREFIX}SMTP_SECURITY is "
                f"{settings.smtp_security!r}; set {PREFIX}SMTP_SECURITY=tls",
            )
        )
    for cidr in settings.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append((f"{PREFIX}TRUSTED_PROXIES", f"{cidr!r} is not a CIDR"))
    if not 32 <= settings.ipv6_prefix <= 128:
        problems.append((f"{PREFIX}IPV6_PREFIX", "expected a prefix length from 32 to 128"))
    if not settings.telegram_api_url.startswith(("https://", "http://")):
        problems.append((f"{PREFIX}TELEGRAM_API_URL", "expected an http(s) URL"))
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append((f"{PREFIX}REDIS_URL", "expected a redis://, rediss:// or unix:// URL"))
    problems.extend(_redis_checks(settings))
    if settings.secret_key is not None and len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
        # Never echo the value: it is a secret even when it is too short.
        problems.append(
            (
                f"{PREFIX}SECRET_KEY",
                f"needs at least {MIN_SECRET_KEY_LENGTH} characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            )
        )
    for cidr in settings.webhook_allow_networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append((f"{PREFIX}WEBHOOK_ALLOW_NETWORKS", f"{cidr!r} is not a CIDR"))
    for domain in settings.recipient_domains:
        if not _DOMAIN.fullmatch(domain):
            problems.append(
                (f"{PREFIX}RECIPIENT_DOMAINS", f"{domain!r} is not a domain (e.g. clinic.example)")
            )
    if settings.captcha_verify_url is not None and not settings.captcha_verify_url.startswith(
        ("https://", "http://")
    ):
        problems.append((f"{PREFIX}CAPTCHA_VERIFY_URL", "expected an http(s) URL"))
    problems.extend(_smtp_plaintext(settings))
    for bound in ("auto_reply_per_address_day", "auto_reply_per_domain_hour"):
        if getattr(settings, bound) < 0:
            problems.append((PREFIX + bound.upper(), "expected 0 (no auto-replies) or more"))
    if (
        not settings.inbox_url.startswith(("https://", "http://"))
        or settings.inbox_url.rstrip("/").count("/") != 2
    ):
        problems.append((f"{PREFIX}INBOX_URL", "expected an origin: http(s)://host[:port]"))
    if not 1 <= settings.audit_retention_days <= 3650:
        problems.append((f"{PREFIX}AUDIT_RETENTION_DAYS", "expected 1 to 3650 days"))
    if settings.inbox_totp_failures < 1:
        problems.append((f"{PREFIX}INBOX_TOTP_FAILURES", "expected 1 or more"))
    for limit in ("inbox_session_idle", "inbox_session_absolute"):
        if getattr(settings, limit) <= 0:
            problems.append((PREFIX + limit.upper(), "expected a number of seconds above 0"))
    ports: tuple[str, ...] = (
        "content_port",
        "forms_port",
        "content_internal_port",
        "forms_internal_port",
    )
    ports = (*ports, "inbox_port")
    for port_field in (*ports, "smtp_port"):
        if not 0 < getattr(settings, port_field) < 65536:
            problems.append((PREFIX + port_field.upper(), "expected a port from 1 to 65535"))
    # One port for a service's public and internal listeners would make its internals public.
    for service in ("content", "forms"):
        if getattr(settings, f"{service}_port") == getattr(settings, f"{service}_internal_port"):
            problems.append(
                (
                    f"{PREFIX}{service.upper()}_INTERNAL_PORT",
                    f"must differ from {PREFIX}{service.upper()}_PORT",
                )
            )
    return problems


def sentinel_address(entry: str) -> tuple[str, int]:
    """``(host, port)`` of one ``FRONTDESK_REDIS_SENTINELS`` entry: ``host:port`` or
    ``[IPv6]:port``; raises ValueError when it is not one.
    """
    host, colon, port = entry.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{entry!r} is not host:port")
    return host, int(port)


def _redis_checks(settings: Settings) -> list[tuple[str, str]]:
    """Sentinel addresses and the replicated acknowledgement's bounds."""
    problems: list[tuple[str, str]] = []
    for entry in settings.redis_sentinels:
        try:
            sentinel_address(entry)
        except ValueError as exc:
            problems.append((f"{PREFIX}REDIS_SENTINELS", str(exc)))
    if settings.redis_sentinels and settings.redis_url.startswith("unix://"):
        # Sentinels name the primary by host and port; a socket path cannot follow a failover.
        problems.append(
            (f"{PREFIX}REDIS_URL", "with sentinels, expected a redis:// or rediss:// URL")
        )
    if settings.redis_sentinels and not settings.redis_sentinel_master.strip():
        problems.append((f"{PREFIX}REDIS_SENTINEL_MASTER", "expected the primary's name"))
    if settings.redis_min_replicas < 0:
        problems.append((f"{PREFIX}REDIS_MIN_REPLICAS", "expected 0 (no wait) or more"))
    if not 1 <= settings.redis_min_replicas_timeout_ms <= MAX_REPLICAS_TIMEOUT_MS:
        # The wait is one command: it must end before the client's 5 s socket timeout.
        problems.append(
            (
                f"{PREFIX}REDIS_MIN_REPLICAS_TIMEOUT_MS",
                f"expected 1 to {MAX_REPLICAS_TIMEOUT_MS} (ms)",
            )
        )
    return problems


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is a literal loopback IP (``127.0.0.0/8``, ``::1``) or ``localhost``. Other
    names are not trusted to resolve to loopback (``localhost.example``, ``127.0.0.1.nip.io``).
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _smtp_plaintext(settings: Settings) -> list[tuple[str, str]]:
    """SMTP AUTH without TLS sends the relay password in clear text (RFC 4954 §4 asks for a
    protected channel), and mail in clear text beyond this host carries patient data: both are
    refused unless ``FRONTDESK_SMTP_ALLOW_PLAINTEXT`` is on (a development mail catcher).
    """
    if settings.smtp_security != "none" or settings.smtp_allow_plaintext:
        return []
    problems = []
    opt_in = f"set {PREFIX}SMTP_SECURITY=starttls or tls, or {PREFIX}SMTP_ALLOW_PLAINTEXT=on"
    if settings.smtp_username is not None:
        problems.append(
            (
                f"{PREFIX}SMTP_USERNAME",
                f"SMTP AUTH without TLS sends the password in clear; {opt_in}",
            )
        )
    if not is_loopback_host(settings.smtp_host):
        problems.append(
            (
                f"{PREFIX}SMTP_SECURITY",
                f"none sends mail in clear text to {settings.smtp_host!r}, not a loopback "
                f"address; {opt_in}",
            )
        )
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Decode :class:`Settings` from ``environ`` (default ``os.environ``); empty values are unset.

    Raises :class:`SettingsError` naming every bad variable at once, so one restart fixes them all.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    values["chat_secrets"], problems = _chat_secrets(env)
    for field in msgspec.structs.fields(Settings):
        if field.name == "chat_secrets":  # prefix-scanned above: FRONTDESK_CHAT_<NAME>
            continue
        variable = PREFIX + field.name.upper()
        # An empty value means "unset", so a copied .env.example with blank lines keeps defaults.
        if not env.get(variable, "").strip():
            continue
        try:
            values[field.name] = msgspec.convert(
                _raw_value(field.name, env[variable]), type=field.type, strict=False
            )
        except (ValueError, msgspec.ValidationError) as exc:
            problems.append((variable, str(exc).split(" - at ")[0]))
    if problems:
        raise SettingsError(problems)
    settings = Settings(**values)
    problems = _cross_checks(settings)
    if problems:
        raise SettingsError(problems)
    return settings
