"""What frontdesk/litestar_compat.py relies on in Litestar, pinned against Litestar's own routing:
a Litestar upgrade that changes one of these fails here, not in the forms fast path.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath

from frontdesk.litestar_compat import (
    close_form,
    enter_route,
    path_template,
    route_handler,
    valid_host,
)
from tests.asgi import asgi_request, http_scope

pytestmark = pytest.mark.anyio

ROUTE_KEYS = ("app", "litestar_app", "route_handler", "path_template", "path_params")
BOUNDARY = b"compatboundary"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def seen_app() -> tuple[Litestar, list[dict[str, Any]]]:
    """An app whose one route notes the route keys of each request's scope."""
    seen: list[dict[str, Any]] = []

    @post("/things/{thing_id:str}/parts", status_code=200)
    async def part(request: Request[Any, Any, State], thing_id: FromPath[str]) -> dict[str, str]:
        seen.append({key: request.scope.get(key) for key in ROUTE_KEYS})
        return {"thing": thing_id}

    return Litestar(route_handlers=[part]), seen


@pytest.mark.parametrize(
    "host",
    [b"example.com", b"example.com:8080", b"127.0.0.1", b"[::1]:8000", b"bad host", b"a/b", b""],
)
async def test_valid_host_is_the_routers_check(host: bytes) -> None:
    app, _ = seen_app()
    status, _, _ = await asgi_request(app, "POST", "/things/x/parts", [], body=b"", host=host)
    assert (status != 400) == valid_host(host), status


async def test_enter_route_writes_what_the_router_writes() -> None:
    app, seen = seen_app()
    status, _, _ = await asgi_request(app, "POST", "/things/x1/parts", [], body=b"")
    assert status == 200
    routed = seen[0]
    handler = route_handler(app, "/things/{thing_id}/parts", "POST")
    assert routed["route_handler"] is handler
    assert routed["path_template"] == "/things/{thing_id}/parts"

    scope = http_scope("POST", "/things/x1/parts", [])
    enter_route(scope, app, handler, "/things/{thing_id}/parts", {"thing_id": "x1"})
    assert {key: scope[key] for key in ROUTE_KEYS} == routed
    assert path_template(scope) == routed["path_template"]
    # A request built on the scope reads them as a routed handler's does.
    request = handler.resolve_request_class()(scope=scope)  # type: ignore[arg-type]
    assert request.path_params == {"thing_id": "x1"}
    assert request.route_handler is handler
    assert request.app is app


def test_route_handler_refuses_a_missing_route() -> None:
    app, _ = seen_app()
    with pytest.raises(LookupError):
        route_handler(app, "/things/{thing_id}/parts", "GET")
    with pytest.raises(LookupError):
        route_handler(app, "/nothing", "POST")


def test_path_template_before_routing_is_none() -> None:
    assert path_template(http_scope("GET", "/", [])) is None


async def test_close_form_closes_the_files_litestar_parsed() -> None:
    """Litestar keeps a request's parsed form in its scope state; close_form finds it there."""
    files: list[UploadFile] = []

    @post("/upload", status_code=200)
    async def upload(request: Request[Any, Any, State]) -> None:
        form = await request.form()
        files.extend(v for v in form.values() if isinstance(v, UploadFile))
        await close_form(request.scope)

    @get("/plain")
    async def plain(request: Request[Any, Any, State]) -> None:
        await close_form(request.scope)  # nothing parsed: nothing to close, no error

    body = (
        b'--%s\r\nContent-Disposition: form-data; name="cv"; filename="cv.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--%s--\r\n" % (BOUNDARY, BOUNDARY)
    )
    app = Litestar(route_handlers=[upload, plain])
    content_type = (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)
    status, _, _ = await asgi_request(app, "POST", "/upload", [content_type], body=body)
    assert status == 200
    assert len(files) == 1
    assert files[0].file.closed
    status, _, _ = await asgi_request(app, "GET", "/plain", [])
    assert status == 200
