"""The forms service's reloads: its :class:`~frontdesk.submissions.catalog.Catalog` loaded again
on the same triggers as the content service's site (:mod:`frontdesk.watch`: a change under the
site directory, ``SIGHUP``), with the same settings (``FRONTDESK_CONTENT_WATCH``,
``FRONTDESK_CONTENT_RELOAD_DEBOUNCE``).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import anyio.to_thread

from frontdesk import metrics
from frontdesk.settings import Settings
from frontdesk.submissions.catalog import Catalog
from frontdesk.watch import reloading


def reloading_forms(catalog: Catalog, settings: Settings) -> AbstractAsyncContextManager[None]:
    """App lifespan: while the app serves, ``catalog`` reloads (in a thread, never two at once)
    after changes under ``settings.site_dir`` and on ``SIGHUP``, each reload counted in
    ``frontdesk_forms_reloads_total``.
    """
    lock = asyncio.Lock()

    async def reload() -> bool:
        async with lock:
            loaded = await anyio.to_thread.run_sync(catalog.load)
        metrics.forms_reloaded(loaded)
        return loaded

    return reloading(
        settings.site_dir,
        reload,
        watch_files=settings.content_watch,
        debounce=settings.content_reload_debounce,
    )
