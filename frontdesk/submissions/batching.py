"""Calls of one Lua script, sent to Redis together: the calls made during one turn of the event
loop go out as one pipeline (one write, one read) instead of one round trip each.

Under load many submissions reach their Redis call in the same turn; each round trip costs the
client more CPU than the script's arguments do (redis-py's connection checkout, the socket write
and read, the wake-up), so sharing it is what lets one process take more submissions per second.
Nothing else changes: each call is still its own ``EVALSHA`` — Redis runs each script atomically
and by itself — and each caller gets its own answer or error; a failed connection fails every call
of the batch (as it would each call alone). The batch is not a ``MULTI``: one call's error does not
touch the others. A lone call waits one loop turn, no more.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


class ScriptBatch:
    """Runs ``script`` (registered on ``connection``) for every :meth:`call` of a loop turn in one
    non-transactional pipeline; loads the script again when Redis has forgotten it (a restart).
    """

    def __init__(self, connection: redis.asyncio.Redis, script: AsyncScript) -> None:
        self.redis = connection
        self.script = script
        self._pending: list[tuple[list[Any], list[Any], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # strong references while they run

    async def call(self, keys: list[Any], args: list[Any]) -> Any:
        """The script's answer for ``keys`` and ``args``; raises what Redis or the connection
        raised for this call (``redis.RedisError``).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((keys, args, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[list[Any], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            answers = await self._execute(batch)
            missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            if missing:  # Redis restarted since the script was loaded: no call of it ran
                await self.redis.script_load(self.script.script)
                again = await self._execute([batch[i] for i in missing])
                for i, answer in zip(missing, again, strict=True):
                    answers[i] = answer
        except Exception as exc:  # the connection failed: every call of the batch fails
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop shuts down): so are the calls
            for _, _, future in batch:
                future.cancel()
            raise
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _execute(
        self, batch: list[tuple[list[Any], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        try:
            return await self._pipeline(batch)
        except redis.exceptions.ConnectionError:
            # A pooled connection that a Redis restart closed fails at its first use, and redis-py's
            # asyncio pipeline does not retry it (its commands never reached the new server): once
            # more, on a new connection. Redis still down fails again at once (connection refused).
            return await self._pipeline(batch)

    async def _pipeline(
        self, batch: list[tuple[list[Any], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(self.script.sha, len(keys), *keys, *args)
        answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers
