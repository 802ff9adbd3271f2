#!/usr/bin/env bash
# Vendors the OpenAPI viewers served under /schema (frontdesk/apidocs/vendor/): Redoc's standalone
# bundle and swagger-ui-dist from their npm packages, with SHA256SUMS and a SOURCE file naming the
# package and its tarball's hashes. One change, recorded in SOURCE: Redoc's sidebar shows Redocly's
# logo from Redocly's CDN, so its address becomes `data:,` (the logo hides itself when its image
# fails to load); every other file is unchanged. Needs npm; run it to change a version, then
# `make licences` (THIRD-PARTY-LICENSES.md) and the browser tests (tests/browser/test_api_docs.py).
# Usage: scripts/vendor-apidocs.sh [REDOC_VERSION] [SWAGGER_UI_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
redoc_version=${1:-2.5.4}
swagger_version=${2:-5.35.0}
vendor=frontdesk/apidocs/vendor
scripts/vendor-npm.sh redoc "$redoc_version" "$vendor/redoc" LICENSE package.json \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt
logo=https://cdn.redoc.ly/redoc/logo-mini.svg
bundle=$vendor/redoc/redoc.standalone.js
upstream=$(sha256sum "$bundle" | cut -d' ' -f1)
[ "$(grep -o "$logo" "$bundle" | wc -l)" = 1 ] || { echo "redoc: expected the logo address once" >&2; exit 1; }
sed -i "s|\"$logo\"|\"data:,\"|" "$bundle"
! grep -q 'https://cdn\.' "$bundle" || { echo "redoc: the bundle still names a CDN" >&2; exit 1; }
(cd "$vendor/redoc" && sha256sum -- LICENSE package.json redoc.standalone.js redoc.standalone.js.LICENSE.txt > SHA256SUMS)
cat >> "$vendor/redoc/SOURCE" <<SRC
changed: redoc.standalone.js (upstream sha256 $upstream): the address of the sidebar's Redocly
logo, "$logo", is "data:," (no request to another host; the logo hides itself).
SRC
scripts/vendor-npm.sh swagger-ui-dist "$swagger_version" "$vendor/swagger-ui-dist" LICENSE NOTICE package.json \
  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
  swagger-ui-standalone-preset.js swagger-ui-standalone-preset.js.LICENSE.txt swagger-ui.css
