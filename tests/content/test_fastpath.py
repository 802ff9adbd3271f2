"""The fast path (services/content/fastpath.py) answers public reads exactly as the routed handlers do.

Each request is sent twice, in-process: once through the app's fast path and once straight to the
routed path behind it; status, headers (but the fresh request id) and bytes must be equal, the
fast path must have answered itself (the routed path was not called), and both must count the
request under the same route template in the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import REGISTRY

from frontdesk.settings import Settings
from services.content.app import ContentApp, create_app
from tests.asgi import Answer, asgi_request
from tests.content.sites import write_files

PATHS = [
    "/v1/site",
    "/v1/routes",
    "/v1/pages",
    "/v1/pages/home",
    "/v1/collections",
    "/v1/collections/faqs/items",
    "/v1/collections/posts/items",
    "/v1/collections/faqs/items/cost",
    "/v1/sitemap.xml",
    "/assets/ana.jpg",
]
ALLOWED = b"https://clinic.example"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> Answer:
    """One request without a body to the ASGI callable ``app``: ``(status, headers, body)``."""
    return await asgi_request(app, method, path, headers, query=query)


def without_request_id(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` sorted, with the request id taken out after checking there is exactly one."""
    ids = [value for name, value in headers if name == b"x-request-id"]
    assert len(ids) == 1
    return sorted((name, value) for name, value in headers if name != b"x-request-id")


def requests_counted(path: str, status: int, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "frontdesk_requests_total",
        {"app_name": "content", "method": method, "path": path, "status_code": str(status)},
    )
    return value or 0.0


@pytest.fixture(params=["any-origin", "listed-origin", "preview-tokens"])
def app(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> ContentApp:
    """The content app over the test site, with each CORS / preview configuration."""
    changes: dict[str, Any] = {
        "site_dir": write_files(tmp_path / "site", {}),
        "content_watch": False,
    }
    if request.param == "listed-origin":
        changes["content_cors_origins"] = (ALLOWED.decode(),)
    if request.param == "preview-tokens":
        changes["preview_tokens"] = ("secret-preview",)
    return create_app(msgspec.structs.replace(settings, **changes))


def header_variants(app: ContentApp, path: str) -> list[list[tuple[bytes, bytes]]]:
    snapshot = app.state.holder.snapshot
    body, _ = snapshot.public.paths[path]
    return [
        [],
        [(b"accept-encoding", b"gzip, deflate")],
        [(b"accept-encoding", b"identity")],
        [(b"if-none-match", body.etag.encode())],
        [(b"if-none-match", b'"not-this-one"')],
        [(b"if-modified-since", b"Fri, 01 Jan 2100 00:00:00 GMT")],
        [(b"origin", ALLOWED), (b"accept-encoding", b"gzip")],
        [(b"origin", b"https://evil.example")],
        [(b"x-request-id", b"trace-123")],
    ]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_the_fast_path_answers_like_the_routed_handlers(
    app: ContentApp, path: str, method: str
) -> None:
    routed_calls = 0
    routed = app.fast_path.routed

    async def counting_routed(scope: Any, receive: Any, send: Any) -> None:
        nonlocal routed_calls
        routed_calls += 1
        await routed(scope, receive, send)

    app.fast_path.routed = counting_routed
    template = app.state.holder.snapshot.public.paths[path][1]
    for headers in header_variants(app, path):
        front = await call(app, method, path, headers)
        assert routed_calls == 0, f"the fast path passed {method} {path} {headers} on"
        status = front[0]
        before = requests_counted(template, status, method)
        behind = await call(routed, method, path, headers)
        assert requests_counted(template, status, method) == before + 1
        assert front[0] == behind[0]
        assert without_request_id(front[1]) == without_request_id(behind[1])
        assert front[2] == behind[2]
        if headers == [(b"x-request-id", b"trace-123")]:
            assert (b"x-request-id", b"trace-123") in front[1]
        if method == "HEAD":
            assert front[2] == b""


async def test_the_fast_path_counts_its_answers(app: ContentApp) -> None:
    before = requests_counted("/v1/pages/{slug}", 200)
    status, _, _ = await call(app, "GET", "/v1/pages/home", [])
    assert status == 200
    assert requests_counted("/v1/pages/{slug}", 200) == before + 1


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/v1/pages/home?x=1", []),  # a query string: the handlers read it
        ("GET", "/v1/pages/old-home", []),  # a redirect
        ("GET", "/v1/pages/about", []),  # a draft: 404
        ("GET", "/v1/pages/home/", []),
        ("POST", "/v1/pages/home", []),
        ("GET", "/health/ready", []),
    ],
)
async def test_the_fast_path_passes_the_rest_on(
    app: ContentApp, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    passed: list[str] = []
    routed = app.fast_path.routed

    async def noting_routed(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])
        await routed(scope, receive, send)

    app.fast_path.routed = noting_routed
    path, _, query = path.partition("?")
    status, answer_headers, _ = await call(app, method, path, headers, query.encode())
    assert passed == [path]
    assert status != 500
    assert any(name == b"x-request-id" for name, _ in answer_headers)


async def test_preview_token_requests_are_passed_on_when_tokens_are_configured(
    settings: Settings, tmp_path: Path
) -> None:
    app = create_app(
        msgspec.structs.replace(
            settings,
            site_dir=write_files(tmp_path / "site", {}),
            content_watch=False,
            preview_tokens=("secret-preview",),
        )
    )
    status, headers, _ = await call(
        app, "GET", "/v1/pages/about", [(b"authorization", b"Bearer secret-preview")]
    )
    assert status == 200  # the draft, shown by the routed handler
    assert (b"cache-control", b"private, no-store") in headers
    status, _, _ = await call(app, "GET", "/v1/pages/home", [(b"authorization", b"Bearer wrong")])
    assert status == 401


@pytest.mark.parametrize("app", ["any-origin"], indirect=True)
async def test_repeated_header_lines(app: ContentApp) -> None:
    """List fields on several lines are one list (RFC 9110 §5.3); of X-Request-ID the first line
    counts, on the fast path as on the routed path."""
    etag = app.state.holder.snapshot.public.paths["/v1/pages/home"][0].etag.encode()
    for query in (b"", b"x=1"):  # the fast path, then routed
        lines = [(b"if-none-match", b'"other"'), (b"if-none-match", etag)]
        status, _, _ = await call(app, "GET", "/v1/pages/home", lines, query)
        assert status == 304, query
        lines = [(b"x-request-id", b"first"), (b"x-request-id", b"second")]
        _, headers, _ = await call(app, "GET", "/v1/pages/home", lines, query)
        assert (b"x-request-id", b"first") in headers, query
        lines = [(b"accept-encoding", b"br"), (b"accept-encoding", b"gzip")]
        _, headers, _ = await call(app, "GET", "/v1/pages/home", lines, query)
        assert (b"content-encoding", b"gzip") in headers, query
