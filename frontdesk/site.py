"""The site's settings every process shares: ``base_url``, ``default_region`` and ``timezone`` of
``site.yaml``, and the ids of the forms under ``forms/``.

The content service reads the whole site (pages, collections, navigation) with its own loader; the
forms service and the worker need only these, so a broken page or collection file never stops them.
``site.yaml``'s other keys are the content's: they are not checked here.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from frontdesk.decoding import where_and_what

SITE_FILE = "site.yaml"
FORMS_DIR = "forms"


class SiteSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``base_url`` (where the site's pages are, the base of the forms' relative redirects) and
    ``default_region`` (ISO 3166-1 alpha-2, the phone region of forms that set none) and
    ``timezone`` (an IANA name such as ``Europe/Berlin``: the zone whose calendar date is "today"
    for the date fields' bounds, :meth:`today`).
    """

    base_url: str
    default_region: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] = "US"
    timezone: str = "UTC"

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The calendar date in :attr:`timezone` at ``now`` (an aware datetime; default: now)."""
        moment = now if now is not None else dt.datetime.now(dt.UTC)
        return moment.astimezone(zoneinfo.ZoneInfo(self.timezone)).date()


def check_timezone(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone this host knows, or ``None`` when it is one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # ValueError: a name that is not a relative key ("../x", "/etc/x").
        return f"{name!r} is not an IANA time zone (such as Europe/Berlin)"
    return None


class SiteSettingsError(Exception):
    """``site.yaml`` is missing or bad; the message reads ``site.yaml: $.path: what``."""


def read_site_settings(site_dir: Path) -> SiteSettings:
    """The :class:`SiteSettings` of ``site_dir/site.yaml``; raises :class:`SiteSettingsError`."""
    file = site_dir / SITE_FILE
    if file.is_symlink():
        # The site directory is content: never read a file of the host through it.
        raise SiteSettingsError(
            f"{SITE_FILE}: $: a symbolic link; the site directory takes no links"
        )
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise SiteSettingsError(f"{SITE_FILE}: $: not readable: {exc}") from None
    try:
        settings = msgspec.yaml.decode(raw, type=SiteSettings, strict=False)
    except msgspec.ValidationError as exc:
        path, message = where_and_what(exc)
        raise SiteSettingsError(f"{SITE_FILE}: {path}: {message}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
        raise SiteSettingsError(f"{SITE_FILE}: $: not readable YAML: {first[0]}") from None
    problem = check_timezone(settings.timezone)
    if problem is not None:
        raise SiteSettingsError(f"{SITE_FILE}: $.timezone: {problem}")
    return settings


def form_files(site_dir: Path) -> dict[str, Path]:
    """``forms/<id>.yaml`` of ``site_dir`` by id (the file name's stem, which a form's ``id`` must
    equal), sorted; empty when the folder is absent.
    """
    folder = site_dir / FORMS_DIR
    if not folder.is_dir():
        return {}
    return {file.stem: file for file in sorted(folder.glob("*.yaml"))}


def form_ids(site_dir: Path) -> frozenset[str] | None:
    """The ids of the site's forms, from the file names only (a broken form file still names its
    form); ``None`` when ``site_dir`` has no ``forms/`` folder (nothing to check references against).
    """
    if not (site_dir / FORMS_DIR).is_dir():
        return None
    return frozenset(form_files(site_dir))
