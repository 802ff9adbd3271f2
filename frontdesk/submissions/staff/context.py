"""What the staff routes need of the service that mounts them: :class:`StaffContext`.

The routes import no service. A service mounting them (:func:`~frontdesk.submissions.staff.
controller.staff_router`) hands over an object with these members; each is read at every request,
so a service that reloads its forms or settings is seen at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import redis.asyncio
from litestar.connection import ASGIConnection

from frontdesk.staff_tokens import StaffToken
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.store import SubmissionStore


class StaffContext(Protocol):
    """The mounting service's side of the staff routes (a structural type: any object with these
    members will do).
    """

    @property
    def store(self) -> SubmissionStore:
        """The submission store; its sync client runs in worker threads."""
        ...

    @property
    def redis(self) -> redis.asyncio.Redis:
        """An asyncio client of the same Redis: the failed-token throttle's counters."""
        ...

    @property
    def forms(self) -> Mapping[str, FormDefinition]:
        """The loaded form definitions by id. A form no longer defined has no list, but its stored
        submissions can still be read, released, resent, deleted and erased.
        """
        ...

    @property
    def staff_tokens(self) -> Sequence[StaffToken]:
        """``FRONTDESK_STAFF_TOKENS`` (empty: every staff request is 401)."""
        ...

    @property
    def audit_retention_days(self) -> int:
        """``FRONTDESK_AUDIT_RETENTION_DAYS``: how long the audit log keeps a staff action."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """Unix seconds now: the time of an audit entry (tests hand in a clock they move)."""
        ...

    def client_bucket(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The client ``connection`` counts as (the address behind trusted proxies, IPv6 by
        prefix): the throttle's key and the only client a log line names.
        """
        ...
