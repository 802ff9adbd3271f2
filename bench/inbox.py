"""Staff inbox: the list's first page and a search over 10,000 inquiries, against the staff JSON
list of the same page, in the same run.

10,000 inquiries of the clinic's ``contact`` form are stored through the real submission script
(the :class:`~frontdesk.submissions.claims.Claimer` that tests/storing.py's ``store_submission``
runs, here in one event loop), with varied names, emails, phones and messages; a third are read by
the benchmark's member. Then ``frontdesk serve inbox`` (pinned to the server core) is driven by wrk
with one connection, so each latency is one request's server time plus loopback:

- ``GET /inquiries?form=contact``: the first page (50 rows) and the unread counts per form (which
  read every record's ``read_by``);
- ``GET /inquiries?form=contact&q=<phone digits>``: a search that matches one inquiry, so it
  reads all 10,000 records (the worst case; a common word fills the page early);
- ``GET /inquiries/live?form=contact&floor=…&seen=…``: the 10-second poll, answered 204;
- the baseline: ``GET /v1/forms/contact/submissions?limit=50`` with a bearer token (the staff JSON
  API, the same service and page size).

Writes bench/results/inbox.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import tempfile
import time
from typing import Any
from urllib.parse import quote

import httpx
import redis.asyncio

from bench.harness import (
    CLINIC,
    base_env,
    comparison,
    free_port,
    frontdesk,
    median_run,
    meta,
    redis_server,
    seconds,
    serving,
    write_result,
    wrk,
)
from frontdesk.settings import load_settings
from frontdesk.submissions.access import open_access
from frontdesk.submissions.claims import Claimer
from frontdesk.submissions.record import MessageState, PhoneInfo, Submission, new_submission_id
from services.inbox import sessions
from services.inbox.state import InboxState

INQUIRIES = 10_000
ROUNDS = 3
MEMBER = "desk@clinic.example"
TOKEN = "bench-inbox-staff-token-" + "x" * 32
NAMES = ["Ann", "Bob", "Cleo", "Dara", "Emil", "Fay", "Gus", "Hana", "Ivo", "Jun"]
WORDS = ["knee", "back", "shoulder", "neck", "hip", "ankle", "wrist", "elbow", "billing"]
NEEDLE = "+49 171 5550123"  # the one number the search looks for, typed differently
NEEDLE_TYPED = "0171 555 01"


def inquiry(n: int, rng: random.Random) -> Submission:
    """The ``n``-th benchmark inquiry (the middle one has :data:`NEEDLE`'s number)."""
    name = f"{rng.choice(NAMES)} Example{n}"
    raw = NEEDLE if n == INQUIRIES // 2 else f"+1 415 {rng.randrange(200, 999)} {n % 10000:04d}"
    e164 = "+" + re.sub(r"\D", "", raw)
    created = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=30 * n)
    return Submission(
        id=new_submission_id(),
        form="contact",
        status="notified",
        created_at=created,
        fields={
            "name": name,
            "email": f"visitor{n}@example.com",
            "phone": raw,
            "topic": "Other",
            "message": f"My {rng.choice(WORDS)} hurts since {rng.choice(WORDS)} training, {n}.",
        },
        phone=PhoneInfo(
            raw=raw,
            e164=e164,
            international=raw,
            extension=None,
            region="US",
            type=None,
            valid=True,
        ),
        messages=[MessageState(kind="staff", status="sent", attempts=1)],
        read_by=[MEMBER] if n % 3 == 0 else [],
    )


async def store_all(redis_url: str, env: dict[str, str]) -> float:
    """Store :data:`INQUIRIES` through the submission script; returns the seconds it took."""
    settings = load_settings(env)
    store = open_access(settings).store
    connection = redis.asyncio.Redis.from_url(redis_url)
    rng = random.Random(7)
    started = time.perf_counter()
    try:
        claimer = Claimer(connection)
        for n in range(INQUIRIES):
            submission = inquiry(n, rng)
            await claimer.run(submission.id, [], store.prepare(submission, 90, []))
    finally:
        await connection.aclose()
    return time.perf_counter() - started


