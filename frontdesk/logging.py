"""Logs: one JSON object per line, on every process (content, forms, worker), RQ's lines included.

Every line has ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message`` and ``process``; lines
written while a request or a job is handled also carry ``request_id`` (from ``X-Request-ID`` or a new
one, see :mod:`frontdesk.requestid`; in the worker, from the job's ``meta``) and ``submission_id``
(bound with :func:`log_context`; in the worker, the job's first argument, which is always the
submission id; other lines that name a submission or its job get it from the text). Visitor data
(name, email, phone, message) is never logged: log ids, never values.

:func:`dict_config` is a :func:`logging.config.dictConfig` dict, picklable, so granian can apply it in
its worker processes too; :func:`configure` applies it in this process.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import re
from collections.abc import Iterator
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "frontdesk_request_id", default=None
)
SUBMISSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "frontdesk_submission_id", default=None
)

# Loggers that install their own handlers or stop propagating (RQ 3 does both, granian routes its
# lines to its own stdout handlers): they are sent to the root's JSON handler instead.
# A submission id is 28 hex digits (services.forms.record.new_submission_id) and a job id is
# ``<submission id>-<kind>``: lines that name one (RQ's own, "submission <id> accepted") get the
# field. Worker names and request ids are 32 hex digits, which this never matches.
_SUBMISSION_IN_TEXT = re.compile(r"\b([0-9a-f]{28})(?:-[a-z_]+)?\b")

_THIRD_PARTY = ("rq", "rq.worker", "rq.job", "rq.scheduler", "rq.queue", "_granian", "granian")


@contextlib.contextmanager
def log_context(*, submission_id: str | None = None) -> Iterator[None]:
    """Within the block, every log line of this task or thread carries ``submission_id``."""
    token = SUBMISSION_ID.set(submission_id)
    try:
        yield
    finally:
        SUBMISSION_ID.reset(token)


def _job_ids() -> tuple[str | None, str | None]:
    """``(request_id, submission_id)`` of the RQ job this process is running, if any."""
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # no job context (not a worker, or RQ's local stack is empty)
        return None, None
    if job is None:
        return None, None
    request_id = job.meta.get("request_id") if isinstance(job.meta, dict) else None
    args = job.args if (job.func_name or "").startswith("worker.jobs.") else ()
    submission_id = args[0] if args and isinstance(args[0], str) else None
    return request_id, submission_id


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``submission_id`` to a record from the context, unless the call
    passed them in ``extra``; fields without a value are left out of the line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always ``True``: the filter only adds fields."""
        request_id, submission_id = REQUEST_ID.get(), SUBMISSION_ID.get()
        if request_id is None or submission_id is None:
            job_request_id, job_submission_id = _job_ids()
            request_id = request_id or job_request_id
            submission_id = submission_id or job_submission_id
        if submission_id is None:
            found = _SUBMISSION_IN_TEXT.search(record.getMessage())
            submission_id = found.group(1) if found else None
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        if submission_id is not None and not hasattr(record, "submission_id"):
            record.submission_id = submission_id
        return True


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """The ``dictConfig`` of every process: the root logger writes JSON lines to stderr at ``level``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "frontdesk.logging.ContextFilter"}},
        "formatters": {
            "json": {
                # python-json-logger's msgspec backend: a third of the stdlib json backend's time
                # per line (9.5 against 28 µs measured), and the forms service logs a line per
                # accepted submission. Its times end in "Z" (RFC 3339 UTC).
                "()": "pythonjsonlogger.msgspec.MsgspecFormatter",
                "fmt": ["levelname", "name", "message", "process"],
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            }
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": "NOTSET"} for name in _THIRD_PARTY
        }
        # Access lines would repeat what the metrics count; they stay off.
        | {"granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"}},
    }


def configure(level: str = "INFO") -> None:
    """Send every log line of this process, warnings included, to stderr as JSON at ``level``."""
    logging.config.dictConfig(dict_config(level))
    logging.captureWarnings(True)
