"""``GET /embed/altcha/{version}/altcha.js``: the vendored ALTCHA widget, served by this service.

The file is the ``altcha`` npm package's UMD bundle, unchanged (``vendor/altcha/``: its licence,
``package.json``, ``SHA256SUMS`` and ``SOURCE``; ``scripts/vendor-altcha.sh`` writes them). Read and
gzipped once when the app is built. The version is in the address, so the answer is cacheable for a
year (``immutable``); another version is a 404. ``If-None-Match`` answers 304; any origin may load
it (a host page's ``<script>``: docs/embedding.md lists the CSP it needs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from frontdesk.bodies import Body
from frontdesk.problems import ProblemError, empty_response, problem_responses
from services.forms.embed import LONG_CACHE, MEDIA_TYPE, script_response, static_body

VENDOR = Path(__file__).resolve().parent / "vendor" / "altcha"
BUNDLE = "altcha.umd.min.cjs"


class AltchaWidget(msgspec.Struct, frozen=True):
    """The widget's bytes (identity and gzip, with ETags) and its npm ``version``."""

    body: Body
    version: str

    @classmethod
    def load(cls, folder: Path = VENDOR) -> AltchaWidget:
        """Read the bundle and ``package.json`` of ``folder``; raises ``OSError`` when missing."""
        data = (folder / BUNDLE).read_bytes()
        version = str(json.loads((folder / "package.json").read_bytes())["version"])
        return cls(body=static_body(data, f"altcha-{version}"), version=version)

    @property
    def path(self) -> str:
        """Where this service serves it: ``/embed/altcha/<version>/altcha.js``."""
        return f"/embed/altcha/{self.version}/altcha.js"


def widget_handler(widget: AltchaWidget) -> HTTPRouteHandler:
    """The route handler serving ``widget`` (built per app, so no module-level state)."""

    @get(
        "/embed/altcha/{version:str}/altcha.js",
        summary="The ALTCHA widget (the altcha npm package, vendored)",
        media_type=MEDIA_TYPE,
        responses={
            **problem_responses(404),
            **empty_response(304, "Not Modified: If-None-Match matched"),
        },
    )
    async def altcha_js(
        request: Request[Any, Any, State], version: FromPath[str]
    ) -> Response[bytes]:
        """The widget of ``version`` (the one vendored; any other is a 404)."""
        if version != widget.version:
            raise ProblemError(
                404, "not_found", f"This service serves the ALTCHA widget {widget.version} only."
            )
        return script_response(request, widget.body, LONG_CACHE)

    return altcha_js
