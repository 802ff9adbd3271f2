"""The live site of one content process: loads, reloads and rebuilds, swapping one Snapshot.

Reloads come from file changes and ``SIGHUP`` (:mod:`frontdesk.watch`, shared with the forms
service and the worker) and from ``publish_at`` times, checked at least every
``FRONTDESK_CONTENT_PUBLISH_CHECK`` seconds. Each new build is announced to the build hooks
(:mod:`services.content.buildhooks`): at start, after a reload and after a rebuild. A
reload that fails validation keeps the last good snapshot and records the problems for
``/health/ready``. Handlers read :attr:`SiteHolder.snapshot` once per request, so a response is
built from one version of the site even while a reload swaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import anyio.to_thread
import redis

from frontdesk import metrics
from frontdesk.settings import Settings
from frontdesk.watch import reloading
from services.content.buildhooks import Announcer
from services.content.loader import SiteError, SiteProblem, load_site
from services.content.snapshot import Snapshot

log = logging.getLogger("frontdesk.content")

# A timer never sleeps longer than this, so a clock jump is noticed within the hour.
_MAX_SLEEP = 3600.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SiteHolder:
    """Holds the current :class:`Snapshot` (``None`` until a site has loaded) and the problems of
    the last failed load (``errors``, empty after a good one).
    """

    def __init__(self, settings: Settings, clock: Callable[[], dt.datetime] = _now) -> None:
        self.settings = settings
        self.clock = clock
        self.snapshot: Snapshot | None = None
        self.errors: list[SiteProblem] = []
        self.loads = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.announcer = Announcer(settings)
        self._announce_lock = asyncio.Lock()
        # The routes of the last build handed to the build hooks, and how many announcements ran
        # (tests wait on it): see :meth:`announce`.
        self.announced: dict[str, str] | None = None
        self.announces = 0
        self._announce_due = True

    def load(self) -> bool:
        """Read the site directory and swap in a new snapshot; ``False`` (old one kept) on problems.

        Blocking: call it from a thread inside the event loop (:meth:`reload` does).
        """
        try:
            site = load_site(self.settings.site_dir)
            snapshot = Snapshot(site, self.settings, self.clock(), previous=self.snapshot)
        except SiteError as exc:
            self.errors = exc.problems
            for problem in exc.problems:
                log.error("site problem: %s", problem)
            log.error(
                "site %s not loaded (%d problem(s)); %s",
                self.settings.site_dir,
                len(exc.problems),
                "serving the last good site" if self.snapshot else "no site to serve",
            )
            metrics.content_reload_failed()
            return False
        except OSError as exc:
            self.errors = [SiteProblem("", "$", f"unreadable: {exc}")]
            log.error("site %s not loaded: %s", self.settings.site_dir, exc)
            metrics.content_reload_failed()
            return False
        self.snapshot = snapshot
        self.errors = []
        self.loads += 1
        metrics.content_reloaded()
        log.info(
            "site loaded: %d page(s), next publish_at %s",
            len(snapshot.pages),
            snapshot.next_publish_at,
        )
        return True

    async def reload(self) -> bool:
        """:meth:`load` in a worker thread; reloads never overlap."""
        async with self._lock:
            loaded = await anyio.to_thread.run_sync(self.load)
        # asyncio.Event is not thread-safe: the timer is woken here, back on the loop.
        self._wake.set()
        if loaded:
            await self.announce()
        return loaded

    async def announce(self) -> None:
        """Announce the current build to the build hooks (in a thread; one at a time). When Redis
        fails, the publish timer tries again at its next check.
        """
        async with self._announce_lock:
            snapshot = self.snapshot
            if snapshot is None:
                return
            self._announce_due = False
            try:
                _, routes = await anyio.to_thread.run_sync(
                    self.announcer.announce, snapshot, self.announced
                )
            except redis.RedisError as exc:
                self._announce_due = True
                log.error("build hooks: change not queued, Redis failed (%s)", type(exc).__name__)
                return
            except Exception:
                log.exception("build hooks: change not queued")
                return
            finally:
                self.announces += 1
            self.announced = routes

    async def rebuild(self) -> None:
        """Rebuild every body of the current site at the current time (a ``publish_at`` passed)."""
        async with self._lock:
            current = self.snapshot
            if current is None:
                return
            self.snapshot = await anyio.to_thread.run_sync(
                Snapshot, current.site, self.settings, self.clock(), current.assets, current
            )
            log.info("site rebuilt for publish_at %s", current.next_publish_at)
        await self.announce()

    async def publish_timer(self) -> None:
        """Forever: sleep until the snapshot's ``next_publish_at`` (woken early by any reload, and
        at most ``FRONTDESK_CONTENT_PUBLISH_CHECK`` seconds, so a clock step never delays a publish
        longer), then rebuild. Announces the first build, and one whose announcement failed.
        """
        check = max(0.01, self.settings.content_publish_check)
        while True:
            if self._announce_due:
                await self.announce()
            # Cleared before reading the snapshot: a reload finishing after this line wakes us.
            self._wake.clear()
            snapshot = self.snapshot
            due = snapshot.next_publish_at if snapshot else None
            delay = _MAX_SLEEP if due is None else (due - self.clock()).total_seconds()
            if delay <= 0:
                try:
                    await self.rebuild()
                    continue
                except Exception:
                    # Keep serving the current build; try again later rather than spin.
                    log.exception("rebuild for publish_at %s failed", due)
                    delay = 60.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, _MAX_SLEEP, check))


def running(holder: SiteHolder) -> contextlib.AbstractAsyncContextManager[None]:
    """App lifespan: the publish timer, the file watcher (``FRONTDESK_CONTENT_WATCH``, debounced by
    ``FRONTDESK_CONTENT_RELOAD_DEBOUNCE`` seconds) and the ``SIGHUP`` handler run while the app
    serves (:func:`frontdesk.watch.reloading`).
    """
    return reloading(
        holder.settings.site_dir,
        holder.reload,
        watch_files=holder.settings.content_watch,
        debounce=holder.settings.content_reload_debounce,
        tasks=[holder.publish_timer],
    )
