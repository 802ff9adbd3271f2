"""The OpenAPI viewers under ``/schema``, working without internet access.

Litestar's viewers load their scripts, styles, fonts and favicon from CDNs, so on an office network
without internet they render a blank page. Here every viewer loads only same-origin files: pinned
copies of npm packages in ``vendor/<package>/`` (the published files, Redoc's bundle with its CDN logo
address blanked; their ``SHA256SUMS`` and a ``SOURCE`` file naming the package, its tarball's hashes
and that change; ``scripts/vendor-apidocs.sh`` writes them), served by the same process under
``<path>/assets/<package>-<version>/<file>``.

Routes (``path`` is ``/schema``):

- ``/schema`` and ``/schema/redoc``: Redoc (``vendor/redoc``), no Google Fonts;
- ``/schema/swagger``: Swagger UI (``vendor/swagger-ui-dist``);
- ``/schema/openapi.json``: the document itself;
- ``/schema/assets/<package>-<version>/<file>``: the vendored files, ``Cache-Control: public,
  max-age=31536000, immutable`` (the version is in the address, so a new version is a new address);
  an unknown package, version or file is a 404. (On the internal port they are ``no-store`` like
  every answer there: its NoStore wrapper.)

Every response under ``/schema`` carries a Content-Security-Policy that allows only this origin (the
viewers' inline start-up script and the styles they inject excepted), so a viewer that tried another
host would be blocked, not silently depend on it. Other Litestar viewers (Stoplight Elements, RapiDoc,
Scalar) are not offered: a 404 page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from litestar import Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

__all__ = ["CONTENT_SECURITY_POLICY", "VENDOR", "openapi_config", "vendored"]

VENDOR = Path(__file__).resolve().parent / "vendor"

# 'unsafe-inline' scripts: Litestar's pages start the viewer with an inline script holding the document.
# 'unsafe-inline' styles: Redoc (styled-components) and Swagger UI inject <style> elements.
# blob: workers: Redoc's search index runs in a worker made from a blob. data: images: Swagger UI's
# icons and the favicon below.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# An empty icon: without it the browser asks for /favicon.ico, and Litestar's default is a CDN image.
FAVICON = "<link rel='icon' href='data:,'>"


@dataclass(frozen=True)
class Package:
    """A vendored npm package: its name and version (from its package.json) and its folder."""

    name: str
    version: str
    folder: Path

    @property
    def key(self) -> str:
        """The address segment of its files, ``<name>-<version>``, e.g. ``redoc-2.5.4``."""
        return f"{self.name}-{self.version}"

    def served(self) -> frozenset[str]:
        """The file names served to browsers: its JavaScript and CSS (not the licence files)."""
        return frozenset(p.name for p in self.folder.iterdir() if p.suffix in MEDIA_TYPES)


def vendored() -> dict[str, Package]:
    """The vendored packages by key (``redoc-2.5.4``), read from ``vendor/*/package.json``."""
    packages = {}
    for manifest in sorted(VENDOR.glob("*/package.json")):
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        package = Package(str(meta["name"]), str(meta["version"]), manifest.parent)
        packages[package.key] = package
    return packages


def openapi_config(*, title: str, version: str, path: str = "/schema") -> OpenAPIConfig:
    """The OpenAPIConfig of an app whose viewers under ``path`` need no other host.

    Args:
        title: the document's ``info.title``.
        version: the document's ``info.version``.
        path: where the viewers, the document and the assets are served (no trailing slash).

    Raises:
        KeyError: a viewer's package is missing from ``vendor/`` (a broken checkout or wheel).

    """
    by_key = vendored()
    by_name = {package.name: package for package in by_key.values()}
    redoc, swagger = by_name["redoc"], by_name["swagger-ui-dist"]
    assets = f"{path}/assets"
    served = {key: package.served() for key, package in by_key.items()}

    @get("/assets/{key:str}/{name:str}", sync_to_thread=False, include_in_schema=False)
    def asset(key: FromPath[str], name: FromPath[str]) -> File:
        """One vendored file; 404 unless ``name`` is a served file of the package ``key``."""
        if name not in served.get(key, frozenset()):
            raise NotFoundException
        file = by_key[key].folder / name
        return File(
            file,
            content_disposition_type="inline",
            media_type=MEDIA_TYPES[file.suffix],
            headers={"Cache-Control": ASSET_CACHE_CONTROL},
        )

    router = Router(
        path,
        route_handlers=[asset],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ],
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        path=path,
        openapi_router=router,
        render_plugins=[
            RedocRenderPlugin(
                path="/redoc",
                js_url=f"{assets}/{redoc.key}/redoc.standalone.js",
                google_fonts=False,
                favicon=FAVICON,
            ),
            SwaggerRenderPlugin(
                path="/swagger",
                js_url=f"{assets}/{swagger.key}/swagger-ui-bundle.js",
                css_url=f"{assets}/{swagger.key}/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/{swagger.key}/swagger-ui-standalone-preset.js",
                favicon=FAVICON,
            ),
        ],
    )
