"""One HTTP request to an ASGI callable in-process, for tests that compare two paths through an app."""

from __future__ import annotations

from typing import Any

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> dict[str, Any]:
    """The ASGI scope of one HTTP/1.1 request from 127.0.0.1 with exactly ``headers``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


async def asgi_request(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    query: bytes = b"",
    body: bytes | None = None,
    host: bytes = b"testserver",
) -> Answer:
    """``(status, headers, body)`` of one request to ``app``. A ``body`` is sent in two chunks
    with its ``Content-Length``; without one the request has no body and no such header.
    """
    length = [] if body is None else [(b"content-length", str(len(body)).encode())]
    scope = http_scope(method, path, [(b"host", host), *length, *headers], query)
    data = body or b""
    chunks = [data[: len(data) // 2], data[len(data) // 2 :]]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    return (
        start["status"],
        list(start["headers"]),
        b"".join(m.get("body", b"") for m in messages[1:]),
    )
