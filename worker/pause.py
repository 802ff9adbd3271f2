"""Pause points for failure drills (test only): hold a worker process at a named point of its work
while the drill breaks something, e.g. kills Redis between the relay's ``250`` and the record update.

Inert unless ``FRONTDESK_DRILL_PAUSE_DIR`` is set (never in production: the setting exists for
``tests/drills``). The drill arms point ``p`` by creating the file ``<dir>/p``; the first process to
reach the point claims it by renaming it to ``<dir>/p.paused`` (a rename is atomic, so one process
pauses once per arming) and waits while that file exists, at most :data:`LONGEST` seconds. The drill
deletes it to let the process go on.

Points: ``dequeued`` (the worker parent has taken a job from the queue and not yet started its work
horse) and ``sent`` (the job's message was accepted by the relay; the ``sent`` marker and the record
are not written yet).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LONGEST = 60.0


def pause_point(directory: Path | None, point: str) -> None:
    """Wait at ``point`` if the drill armed it in ``directory``; returns at once otherwise."""
    if directory is None:
        return
    held = directory / f"{point}.paused"
    try:
        os.rename(directory / point, held)
    except OSError:
        return
    deadline = time.monotonic() + LONGEST
    while held.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
