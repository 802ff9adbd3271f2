"""The content service's side of build hooks: which hooks of ``site.yaml`` ops allow, and the
announcement of each new build (:func:`frontdesk.submissions.buildhooks.announce`).

A hook whose URL ops do not allow (an ``http://`` URL, a loopback or private address: the webhook
rules of docs/security.md) is a problem of ``frontdesk content check`` and is left out of every
announcement, with an error logged at each load; it does not keep the site from being served.

The domain's side (:mod:`frontdesk.submissions.buildhooks`) is imported only once a site has
build hooks: it names RQ's keys, and a content process without hooks never loads RQ.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec
import redis

from frontdesk.networks import url_refusal
from frontdesk.redis import connect
from frontdesk.settings import Settings
from services.content import public
from services.content.loader import SiteProblem
from services.content.model import BuildHookConfig, SiteConfig
from services.content.snapshot import Snapshot

if TYPE_CHECKING:
    from frontdesk.submissions.buildhooks import Payload

log = logging.getLogger("frontdesk.content")


def hook_problems(config: SiteConfig, settings: Settings) -> list[SiteProblem]:
    """One problem per build hook ops do not allow, or whose name repeats another's."""
    problems = []
    seen: set[str] = set()
    for index, hook in enumerate(config.build_hooks):
        where = f"$.build_hooks[{index}]"
        if hook.name in seen:
            problems.append(SiteProblem("site.yaml", f"{where}.name", "a second hook of this name"))
        seen.add(hook.name)
        why = url_refusal(
            hook.url,
            allow_http=settings.webhook_allow_http,
            allow_networks=settings.webhook_allow_networks,
        )
        if why is not None:
            problems.append(SiteProblem("site.yaml", f"{where}.url", f"refused: {why}"))
    return problems


def allowed_hooks(config: SiteConfig, settings: Settings) -> list[BuildHookConfig]:
    """The build hooks of ``config`` that ops allow (the first of a repeated name)."""
    refused = {p.path.rsplit(".", 1)[0] for p in hook_problems(config, settings)}
    return [
        hook
        for index, hook in enumerate(config.build_hooks)
        if f"$.build_hooks[{index}]" not in refused
    ]


def routes_of(snapshot: Snapshot) -> dict[str, str]:
    """Every public route of ``snapshot`` → its strong ETag (``GET /v1/routes``)."""
    listed = msgspec.json.decode(snapshot.public.routes.identity, type=public.RoutesOut)
    return {route.path: route.etag for route in listed.items}


class Announcer:
    """Announces builds for one content process; its Redis client is made on first use, so a
    site without build hooks never connects.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: redis.Redis | None = None

    def announce(
        self, snapshot: Snapshot, previous: Mapping[str, str] | None
    ) -> tuple[Payload | None, dict[str, str]]:
        """Queue the change ``snapshot`` makes, if any (blocking: run it in a thread). Returns the
        payload queued (``None``: nothing to send) and the routes of ``snapshot``, the next
        call's ``previous``. Raises ``redis.RedisError`` when Redis fails.
        """
        routes = routes_of(snapshot)
        config = snapshot.site.config
        for problem in hook_problems(config, self.settings):
            log.error("build hook not used: %s", problem)
        hooks = allowed_hooks(config, self.settings)
        if not hooks:
            return None, routes
        from frontdesk.submissions.buildhooks import Hook, announce

        if self._connection is None:
            self._connection = connect(self.settings)
        payload = announce(
            self._connection,
            routes,
            [Hook(hook.name, hook.url) for hook in hooks],
            self.settings,
            previous=previous,
        )
        if payload is not None:
            log.info(
                "build change %s queued for %d hook(s): %d page(s), %d collection(s) changed",
                payload.id,
                len(hooks),
                len(payload.pages.added) + len(payload.pages.changed) + len(payload.pages.removed),
                len(payload.collections.added)
                + len(payload.collections.changed)
                + len(payload.collections.removed),
            )
        return payload, routes
