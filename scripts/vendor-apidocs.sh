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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# vendor_package NAME VERSION FILE... : FILEs are paths inside the tarball's package/ folder.
vendor_package() {
  local name=$1 version=$2
  shift 2
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  local tarball="$work/$name-$version.tgz"
  local integrity
  integrity=$(npm view "$name@$version" dist.integrity)
  # npm's integrity is the tarball's SHA-512: check the download against the registry's record.
  [ "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)" = "$integrity" ] \
    || { echo "$name@$version: tarball does not match its integrity $integrity" >&2; exit 1; }
  mkdir -p "$work/$name" && tar xzf "$tarball" -C "$work/$name"
  rm -rf "${vendor:?}/$name" && mkdir -p "$vendor/$name"
  for file in "$@"; do cp "$work/$name/package/$file" "$vendor/$name/"; done
  (cd "$vendor/$name" && sha256sum -- * > SHA256SUMS)
  cat > "$vendor/$name/SOURCE" <<SRC
npm package: $name@$version (licence $(npm view "$name@$version" license))
tarball sha256: $(sha256sum "$tarball" | cut -d' ' -f1)
tarball integrity: $integrity
files: $* (their SHA-256 as vendored: SHA256SUMS); written by scripts/vendor-apidocs.sh.
SRC
  echo "vendored $name@$version into $vendor/$name"
}

vendor_package redoc "$redoc_version" LICENSE package.json \
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
vendor_package swagger-ui-dist "$swagger_version" LICENSE NOTICE package.json \
  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
  swagger-ui-standalone-preset.js swagger-ui-standalone-preset.js.LICENSE.txt swagger-ui.css
