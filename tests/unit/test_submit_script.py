"""The submission script's arguments sit where its header says (frontdesk/submissions/script.py):
the Lua reads them by those offsets, so a builder that drifts from the header fails here.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import redis

from frontdesk.submissions.budget import Budget
from frontdesk.submissions.keys import (
    NO_HELD_KEY,
    QUEUES_KEY,
    duplicate_key,
    idempotency_key,
)
from frontdesk.submissions.ratelimit import Limit, Tier
from frontdesk.submissions.record import MessageState, Submission
from frontdesk.submissions.script import (
    SUBMIT_LUA,
    Claim,
    Limited,
    SubmitCall,
    Taken,
    Written,
    read_answer,
    submit_arguments,
)
from frontdesk.submissions.store import SubmissionStore

NOW = 1_700_000_000.0
IDEM = idempotency_key("contact", "k")
DUP = duplicate_key("contact", "c")


def _call() -> SubmitCall:
    submission = Submission(
        id="0190abcdef0123456789abcdef",
        form="contact",
        status="received",
        created_at=dt.datetime.fromtimestamp(NOW, dt.UTC),
        fields={"email": "ann@example.com"},
        messages=[MessageState(kind="staff"), MessageState(kind="auto_reply")],
    )
    # No connection is made: the store only builds the write here.
    store = SubmissionStore(redis.Redis(), "frontdesk", [60], 180)
    write = store.prepare(submission, 90, ["staff", "auto_reply"])
    return SubmitCall(
        write=write,
        # The duplicate claim given first: the builder puts idempotency claims first.
        claims=[Claim(key=DUP, value="id", ttl=600), Claim(key=IDEM, value="id|h", ttl=86400)],
        limits=[Limit("ip:a", 5, 60)],
        budget=Budget(
            tiers=[
                Tier(Limit("form:contact", 50, 3600), hold=False),
                Tier(Limit("held:contact", 100, 3600), hold=True),
            ],
            held_record=b"held",
            held_key="held-key",
            recipients=[Limit("reply:address:x", 3, 86400), Limit("reply:domain:y", 50, 3600)],
            skipped_states=[b"skip-address", b"skip-domain"],
            reply_at=7,
            reply_length=9,
            reply_job=2,
        ),
    )


def test_keys_and_arguments_follow_the_header() -> None:
    call = _call()
    keys, args = submit_arguments(call, NOW)
    n, t, r, m = 1, 2, 2, 2
    assert args[:4] == [n, t, r, m]
    kc = n + t + r
    kh = kc + m + 1
    assert keys[0].startswith("frontdesk:rl:ip:a:60:")
    assert keys[n].startswith("frontdesk:rl:form:contact:3600:")  # KEYS[n+1]: the first tier
    assert keys[n + t].startswith("frontdesk:rl:reply:address:x:86400:")
    assert keys[kc : kc + m] == [IDEM, DUP]  # idempotency first
    assert keys[kh - 1] == "held-key"
    assert keys[kh:] == [
        "frontdesk:submission:0190abcdef0123456789abcdef",
        "frontdesk:form:contact:submissions",
        QUEUES_KEY,
        "rq:queue:frontdesk",
        "rq:job:0190abcdef0123456789abcdef-staff",
        "rq:job:0190abcdef0123456789abcdef-auto_reply",
    ]
    assert args[4:10] == [1, b"held", 2 * 86_400, 7, 9, 2]  # a held one claims IDEM only
    assert args[10 : 10 + r] == [b"skip-address", b"skip-domain"]
    al = 10 + r
    at = al + 2 * n
    ar = at + 3 * t
    ac = ar + 2 * r
    aw = ac + 2 * m + 1
    assert args[al] == 5  # ARGV[al+1]: the hard limit's count
    assert args[at + 2] == "keep"  # ARGV[at+3i]: the tier's outcome
    assert args[at + 5] == "hold"
    assert args[ar] == 3  # the recipient bounds' counts
    assert args[ar + 2] == 50
    assert args[ac : ac + 2 * m] == ["id|h", 86400, "id", 600]
    plan = msgspec.msgpack.decode(args[aw - 1])
    assert plan[:3] == ["7776000", repr(NOW * 1000), "0190abcdef0123456789abcdef"]
    assert [job[0] for job in plan[3]] == [
        "0190abcdef0123456789abcdef-staff",
        "0190abcdef0123456789abcdef-auto_reply",
    ]
    assert args[aw] == call.write.record
    assert args[aw + 1 :] == [job.data for job in call.write.jobs]
    assert len(keys) == kh + 4 + 2


def test_no_budget_takes_the_empty_slots() -> None:
    call = msgspec.structs.replace(_call(), budget=Budget(), claims=[], limits=[])
    keys, args = submit_arguments(call, NOW)
    assert args[:10] == [0, 0, 0, 0, 0, b"", 2 * 86_400, 0, 0, 0]
    assert keys[0] == NO_HELD_KEY


def test_answers() -> None:
    assert read_answer([b"limited", 1500]) == Limited(2)
    assert read_answer([b"stored", b"held"]) == Written(held=True)
    assert read_answer([b"stored", b"kept"]) == Written(held=False)
    assert read_answer([b"taken", b"k", b"id|h"]) == Taken("k", "id|h")


def test_the_header_names_every_slot() -> None:
    for slot in ("KEYS[kh]", "KEYS[kh+5 ..]", "ARGV[aw]", "ARGV[ac+1 ..]", "ARGV[10]"):
        assert f"-- {slot}" in SUBMIT_LUA
