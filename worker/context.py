"""The worker's job context: settings, forms and compiled templates, built once by the worker's
factory and reloaded on the same triggers as the services (:mod:`frontdesk.watch`).

RQ jobs are module functions, called with their arguments only. :class:`ContextWorker` (the base
of the worker, :mod:`worker.main`) hands its :class:`JobContext` to each job it runs: before the
work horse forks it takes a pending reload (so the horse starts with the current forms and their
templates compiled), and in the horse it sets the context on the RQ job object, where the job finds
it through ``rq.get_current_job()`` (:func:`current_context`). Nothing is cached at module level.

Reloads: a change under the site directory (a watcher thread) or ``SIGHUP`` raises a flag; the
worker reloads in its own thread before the next job and at each maintenance run. A broken form
file keeps its form's last good definition, so the emails of submissions already stored go on; the
other forms are not touched (:class:`~frontdesk.submissions.catalog.Catalog`).
"""

from __future__ import annotations

import logging
from typing import Any

import jinja2
from rq import Queue, Worker, get_current_job
from rq.executions import Execution
from rq.job import Job

from frontdesk.settings import Settings, load_settings
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.definition import FormDefinition
from frontdesk.watch import ReloadFlag
from worker.messages import TEMPLATE_NAMES, Environments, build_environment

log = logging.getLogger("frontdesk.worker")

# The attribute of an RQ job object (in memory only, never saved) that carries the context.
JOB_ATTRIBUTE = "frontdesk_context"


class JobContext:
    """What jobs need besides their arguments: :attr:`settings`, the forms (:attr:`catalog`) and
    each form's (text, html) template environments, compiled (:meth:`environments`).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.site_dir, settings.recipient_domains)
        self.flag = ReloadFlag(
            settings.site_dir,
            watch_files=settings.content_watch,
            debounce=settings.content_reload_debounce,
        )
        self._environments: dict[str, Environments] = {}

    @classmethod
    def build(cls, settings: Settings) -> JobContext:
        """A context with the site directory loaded (never raises for bad content: broken forms
        are logged and left out until fixed).
        """
        context = cls(settings)
        context.load()
        return context

    def load(self) -> None:
        """Read the forms again and compile every form's templates now (a work horse inherits them
        compiled). A template that does not compile is logged; its messages fail with the error
        (``worker.jobs``) until it is fixed.
        """
        self.catalog.load()
        environments: dict[str, Environments] = {}
        for form_id in self.catalog.definitions:
            envs = build_environment(self.settings.site_dir, form_id)
            for env in envs:
                for name in TEMPLATE_NAMES:
                    try:
                        env.get_template(name)
                    except (jinja2.TemplateError, OSError) as exc:
                        log.warning(
                            "form %s: template %s not compiled ahead: %s", form_id, name, exc
                        )
            environments[form_id] = envs
        self._environments = environments

    def refresh(self) -> bool:
        """Reload when a change or ``SIGHUP`` asked for it since the last call; whether it did."""
        if not self.flag.take():
            return False
        self.load()
        return True

    def watch(self) -> None:
        """Start the reload triggers: the watcher thread and the ``SIGHUP`` handler (main thread)."""
        self.flag.start()
        self.flag.install_sighup()

    def form(self, form_id: str) -> FormDefinition | None:
        """The last good definition of ``form_id`` (a broken file keeps it), else ``None``."""
        return self.catalog.definitions.get(form_id)

    def is_broken(self, form_id: str) -> bool:
        """Whether ``form_id``'s file exists but does not load now."""
        return form_id in self.catalog.broken

    def environments(self, form_id: str) -> Environments:
        """The (text, html) template environments of ``form_id`` (site templates first)."""
        envs = self._environments.get(form_id)
        if envs is None:
            envs = build_environment(self.settings.site_dir, form_id)
            self._environments[form_id] = envs
        return envs


class ContextWorker(Worker):
    """An RQ worker that hands :attr:`context` to its jobs and applies reloads between jobs."""

    context: JobContext

    def execute_job(self, job: Job, queue: Queue) -> Any:
        """Take a pending reload, then run ``job`` (RQ forks the work horse in here)."""
        self.context.refresh()
        return super().execute_job(job, queue)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """In the work horse: set the context on ``job`` for :func:`current_context`, then run it."""
        setattr(job, JOB_ATTRIBUTE, self.context)
        return bool(super().perform_job(job, queue, execution))

    def run_maintenance_tasks(self) -> None:
        """Take a pending reload (its problems are logged even while no job comes), then RQ's
        maintenance.
        """
        self.context.refresh()
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]


def current_context() -> JobContext:
    """The context of the running job, as its :class:`ContextWorker` set it.

    A job run by a plain RQ worker (a test's ``SimpleWorker``, ``rq worker`` by hand) has none:
    it gets a context of its own, read from the environment and the site directory for this job.
    """
    job = get_current_job()
    context = getattr(job, JOB_ATTRIBUTE, None) if job is not None else None
    if isinstance(context, JobContext):
        return context
    return JobContext.build(load_settings())
