"""The replicated acknowledgement: a submission is answered 201 only once replicas hold it.

Redis replicates asynchronously, so a write the primary acknowledged is lost when the primary dies
before sending it on and a replica is promoted. ``WAIT n timeout`` blocks until ``n`` replicas have
acknowledged every write *of the connection it is sent on* (its last write's replication offset);
the script that stored the submission ran on another pooled connection, so :func:`confirm` sends,
on one connection in one pipeline: ``EXISTS`` of the record (the server answering now holds it),
an ``INCR`` of :data:`~frontdesk.submissions.keys.REPLICATION_ACK` (a write of this connection,
placed after the record in the replication stream, which is one ordered stream), then ``WAIT``.
Its count covers the record whichever connection wrote it; and if a failover happened between the
write and the check, the new primary answers ``EXISTS`` with 0 instead of confirming a stream that
never had the record.
"""

from __future__ import annotations

import redis.asyncio

from frontdesk.submissions.keys import REPLICATION_ACK, submission_key


class NotReplicated(Exception):
    """Fewer than the wanted replicas acknowledged the record in time (``confirmed`` of
    ``wanted``), or the primary answering now does not hold it (``present`` false).
    """

    def __init__(self, confirmed: int, wanted: int, present: bool = True) -> None:
        what = "not on the primary" if not present else f"{confirmed} of {wanted} replicas"
        super().__init__(f"record {what}")
        self.confirmed = confirmed
        self.wanted = wanted
        self.present = present


async def confirm(
    connection: redis.asyncio.Redis, submission_id: str, replicas: int, timeout_ms: int
) -> None:
    """Return once ``replicas`` replicas hold submission ``submission_id``'s record (at once when
    ``replicas`` is 0); wait at most ``timeout_ms`` ms for them.

    Raises :class:`NotReplicated` when they do not confirm in time or the record is not on the
    primary; ``redis.RedisError`` when Redis fails.
    """
    if replicas <= 0:
        return
    pipe = connection.pipeline(transaction=False)
    pipe.exists(submission_key(submission_id))
    pipe.incr(REPLICATION_ACK)
    pipe.wait(replicas, timeout_ms)
    present, _, confirmed = await pipe.execute()
    if not present:
        raise NotReplicated(0, replicas, present=False)
    if int(confirmed) < replicas:
        raise NotReplicated(int(confirmed), replicas)
