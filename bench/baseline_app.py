"""The benchmark's baseline: a bare Litestar app answering one constant JSON body.

``BENCH_BODY_FILE`` names a file whose bytes are the body (the content page's own JSON, so the
size is the same); served at ``/page``.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get


def app_factory() -> Litestar:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()

    @get("/page")
    async def page() -> Response[bytes]:
        return Response(content=body, media_type="application/json")

    return Litestar(route_handlers=[page], openapi_config=None)
