"""Build hooks: a signed POST naming what changed, each time the content API serves a new build.

``site.yaml`` names the hooks (``build_hooks: [{name, url}]``); the content service calls
:func:`announce` with every route's ETag after a reload or a ``publish_at`` rebuild, and the worker
delivers (worker/buildhooks.py) with the webhooks' destination rules and retry schedule.

One change, however many replicas: :data:`~frontdesk.submissions.keys.BUILD_HOOKS_ANNOUNCED` holds
the digest of the last announced ETag set. :func:`announce` watches it; a build whose digest
is already there was announced (by another replica that built the same files); otherwise one
``MULTI`` writes the new digest, the change and one delivery job per hook, so a change is never
announced without its jobs nor queued twice. The baseline of the diff is the last announced build
(what the receivers last heard of), so a process that starts after files changed still announces
them; the very first build only records the baseline.

One job per hook (not one per change for every hook): a receiver that fails is retried alone,
and the others are not sent the change again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence

import msgspec
import redis

from frontdesk.settings import Settings
from frontdesk.submissions.keys import (
    BUILD_HOOKS_ANNOUNCED,
    QUEUES_KEY,
    build_hook_change_key,
    build_hook_job_id,
    build_hook_log_key,
    job_key,
)
from frontdesk.submissions.queueing import RESULT_TTL, retry_schedule
from frontdesk.submissions.rqjob import JobTemplate

DELIVER_JOB = "worker.buildhooks.deliver"
LOG_LENGTH = 50
"""Deliveries kept per hook in its log (newest first)."""
_WATCH_ATTEMPTS = 5
_PAGE = "/v1/pages/"
_COLLECTION = "/v1/collections/"


class Hook(msgspec.Struct, frozen=True):
    """A build hook: ``name`` (a slug: it names the hook in logs and job ids, since the URL of a
    Netlify or Vercel hook is itself the secret) and ``url``.
    """

    name: str
    url: str


class Changed(msgspec.Struct, frozen=True):
    """Slugs (or names) ``added``, ``changed`` and ``removed``, each sorted."""

    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body of a build hook.

    ``id``: the change (hex); ``at``: when it was announced (ISO 8601, UTC); ``digest``: SHA-256
    (hex) of the new ETag set; ``pages``: page slugs; ``collections``: collection names whose list
    or items changed; ``items``: per collection, the item slugs; ``other``: any other route whose
    ETag changed (``/v1/site``, ``/v1/sitemap.xml``, ``/assets/...``); ``etags``: every route of the
    new build → its strong ETag (as ``GET /v1/routes`` lists them).
    """

    id: str
    at: str
    digest: str
    pages: Changed
    collections: Changed
    items: dict[str, Changed]
    other: list[str]
    etags: dict[str, str]


class Change(msgspec.Struct, frozen=True):
    """What the delivery jobs read: the ``body`` to POST (JSON text) and the ``hooks``."""

    body: str
    hooks: list[Hook]

    def hook(self, name: str) -> Hook | None:
        """The hook called ``name``, or ``None``."""
        return next((h for h in self.hooks if h.name == name), None)


