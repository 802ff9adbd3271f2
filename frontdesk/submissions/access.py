"""Access to the stored submissions for a service that serves staff: the forms service's internal
port and the inbox build one :class:`SubmissionAccess` each and mount the staff routes over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.asyncio
from litestar.connection import ASGIConnection

from frontdesk.networks import IpNetwork, client_bucket, forwarded_for_lines, parse_networks
from frontdesk.redis import connect, connect_async
from frontdesk.settings import Settings
from frontdesk.staff_tokens import StaffToken
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.queueing import retry_schedule
from frontdesk.submissions.store import SubmissionStore


class SubmissionAccess:
    """Settings, the reloadable forms (``catalog``), the submission store (sync client: RQ and the
    staff routes), an asyncio client (``redis``), the trusted proxy networks and the ``clock``
    (Unix seconds) audit entries are dated by.

    It is a :class:`~frontdesk.submissions.staff.StaffContext`: :attr:`forms` are every form with a
    definition, a broken file's last good one included, so staff keep reading, exporting and
    erasing a form's submissions while an editor fixes its file.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: SubmissionStore,
        connection: redis.asyncio.Redis,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.store = store
        self.redis = connection
        self.trusted_proxies: list[IpNetwork] = parse_networks(settings.trusted_proxies)

    @property
    def forms(self) -> Mapping[str, FormDefinition]:
        """Every form with a definition now (a reload swaps the whole dictionary)."""
        return self.catalog.definitions

    @property
    def staff_tokens(self) -> Sequence[StaffToken]:
        """``FRONTDESK_STAFF_TOKENS`` of the settings."""
        return self.settings.staff_tokens

    @property
    def audit_retention_days(self) -> int:
        """``FRONTDESK_AUDIT_RETENTION_DAYS`` of the settings."""
        return self.settings.audit_retention_days

    def client_bucket(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The client behind trusted proxies, IPv6 by ``FRONTDESK_IPV6_PREFIX``: the bucket the
        submissions' limits count (:func:`frontdesk.networks.client_bucket`).
        """
        peer = connection.client.host if connection.client else None
        return client_bucket(
            peer,
            forwarded_for_lines(connection.headers),
            self.trusted_proxies,
            self.settings.ipv6_prefix,
        )


def open_access(
    settings: Settings, catalog: Catalog | None = None, clock: Callable[[], float] = time.time
) -> SubmissionAccess:
    """Load the forms of ``settings.site_dir`` (unless ``catalog`` is given: another app's of the
    same process) and connect to Redis (a sync client for the store and RQ, an asyncio one);
    ``clock`` dates audit entries.

    Broken form files do not stop it (their last good definitions are kept); raises ``ValueError``
    when ``site.yaml`` has never loaded (no ``base_url`` to build links and redirects from).
    """
    if catalog is None:
        catalog = Catalog(settings.site_dir, settings.recipient_domains)
        catalog.load()
        if catalog.site is None:
            raise ValueError(f"{settings.site_dir}: {catalog.site_problem}")
    store = SubmissionStore(
        connect(settings),
        settings.queue_name,
        retry_schedule(settings.retry_base_seconds, settings.retry_max_hours),
        int(settings.job_timeout),
    )
    return SubmissionAccess(settings, catalog, store, connect_async(settings), clock)
