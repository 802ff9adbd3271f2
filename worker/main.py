"""``frontdesk worker``: one RQ worker with the scheduler, the JSON serializer and our connection.

Crash recovery (DESIGN.md "Submission lifecycle"): a job whose worker died (SIGKILL, OOM) stays in
RQ's started registry until its heartbeat expires (two ``FRONTDESK_WORKER_HEARTBEAT`` intervals),
the next maintenance run (every ``FRONTDESK_WORKER_MAINTENANCE_INTERVAL``) schedules its retry, and
the scheduler runs it after the first retry delay (``FRONTDESK_RETRY_BASE_SECONDS``). With the
defaults (30 s, 30 s, 60 s) a killed job runs again within 30 + 30 + 30 + 60 = 150 s. Each
maintenance run also runs :func:`worker.sweep.sweep` and queues the hourly digests of held posts
(:func:`worker.digest.queue_digests`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.serializers import JSONSerializer

from frontdesk.redis import connect
from frontdesk.settings import Settings
from worker.smtp import DeliveryError, ProbeError, probe

log = logging.getLogger("frontdesk.worker")


class StartError(Exception):
    """The worker's settings cannot work; the message names the settings involved."""


class FrontdeskWorker(Worker):
    """RQ's forking ``Worker`` with a configurable heartbeat grace, the sweep in its maintenance,
    and jobs whose payload is not JSON failed with a log line instead of a crash.
    """

    frontdesk_settings: Settings

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds until an unrefreshed job counts as abandoned: the next heartbeat plus a grace of
        one more (RQ's own grace is a fixed 60 s, too long for recovery within 3 minutes).
        """
        interval = int(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - working_time, interval))
        return max(interval, 1) + int(self.job_monitoring_interval)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (abandoned jobs retried, registries cleaned), then the sweep and the
        digests of held posts (:mod:`worker.digest`).
        """
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        from worker.sweep import sweep

        try:
            acted = sweep(self.connection, self.frontdesk_settings)
        except Exception:
            log.exception("the sweep failed; it runs again at the next maintenance")
        else:
            if acted:
                log.info("sweep: acted on %d message(s)", acted)
        from worker.digest import queue_digests

        try:
            queue_digests(self.connection, self.frontdesk_settings)
        except redis.RedisError:
            pass  # Redis is away: the sweep's line above already says so; the next run catches up
        except Exception:
            log.exception("the held-posts digest failed; it runs again at the next maintenance")

    def execute_job(self, job: Job, queue: Queue) -> Any:
        """Run ``job``, unless its payload cannot be decoded as JSON (a pickle-based producer, a
        hand-written entry): then it is moved to the failed registry with a log line naming it.
        """
        try:
            job.func_name  # noqa: B018 - decodes the payload
        except DeserializationError:
            log.error(
                "job %s on queue %s is not valid JSON; moved to the failed jobs, not run",
                job.id,
                queue.name,
            )
            job.retries_left = 0
            self.handle_job_failure(
                job, queue=queue, exc_string="payload is not valid JSON (DeserializationError)"
            )
            # RQ takes a job off its intermediate queue only when it starts running it.
            queue.intermediate_queue.remove(job.id)
            return None
        return super().execute_job(job, queue)


def check_start(settings: Settings) -> None:
    """Refuse SMTP settings that cannot work; raises :class:`StartError` naming them.

    Port 465 with a security other than ``tls`` is refused by settings already; here: a CA file that
    does not exist, a CA file without TLS, and a username without a password (or the reverse).
    """
    problems: list[str] = []
    ca = settings.smtp_ca_file
    if ca is not None and not Path(ca).is_file():
        problems.append(f"FRONTDESK_SMTP_CA_FILE: {ca} is not a readable file")
    if ca is not None and settings.smtp_security == "none":
        problems.append(
            "FRONTDESK_SMTP_CA_FILE is set but FRONTDESK_SMTP_SECURITY is 'none': "
            "set FRONTDESK_SMTP_SECURITY to starttls or tls"
        )
    if settings.smtp_port == 587 and settings.smtp_security == "tls":
        problems.append(
            "FRONTDESK_SMTP_PORT 587 is the submission port with STARTTLS but "
            "FRONTDESK_SMTP_SECURITY is 'tls' (implicit TLS, port 465): set it to starttls"
        )
    if (settings.smtp_username is None) != (settings.smtp_password is None):
        problems.append("FRONTDESK_SMTP_USERNAME and FRONTDESK_SMTP_PASSWORD must be set together")
    if problems:
        raise StartError("\n".join(problems))


def build_worker(settings: Settings) -> FrontdeskWorker:
    """A :class:`FrontdeskWorker` on ``settings.queue_name``; RQ's own URL variable is never read.

    The connection has no socket timeout: the worker blocks on its queue between maintenance runs.
    """
    connection = connect(settings.redis_url, socket_timeout=None)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    interval = max(1, int(settings.worker_maintenance_interval))
    worker = FrontdeskWorker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=interval,
        job_monitoring_interval=max(1, int(settings.worker_heartbeat)),
        # RQ blocks on the queue for worker_ttl - 15 s and runs maintenance only in between.
        worker_ttl=min(420, interval + 15),
        log_job_description=False,
    )
    worker.frontdesk_settings = settings
    _warm_up(settings)
    return worker


def _warm_up(settings: Settings) -> None:
    """Import the job's modules and compile the templates in the parent process: RQ forks a
    work-horse per job, which then starts with all of it ready instead of redoing it every job.
    """
    import jinja2

    import worker.jobs  # noqa: F401
    from services.forms.definition import FormsError, load_forms
    from worker.messages import warm_up

    try:
        warm_up(settings.site_dir, sorted(load_forms(settings.site_dir)))
    except (FormsError, OSError, jinja2.TemplateError) as exc:
        log.warning("templates not compiled ahead (%s); jobs will compile them", exc)


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Work until stopped (or, with ``burst``, until the queue is empty); always with the scheduler,
    since retries with an interval run only under it. Raises :class:`StartError` on bad settings.
    """
    check_start(settings)
    try:
        log.info("relay: %s", asyncio.run(probe(settings)))
    except ProbeError as exc:
        raise StartError(str(exc)) from exc
    except DeliveryError as exc:
        # A relay that is down now may be up later; jobs wait for it with their retries.
        log.warning("relay not reachable at start (%s); starting anyway", exc)
    worker = build_worker(settings)
    log.info("worker %s listening on queue %s", worker.name, settings.queue_name)
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level))


def healthy_workers(settings: Settings, hostname: str | None = None) -> list[str]:
    """Names of the workers on ``hostname`` (default this host) whose heartbeat is fresh, i.e. not
    older than the maintenance interval plus 60 s (RQ beats at least once per dequeue wait).
    """
    connection = connect(settings.redis_url)
    host = hostname or socket.gethostname()
    limit = min(420, max(1, int(settings.worker_maintenance_interval)) + 15) + 60
    names = []
    for worker in Worker.all(connection=connection, serializer=JSONSerializer):
        beat = worker.last_heartbeat
        if worker.hostname == host and beat is not None and time.time() - beat.timestamp() < limit:
            names.append(str(worker.name))
    return names