class Announced(msgspec.Struct, frozen=True):
    """The last announced build: its ``digest`` and ``routes`` (path → ETag)."""

    digest: str
    routes: dict[str, str]


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt in a hook's log: ``at`` (ISO 8601, UTC), ``change`` id, ``attempt`` (1 = the
    first), ``status`` (the HTTP status, ``None`` without an answer), ``outcome`` (``delivered``,
    ``retrying``, ``failed``, ``refused``) and ``error`` (short text, never the URL).
    """

    at: str
    change: str
    attempt: int
    status: int | None
    outcome: str
    error: str | None = None


def digest_of(routes: Mapping[str, str]) -> str:
    """SHA-256 (hex) of ``routes`` (path → ETag), independent of their order."""
    text = "".join(f"{path} {etag}\n" for path, etag in sorted(routes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _changed(before: set[str], after: set[str], differ: set[str]) -> Changed:
    return Changed(sorted(after - before), sorted(differ & before & after), sorted(before - after))


def payload_of(
    before: Mapping[str, str], after: Mapping[str, str], change_id: str, now: dt.datetime
) -> Payload:
    """The payload of the change from ``before`` to ``after`` (path → ETag each)."""
    differ = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}

    def pages(routes: Mapping[str, str]) -> set[str]:
        return {p.removeprefix(_PAGE) for p in routes if p.startswith(_PAGE)}

    def collections(routes: Mapping[str, str]) -> set[str]:
        return {
            p.removeprefix(_COLLECTION).split("/")[0]
            for p in routes
            if p.startswith(_COLLECTION) and p.endswith("/items")
        }

    def items(routes: Mapping[str, str], name: str) -> set[str]:
        prefix = f"{_COLLECTION}{name}/items/"
        return {p.removeprefix(prefix) for p in routes if p.startswith(prefix)}

    touched = {
        p.removeprefix(_COLLECTION).split("/")[0] for p in differ if p.startswith(_COLLECTION)
    }
    item_changes = {}
    for name in sorted(collections(before) | collections(after)):
        prefix = f"{_COLLECTION}{name}/items/"
        diff = _changed(
            items(before, name),
            items(after, name),
            {p.removeprefix(prefix) for p in differ if p.startswith(prefix)},
        )
        if diff:
            item_changes[name] = diff
    return Payload(
        id=change_id,
        at=now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        digest=digest_of(after),
        pages=_changed(
            pages(before),
            pages(after),
            {p.removeprefix(_PAGE) for p in differ if p.startswith(_PAGE)},
        ),
        collections=_changed(collections(before), collections(after), touched),
        items=item_changes,
        other=sorted(p for p in differ if not p.startswith((_PAGE, _COLLECTION))),
        etags=dict(sorted(after.items())),
    )


def _template(settings: Settings) -> JobTemplate:
    schedule = retry_schedule(settings.retry_base_seconds, settings.retry_max_hours)
    return JobTemplate(settings.queue_name, schedule, int(settings.job_timeout), RESULT_TTL)


def change_ttl(settings: Settings) -> int:
    """Seconds a change (and a failed job) is kept: the whole retry schedule plus a day."""
    return int(settings.retry_max_hours * 3600) + 86400


def announce(
    connection: redis.Redis,
    routes: Mapping[str, str],
    hooks: Sequence[Hook],
    settings: Settings,
    *,
    previous: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Payload | None:
    """Queue one delivery per hook of the change to ``routes`` (path → ETag of the new build);
    the :class:`Payload` queued, or ``None`` when nothing is to send: no hooks, a build already
    announced (by this or another replica) or the first build ever seen (recorded as the baseline;
    ``previous``, this process's last build, serves as the baseline when none is recorded).

    Raises ``redis.RedisError`` when Redis fails (nothing half written).
    """
    if not hooks:
        return None
    moment = now or dt.datetime.now(dt.UTC)
    digest = digest_of(routes)
    announced = msgspec.json.encode(Announced(digest, dict(routes)))
    template = _template(settings)
    ttl = change_ttl(settings)
    for _ in range(_WATCH_ATTEMPTS):
        with connection.pipeline() as pipe:
            try:
                pipe.watch(BUILD_HOOKS_ANNOUNCED)  # type: ignore[no-untyped-call]
                raw = pipe.get(BUILD_HOOKS_ANNOUNCED)
                last = msgspec.json.decode(raw, type=Announced) if raw else None
                if last is not None and last.digest == digest:
                    pipe.unwatch()
                    return None
                baseline = last.routes if last is not None else previous
                pipe.multi()
                pipe.set(BUILD_HOOKS_ANNOUNCED, announced)
                if baseline is None or dict(baseline) == dict(routes):
                    pipe.execute()
                    return None
                change_id = secrets.token_hex(8)
                payload = payload_of(baseline, routes, change_id, moment)
                change = Change(msgspec.json.encode(payload).decode(), list(hooks))
                pipe.set(build_hook_change_key(change_id), msgspec.json.encode(change), ex=ttl)
                pipe.sadd(QUEUES_KEY, template.queue_key)
                for hook in hooks:
                    job = template.job(DELIVER_JOB, (change_id, hook.name), ttl, {}, moment)
                    rq_id = build_hook_job_id(change_id, hook.name)
                    pipe.hset(job_key(rq_id), mapping=job.mapping())  # type: ignore[arg-type]
                    pipe.rpush(template.queue_key, rq_id)
                pipe.execute()
                return payload
            except redis.WatchError:
                continue  # another replica wrote first: look again
    return None


def load_change(connection: redis.Redis, change_id: str) -> Change | None:
    """The stored change ``change_id``, or ``None`` once it expired."""
    raw = connection.get(build_hook_change_key(change_id))
    return None if raw is None else msgspec.json.decode(raw, type=Change)


def record_delivery(connection: redis.Redis, hook: str, entry: Delivery) -> None:
    """Add ``entry`` to the log of ``hook``, keeping the last :data:`LOG_LENGTH`."""
    key = build_hook_log_key(hook)
    with connection.pipeline() as pipe:
        pipe.lpush(key, msgspec.json.encode(entry))
        pipe.ltrim(key, 0, LOG_LENGTH - 1)
        pipe.execute()


def deliveries(connection: redis.Redis, hook: str) -> list[Delivery]:
    """The log of ``hook``, newest first."""
    raw = connection.lrange(build_hook_log_key(hook), 0, -1)
    return [msgspec.json.decode(item, type=Delivery) for item in raw]


def logged_hooks(connection: redis.Redis) -> list[str]:
    """The names of every hook with a log, sorted."""
    prefix = build_hook_log_key("")
    names = {
        (k.decode() if isinstance(k, bytes) else str(k)).removeprefix(prefix)
        for k in connection.scan_iter(match=build_hook_log_key("*"), count=100)
    }
    return sorted(names)
