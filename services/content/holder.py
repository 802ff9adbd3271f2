"""The live site of one content process: loads, reloads and rebuilds, swapping one Snapshot.

Reloads come from file changes and ``SIGHUP`` (:mod:`frontdesk.watch`, shared with the forms
service and the worker) and from ``publish_at`` times. A
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

from frontdesk import metrics
from frontdesk.settings import Settings
from frontdesk.watch import reloading
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
        return loaded

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

    async def publish_timer(self) -> None:
        """Forever: sleep until the snapshot's ``next_publish_at`` (woken early by any reload),
        then rebuild.
        """
        while True:
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
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, _MAX_SLEEP))


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
