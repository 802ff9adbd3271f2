"""frontdesk/submissions/batching.py: the script calls of one event-loop turn share one pipeline, and
each caller still gets its own answer or error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio

from frontdesk.redis import connect_async
from frontdesk.submissions.batching import ScriptBatch
from tests.conftest import TEST_REDIS_URL, free_port

T = TypeVar("T")
# Appends ARGV[1] to the list at KEYS[1] and answers the list's length; fails on a non-list.
SCRIPT = "return redis.call('RPUSH', KEYS[1], ARGV[1])"


def _run(test: Callable[[redis.asyncio.Redis, ScriptBatch], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
        try:
            return await test(
                connection, ScriptBatch(connection, connection.register_script(SCRIPT))
            )
        finally:
            await connection.aclose()

    return asyncio.run(main())


def _count_pipelines(connection: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    original = connection.pipeline

    def pipeline(**options: Any) -> Any:
        made.append(1)
        return original(**options)

    monkeypatch.setattr(connection, "pipeline", pipeline)
    return made


def test_calls_of_one_turn_share_a_pipeline_and_get_their_own_answers(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def test(connection: redis.asyncio.Redis, batch: ScriptBatch) -> None:
        await connection.script_load(SCRIPT)
        made = _count_pipelines(connection, monkeypatch)
        answers = await asyncio.gather(*(batch.call([f"list:{i % 2}"], [i]) for i in range(6)))
        assert answers == [1, 1, 2, 2, 3, 3]
        assert len(made) == 1
        assert await batch.call(["list:0"], ["alone"]) == 4  # a later turn: a batch of its own
        assert len(made) == 2

    _run(test)
    assert redis_client.lrange("list:0", 0, -1) == [b"0", b"2", b"4", b"alone"]


def test_one_failing_call_does_not_fail_the_others(redis_client: redis.Redis) -> None:
    redis_client.set("not-a-list", b"x")

    async def test(_: redis.asyncio.Redis, batch: ScriptBatch) -> list[Any]:
        return await asyncio.gather(
            batch.call(["list"], ["a"]),
            batch.call(["not-a-list"], ["b"]),
            batch.call(["list"], ["c"]),
            return_exceptions=True,
        )

    first, failed, last = _run(test)
    assert (first, last) == (1, 2)
    assert isinstance(failed, redis.ResponseError)
    assert "WRONGTYPE" in str(failed)


def test_script_loaded_again_after_redis_forgot_it(redis_client: redis.Redis) -> None:
    async def test(_: redis.asyncio.Redis, batch: ScriptBatch) -> list[Any]:
        assert await batch.call(["list"], ["a"]) == 1
        redis_client.script_flush()  # as after a Redis restart
        return await asyncio.gather(batch.call(["list"], ["b"]), batch.call(["list"], ["c"]))

    assert _run(test) == [2, 3]
    assert redis_client.lrange("list", 0, -1) == [b"a", b"b", b"c"]


def test_a_failed_connection_fails_every_call_of_the_batch() -> None:
    async def main() -> list[Any]:
        connection = connect_async(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
        batch = ScriptBatch(connection, connection.register_script(SCRIPT))
        try:
            return await asyncio.gather(
                batch.call(["list"], ["a"]), batch.call(["list"], ["b"]), return_exceptions=True
            )
        finally:
            await connection.aclose()

    answers = asyncio.run(main())
    assert all(isinstance(answer, redis.ConnectionError) for answer in answers)


def test_a_cancelled_caller_leaves_the_others_their_answers(redis_client: redis.Redis) -> None:
    async def test(_: redis.asyncio.Redis, batch: ScriptBatch) -> Any:
        cancelled = asyncio.ensure_future(batch.call(["list"], ["a"]))
        kept = asyncio.ensure_future(batch.call(["list"], ["b"]))
        await asyncio.sleep(0)  # both queued; the batch is not sent yet
        cancelled.cancel()
        return await kept

    assert _run(test) == 2
    # The cancelled call had been queued: it ran, as a call whose answer was not awaited.
    assert redis_client.lrange("list", 0, -1) == [b"a", b"b"]
