"""The benchmark's baseline: a bare Litestar endpoint that decodes the same JSON body and writes
one Redis key. Run by ``bench/forms.py`` under granian (``bench.forms_baseline:app_factory``).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import msgspec
import redis.asyncio as aioredis
from litestar import Litestar, Request, get, post


def app_factory() -> Litestar:
    connection = aioredis.Redis.from_url(os.environ["FRONTDESK_REDIS_URL"])

    @post("/v1/forms/bench/submissions", status_code=201)
    async def submit(request: Request[Any, Any, Any]) -> dict[str, object]:
        data = msgspec.json.decode(await request.body())
        submission_id = secrets.token_hex(14)
        await connection.set(f"bench:{submission_id}", msgspec.json.encode(data), ex=3600)
        return {"ok": True, "id": submission_id}

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(route_handlers=[submit, live])