async def session(env: dict[str, str]) -> str:
    """A session cookie value for :data:`MEMBER`, opened by the inbox's own session code."""
    state = InboxState(open_access(load_settings(env)))
    try:
        return await sessions.open_session(state, MEMBER)
    finally:
        await state.redis.aclose()


def main() -> None:
    started = meta()
    duration = seconds(10)
    with redis_server() as redis_url, tempfile.TemporaryDirectory():
        port = free_port()
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(CLINIC),
            FRONTDESK_SECRET_KEY="bench-secret-key-of-at-least-32-chars",
            FRONTDESK_INBOX_PORT=str(port),
            FRONTDESK_INBOX_URL=f"http://127.0.0.1:{port}",
            FRONTDESK_STAFF=f"{MEMBER}:responder",
            FRONTDESK_STAFF_TOKENS=f"bench:{TOKEN}",
        )
        store_seconds = asyncio.run(store_all(redis_url, env))
        cookie = f"{sessions.SESSION_COOKIE}={asyncio.run(session(env))}"
        base = f"http://127.0.0.1:{port}"
        with serving(frontdesk("serve", "inbox"), env, base + "/health/ready"):
            page = httpx.get(base + "/inquiries?form=contact", headers={"Cookie": cookie})
            browser = page.cookies.get(sessions.BROWSER_COOKIE, "")
            cookie += f"; {sessions.BROWSER_COOKIE}={browser}"
            live = re.search(r'<tbody id="latest" hx-get="([^"]+)"', page.text)
            assert live, page.text[:2000]
            search = f"/inquiries?form=contact&q={quote(NEEDLE_TYPED)}"
            found = httpx.get(base + search, headers={"Cookie": cookie}).text
            assert found.count('id="row-') == 1, "the search should find the one inquiry"
            cases: dict[str, tuple[str, dict[str, str]]] = {
                "json_list": (
                    "/v1/forms/contact/submissions?limit=50",
                    {"Authorization": f"Bearer {TOKEN}"},
                ),
                "inbox_list": ("/inquiries?form=contact", {"Cookie": cookie}),
                "inbox_search": (search, {"Cookie": cookie}),
                "inbox_live_poll": (live.group(1).replace("&amp;", "&"), {"Cookie": cookie}),
            }
            for path, headers in cases.values():  # warm-up
                wrk(base + path, duration=2, connections=1, headers=headers)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
            for _ in range(ROUNDS):
                for name, (path, headers) in cases.items():
                    runs[name].append(
                        wrk(base + path, duration=duration, connections=1, headers=headers)
                    )
    results = {name: median_run(each) for name, each in runs.items()}
    baseline = results["json_list"]
    comparisons = []
    for name, label in [
        ("inbox_list", "inbox first page (50 rows + unread counts), p50"),
        ("inbox_search", "inbox search reading all 10,000, p50"),
        ("inbox_live_poll", "inbox live poll (204), p50"),
    ]:
        comparisons.append(
            comparison(
                label,
                round(results[name]["p50_ms"], 2),
                round(baseline["p50_ms"], 2),
                "staff JSON list, 50 items, p50",
                "ms",
                lower_is_better=True,
            )
        )
    for name, label in [
        ("inbox_list", "inbox first page, p99"),
        ("inbox_search", "inbox search reading all 10,000, p99"),
    ]:
        comparisons.append(
            comparison(
                label,
                round(results[name]["p99_ms"], 2),
                round(baseline["p99_ms"], 2),
                "staff JSON list, 50 items, p99",
                "ms",
                lower_is_better=True,
            )
        )
    write_result(
        "inbox",
        comparisons,
        {
            "inquiries": INQUIRIES,
            "store_seconds": round(store_seconds, 1),
            "wrk_connections": 1,
            "results": results,
        },
        started,
    )


if __name__ == "__main__":
    main()
