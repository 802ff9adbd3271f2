"""What the forms handlers share, built once by the app factory (no module-level state)."""

from __future__ import annotations

import datetime as dt

import anyio
import redis
import redis.asyncio

from frontdesk.networks import IpNetwork
from frontdesk.settings import Settings
from frontdesk.submissions.access import SubmissionAccess
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.claims import Claimer
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.ratelimit import RateLimiter
from frontdesk.submissions.secret import derive, derived_since, master_key
from frontdesk.submissions.store import SubmissionStore
from services.forms.timetrap import LegacyKey


class FormsState:
    """Settings, the reloadable forms and site settings (``catalog``: :attr:`forms`,
    :attr:`default_region`, :attr:`base_url` read through it), the submission store (sync client,
    for RQ and the staff API), the asyncio client of the submission path (``redis``), rate limiter,
    claimer, trusted proxy networks and the signing secret; over a
    :class:`~frontdesk.submissions.access.SubmissionAccess` (:attr:`access`, also the staff
    routes' context on the internal port).
    """

    def __init__(self, access: SubmissionAccess) -> None:
        if access.catalog.site is None:
            raise ValueError(f"the site settings of {access.catalog.site_dir} have not loaded")
        self.access = access
        self.settings: Settings = access.settings
        self.catalog: Catalog = access.catalog
        self.store: SubmissionStore = access.store
        self.redis: redis.asyncio.Redis = access.redis
        self.trusted_proxies: list[IpNetwork] = access.trusted_proxies
        connection = access.redis
        self.limiter = RateLimiter(connection)
        self.claimer = Claimer(connection)
        self._secret: bytes | None = None
        self._captcha_key: bytes | None = None
        self.legacy: LegacyKey | None = None

    @property
    def forms(self) -> dict[str, FormDefinition]:
        """The forms whose file is good now, by id (a reload swaps the whole dictionary)."""
        return self.catalog.forms

    @property
    def default_region(self) -> str:
        """The site's phone region (ISO 3166-1 alpha-2), from ``site.yaml``'s last good load."""
        assert self.catalog.site is not None  # checked at construction; a reload keeps the last
        return self.catalog.site.default_region

    def today(self) -> dt.date:
        """Today's date in the site's ``timezone`` (``site.yaml``): what date bounds count from."""
        assert self.catalog.site is not None
        return self.catalog.site.today()

    @property
    def base_url(self) -> str:
        """The site's ``base_url``, from ``site.yaml``'s last good load."""
        assert self.catalog.site is not None
        return self.catalog.site.base_url

    async def secret(self) -> bytes:
        """The time trap's key (``time-trap``, :mod:`frontdesk.submissions.secret`), cached with
        :attr:`legacy` (the previous version's key and when keys were first derived).

        A configured ``FRONTDESK_SECRET_KEY`` needs no Redis: tokens are still handed out while
        Redis is down, and :attr:`legacy` is read at the first call Redis answers. A generated
        key is read from Redis once. Raises ``redis.RedisError`` when Redis fails and the key
        cannot be had without it.
        """
        if self._secret is None and self.settings.secret_key:
            self._secret = derive(self.settings.secret_key.encode(), "time-trap")
        if self._secret is None:
            master, since = await anyio.to_thread.run_sync(self._master)
            self.legacy = LegacyKey(master, since)
            self._secret = derive(master, "time-trap")
        elif self.legacy is None and self.settings.secret_key:
            try:
                since = await anyio.to_thread.run_sync(derived_since, self.store.redis)
            except redis.RedisError:
                pass  # until Redis answers, a pre-upgrade token counts as forged
            else:
                self.legacy = LegacyKey(self.settings.secret_key.encode(), since)
        return self._secret

    async def captcha_key(self) -> bytes:
        """The ALTCHA challenges' HMAC key (``captcha-challenges``,
        :mod:`frontdesk.submissions.secret`), cached. A configured ``FRONTDESK_SECRET_KEY`` needs
        no Redis; a generated master is read from Redis once. Raises ``redis.RedisError`` when
        Redis fails and the key cannot be had without it.
        """
        if self._captcha_key is None:
            master = (
                self.settings.secret_key.encode()
                if self.settings.secret_key
                else await anyio.to_thread.run_sync(
                    master_key, self.store.redis, self.settings.secret_key
                )
            )
            self._captcha_key = derive(master, "captcha-challenges")
        return self._captcha_key

    def _master(self) -> tuple[bytes, float]:
        return master_key(self.store.redis, self.settings.secret_key), derived_since(
            self.store.redis
        )
