"""RQ jobs written without RQ's ``Job`` objects: the Redis hash RQ 3.x stores for a queued job.

A submission's job goes into Redis in the same atomic unit as the record (one Lua script, see
:mod:`frontdesk.submissions.store`), so its hash is built here, cheaply, instead of recording RQ's
``enqueue_many`` on a pipeline and replaying it (that cost more than the rest of the request). The
fields are exactly what ``Queue.enqueue_many`` writes for a job built with ``Queue.prepare_data``
(RQ 3.0, ``rq/job.py`` ``Job.to_dict``) with a ``Retry``, a timeout, result and failure TTLs, ``meta``
and the JSON serializer. The key names are RQ's own; the timestamps, the call string and the JSON
are built the way RQ builds them, more cheaply. tests/service/test_forms_store.py compares both
field by field (``data`` decompressed: see :func:`_compress`), so an RQ upgrade that changes the
format fails there.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Sequence

import msgspec
from rq.job import JobStatus

from frontdesk.submissions.keys import queue_key


def _dumps(value: object) -> bytes:
    """What RQ's ``JSONSerializer.dumps`` (``json.dumps``, UTF-8) gives for ``value``, built with
    msgspec (a quarter of the time): ``json.format(indent=0)`` puts ``json.dumps``'s spaces after
    ``,`` and ``:``. Equal bytes for ASCII text, which is all a job holds (dotted path, hex id,
    message kind, request id); other text would differ only in its escapes, the same JSON.
    """
    return msgspec.json.format(msgspec.json.encode(value), indent=0)


def _compress(data: bytes) -> bytes:
    """``data`` as a zlib stream (RFC 1950) holding one stored deflate block (RFC 1951 §3.2.4),
    which RQ reads with ``zlib.decompress`` like any other (it stores ``zlib.compress(data)``).

    A job's data is ~100 bytes of JSON, which deflate does not shrink; ``zlib.compress`` would set
    up its 32 KiB window and hash table (~256 KiB allocated and cleared per call) for nothing:
    4 to 60 µs a job measured, against ~1 µs for this framing.
    """
    if len(data) > 0xFFFF:  # one stored block holds at most 65,535 bytes
        return zlib.compress(data)
    size = len(data)
    # 0x78 0x01: deflate, 32 KiB window, no dictionary (header checksum: 0x7801 % 31 == 0);
    # 0x01: the final block, stored; then LEN and its ones' complement, little-endian.
    block = b"\x78\x01\x01" + size.to_bytes(2, "little") + (size ^ 0xFFFF).to_bytes(2, "little")
    return block + data + zlib.adler32(data).to_bytes(4, "big")


class JobTemplate:
    """What the jobs of one store share: the queue, the retry schedule and the timeouts.

    ``retry`` holds the delays in seconds (RQ ``Retry(max=len(retry), interval=retry)``);
    ``timeout`` and ``result_ttl`` are seconds. The fields every job shares are built once here.
    """

    def __init__(
        self, queue_name: str, retry: Sequence[int], timeout: int, result_ttl: int
    ) -> None:
        self.queue_name = queue_name
        self.queue_key = queue_key(queue_name)
        # Job.to_dict's fields in its order; the empty ones are attributes of a job never run.
        self._head: list[str] = [
            "success_callback_name", "", "failure_callback_name", "", "stopped_callback_name", "",
            "started_at", "", "ended_at", "", "last_heartbeat", "", "worker_name", "",
            "group_id", "",
            "retries_left", str(len(retry)),
            "retry_intervals", json.dumps(list(retry)),
            "origin", queue_name,
        ]  # fmt: skip
        self._timeouts = ["timeout", str(timeout), "result_ttl", str(result_ttl)]

    def job(
        self,
        func: str,
        args: tuple[str, ...],
        failure_ttl: int,
        meta: dict[str, str | None],
        now: dt.datetime,
    ) -> JobHash:
        """The hash of a job calling the dotted path ``func`` with positional ``args`` (strings),
        created and enqueued at ``now`` (UTC), its failure kept ``failure_ttl`` seconds and
        ``meta`` stored with the JSON serializer.
        """
        # RQ's utcformat (strftime "%Y-%m-%dT%H:%M:%S.%fZ"), by the cheaper isoformat.
        stamp = now.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return JobHash(
            # Job.data: the serializer's dump of (func name, instance, args, kwargs), compressed.
            data=_compress(_dumps((func, None, args, {}))),
            fields=[
                "created_at", stamp,
                *self._head,
                # rq.utils.get_call_string for positional arguments only.
                "description", f"{func}({', '.join(map(repr, args))})",
                "enqueued_at", stamp,
                *self._timeouts,
                "failure_ttl", str(failure_ttl),
                "status", JobStatus.QUEUED.value,
                "meta", _dumps(meta).decode(),
            ],
        )  # fmt: skip


class JobHash(msgspec.Struct, frozen=True):
    """A job's Redis hash: ``data`` (a zlib stream, binary) apart from the text ``fields``
    (``[field, value, ...]``), because the store script receives text in one msgpack argument
    (Redis's Lua msgpack decoder has no binary type) and ``data`` as an argument of its own.
    """

    data: bytes
    fields: list[str]

    def mapping(self) -> dict[str, str | bytes]:
        """All of it as ``HSET`` ``mapping`` (field → value)."""
        pairs = iter(self.fields)
        return {"data": self.data, **dict(zip(pairs, pairs, strict=True))}
