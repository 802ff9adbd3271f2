"""The live site of one content process: loads, reloads and rebuilds, swapping one Snapshot.

Reloads come from file changes (watchfiles, debounced), ``SIGHUP`` and ``publish_at`` times. A
reload that fails validation keeps the last good snapshot and records the problems for
``/health/ready``. Handlers read :attr:`SiteHolder.snapshot` once per request, so a response is
built from one version of the site even while a reload swaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Callable

import anyio.to_thread
from watchfiles import awatch

from frontdesk import metrics
from frontdesk.settings import Settings
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

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload after changes under the site directory, debounced by
        ``FRONTDESK_CONTENT_RELOAD_DEBOUNCE`` seconds, until ``stop`` is set.
        """
        debounce = max(1, int(self.settings.content_reload_debounce * 1000))
        while not stop.is_set():
            try:
                async for changes in awatch(
                    self.settings.site_dir, debounce=debounce, stop_event=stop, recursive=True
                ):
                    log.info("site directory changed (%d file(s)); reloading", len(changes))
                    await self.reload()
            except Exception:
                # The directory vanished or the watcher failed: SIGHUP still works; retry later.
                log.exception("watching %s failed; retrying in 5 s", self.settings.site_dir)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5)


@contextlib.asynccontextmanager
async def running(holder: SiteHolder) -> AsyncIterator[None]:
    """App lifespan: the publish timer, the file watcher (``FRONTDESK_CONTENT_WATCH``) and the
    ``SIGHUP`` handler run while the app serves.
    """
    stop = asyncio.Event()
    tasks = [asyncio.create_task(holder.publish_timer(), name="publish-timer")]
    if holder.settings.content_watch and holder.settings.site_dir.is_dir():
        tasks.append(asyncio.create_task(holder.watch(stop), name="site-watcher"))
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()  # strong references until each reload finishes

    def on_hup() -> None:
        log.info("SIGHUP: reloading %s", holder.settings.site_dir)
        task = loop.create_task(holder.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    hup = False
    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        hup = True
    except (ValueError, RuntimeError, NotImplementedError):
        # Not the main thread (test clients run the app in a portal thread): no signal handler.
        log.debug("SIGHUP reload not available in this thread")
    try:
        yield
    finally:
        stop.set()
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
