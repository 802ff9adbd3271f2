"""Who is calling the staff API, and may they: the guard every staff route runs first.

:func:`staff_guard` is a Litestar guard, so it runs after routing and before the handler's
parameters or body are read: a request without a valid token never gets a 400 about its query and
never has its body parsed. In order:

1. **Throttle** (per client, ``StaffContext.client_bucket``): after :data:`FAILURES` failed tokens
   within a fixed window of :data:`WINDOW` seconds, every staff request from that client is answered
   429 ``too_many_failures`` with ``Retry-After`` until the window ends — a right token too: were it
   accepted, each refused guess would still tell the guesser "wrong", and the throttle would only
   slow the winning guess down. Kept in Redis, so every replica shares the count; not lifted by
   ``FRONTDESK_RATE_LIMITS=off`` (that switch is for visitor limits in benchmarks).
2. **Token** (RFC 6750 bearer): missing → 401 ``unauthorized`` with ``WWW-Authenticate`` (not
   counted: no guess was made); wrong → 401 ``invalid_token``, counted, and one WARNING line on the
   ``frontdesk.audit`` logger with the client bucket — never the presented token.
3. **Scope** (``FRONTDESK_STAFF_TOKENS`` ``forms=`` / ``actions=``): the route's action (its
   ``opt["staff_action"]``; a list with ``format=csv`` or ``jsonl`` is ``export``) → 403
   ``action_not_allowed``; a form in the path outside the token's forms → 403 ``form_not_allowed``.
   Routes on one submission check its form once the record is loaded (:func:`require_form`).

The matching :class:`~frontdesk.staff_tokens.StaffToken` is left in the request's state for the
handler (:func:`staff_token`, also the routes' ``token`` dependency). Redis failing on the throttle
check is a 503 ``store_unavailable``, as every staff route answers without Redis.

:func:`staff_guard` builds the guard over a mounting service's
:class:`~frontdesk.submissions.staff.context.StaffContext`: a closure, which Litestar keeps as it
is when it copies the routers it registers (a context's Redis clients cannot be copied).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from frontdesk.problems import ProblemError
from frontdesk.staff_tokens import StaffAction, StaffToken
from frontdesk.submissions.problems import store_unavailable
from frontdesk.submissions.ratelimit import LIMITS_LUA, Limit, wait_seconds, window_args
from frontdesk.submissions.staff.context import StaffContext

audit = logging.getLogger("frontdesk.audit")

FAILURES = 10
WINDOW = 15 * 60
_STATE_KEY = "staff_token"
_CHALLENGE = 'Bearer realm="frontdesk"'

# limits_wait / count_limits over one window: the wait (ms) now, or after counting one failure.
_WAIT = LIMITS_LUA + "return limits_wait(0, #KEYS, 0)"
_FAIL = LIMITS_LUA + "count_limits(0, #KEYS, 0) return limits_wait(0, #KEYS, 0)"


class StaffThrottle:
    """Failed staff tokens per client bucket, in fixed Redis windows (see the module doc)."""

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self._wait = connection.register_script(_WAIT)
        self._fail = connection.register_script(_FAIL)

    @staticmethod
    def _window(bucket: str) -> tuple[list[str], list[int]]:
        return window_args([Limit(f"staff-auth:{bucket}", FAILURES, WINDOW)])

    async def wait(self, bucket: str) -> int:
        """Seconds until ``bucket`` may try again (0: it may now). Raises ``redis.RedisError``."""
        keys, args = self._window(bucket)
        return wait_seconds(int(await self._wait(keys=keys, args=args)))

    async def failed(self, bucket: str) -> int:
        """Count one failed token of ``bucket``; the seconds it must now wait (0: none)."""
        keys, args = self._window(bucket)
        return wait_seconds(int(await self._fail(keys=keys, args=args)))


def _presented(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return presented.strip()


def _matching(tokens: Sequence[StaffToken], presented: str) -> StaffToken | None:
    given = presented.encode()
    found = None
    for token in tokens:  # every token compared, in constant time each
        if hmac.compare_digest(token.token.encode(), given):
            found = token
    return found


def _action(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> StaffAction:
    action: StaffAction = handler.opt["staff_action"]
    if action == "read" and connection.query_params.get("format") in ("csv", "jsonl"):
        return "export"
    return action


def staff_guard(context: StaffContext) -> Guard:
    """The Litestar guard of the staff routes over ``context``, with one :class:`StaffThrottle`
    over ``context.redis`` (its scripts registered once).
    """
    throttle = StaffThrottle(context.redis)

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        """Throttle, authenticate and authorise a staff request (see the module doc); raises
        :class:`~frontdesk.problems.ProblemError` 429, 401, 403 or 503.
        """
        bucket = context.client_bucket(connection)
        try:
            wait = await throttle.wait(bucket)
        except redis.RedisError:
            raise store_unavailable() from None
        if wait:
            raise ProblemError(
                429,
                "too_many_failures",
                f"Too many invalid staff tokens from this client; try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        presented = _presented(connection)
        if presented is None:
            raise ProblemError(
                401,
                "unauthorized",
                "Send Authorization: Bearer <staff token>.",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        action = _action(connection, handler)
        token = _matching(context.staff_tokens, presented)
        if token is None:
            try:
                now_waits = await throttle.failed(bucket)
            except redis.RedisError:
                raise store_unavailable() from None
            audit.warning("staff token invalid client=%s action=%s", bucket, action)
            if now_waits:
                audit.warning("staff tokens throttled client=%s seconds=%d", bucket, now_waits)
            raise ProblemError(
                401,
                "invalid_token",
                "The staff token is not valid.",
                headers={
                    "WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token", '
                    'error_description="unknown token"'
                },
            )
        if not token.may(action):
            raise ProblemError(403, "action_not_allowed", f"This staff token may not {action}.")
        form_id = connection.path_params.get("form_id")
        if form_id is not None:
            require_form(token, form_id)
        connection.state[_STATE_KEY] = token

    return guard


def staff_token(request: Request[Any, Any, Any]) -> StaffToken:
    """The token :func:`staff_guard` accepted for this request (the routes' ``token``
    dependency: the parameter is named ``request`` for Litestar's injection).
    """
    token: StaffToken = request.state[_STATE_KEY]
    return token


def require_form(token: StaffToken, form_id: str) -> None:
    """403 ``form_not_allowed`` unless ``token`` reaches ``form_id``."""
    if not token.reaches(form_id):
        raise ProblemError(403, "form_not_allowed", "This staff token may not see this form.")
