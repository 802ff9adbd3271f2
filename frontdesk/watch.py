"""The reload triggers every process shares: a change under the site directory, and ``SIGHUP``.

A change is any file written, added or removed below the directory (watchfiles, recursive,
debounced), which covers an editor's save, a ``git pull``, an ``rsync`` and a release that swaps a
folder (an atomic rename, as Kubernetes does for a volume's ``..data``). ``SIGHUP`` reloads on demand (where
watching is off or the filesystem sends no events, e.g. some network mounts).

Two shapes, one behaviour:

- :func:`reloading` for the services' event loops: an async context manager (an app lifespan)
  that runs a watcher task and a ``SIGHUP`` handler, each calling an async ``reload``.
- :class:`ReloadFlag` for the worker, whose RQ loop is synchronous and forks a work horse per job:
  a watcher thread and a ``SIGHUP`` handler only raise a flag; the worker reloads in its own
  thread, between jobs (:meth:`ReloadFlag.take`), so no fork happens in the middle of a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from watchfiles import awatch, watch

log = logging.getLogger("frontdesk.watch")

# Seconds before a failed watcher (its directory vanished) starts again.
RETRY_SECONDS = 5.0


def _debounce_ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


async def watch_directory(
    directory: Path,
    debounce: float,
    stop: asyncio.Event,
    on_change: Callable[[], Awaitable[Any]],
) -> None:
    """Call ``on_change`` after changes under ``directory``, debounced by ``debounce`` seconds,
    until ``stop`` is set. A watcher that fails (the directory vanished) is started again after
    :data:`RETRY_SECONDS`; ``SIGHUP`` works meanwhile.
    """
    while not stop.is_set():
        try:
            async for changes in awatch(
                directory, debounce=_debounce_ms(debounce), stop_event=stop, recursive=True
            ):
                log.info("%s changed (%d file(s)); reloading", directory, len(changes))
                await on_change()
        except Exception:
            log.exception("watching %s failed; retrying in %.0f s", directory, RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=RETRY_SECONDS)


@contextlib.asynccontextmanager
async def reloading(
    directory: Path,
    reload: Callable[[], Awaitable[Any]],
    *,
    watch_files: bool,
    debounce: float,
    tasks: Sequence[Callable[[], Coroutine[Any, Any, Any]]] = (),
) -> AsyncIterator[None]:
    """While the body runs: ``reload`` on changes under ``directory`` (when ``watch_files`` and the
    directory exists) and on ``SIGHUP``; ``tasks`` (coroutine functions, e.g. a timer) run beside.

    The ``SIGHUP`` handler needs the main thread: in another one (test clients run apps in a
    portal thread) there is none, and only the watcher reloads.
    """
    stop = asyncio.Event()
    running: list[asyncio.Task[Any]] = [asyncio.create_task(task()) for task in tasks]
    if watch_files and directory.is_dir():
        running.append(
            asyncio.create_task(
                watch_directory(directory, debounce, stop, reload), name=f"watch {directory}"
            )
        )
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[Any]] = set()  # strong references until each reload finishes

    async def run_reload() -> None:
        await reload()

    def on_hup() -> None:
        log.info("SIGHUP: reloading %s", directory)
        task = loop.create_task(run_reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    hup = False
    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        hup = True
    except (ValueError, RuntimeError, NotImplementedError):
        log.debug("SIGHUP reload not available in this thread")
    try:
        yield
    finally:
        stop.set()
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ReloadFlag:
    """A flag raised by changes under ``directory`` (a watcher thread, when ``watch_files``) and by
    ``SIGHUP`` (:meth:`install_sighup`), taken by the process's own loop with :meth:`take`.

    The watcher thread never touches anything else: a forking process (RQ's worker) must not fork
    while another thread is in the middle of a reload.
    """

    def __init__(self, directory: Path, *, watch_files: bool, debounce: float) -> None:
        self.directory = directory
        self.watch_files = watch_files
        self.debounce = debounce
        self._raised = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def raise_flag(self) -> None:
        """Ask for a reload at the next :meth:`take`."""
        self._raised.set()

    def take(self) -> bool:
        """Whether a reload was asked for since the last call (and lower the flag)."""
        if not self._raised.is_set():
            return False
        self._raised.clear()
        return True

    def start(self) -> None:
        """Start the watcher thread (a daemon: it never keeps the process alive)."""
        if not self.watch_files or self._thread is not None or not self.directory.is_dir():
            return
        self._thread = threading.Thread(
            target=self._watch, name=f"watch {self.directory}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread (within its debounce)."""
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                for changes in watch(
                    self.directory,
                    debounce=_debounce_ms(self.debounce),
                    stop_event=self._stop,
                    recursive=True,
                ):
                    log.info("%s changed (%d file(s)); reload due", self.directory, len(changes))
                    self._raised.set()
            except Exception:
                log.exception(
                    "watching %s failed; retrying in %.0f s", self.directory, RETRY_SECONDS
                )
                self._stop.wait(RETRY_SECONDS)

    def install_sighup(self) -> None:
        """``SIGHUP`` raises the flag (instead of ending the process, the default). Main thread
        only (``ValueError`` elsewhere).
        """

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._raised.set()

        signal.signal(signal.SIGHUP, on_hup)
