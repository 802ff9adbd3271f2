#!/usr/bin/env bash
# Vendors the ALTCHA widget the forms service serves (services/forms/vendor/altcha/): the npm
# package's self-contained UMD bundle (styles and proof-of-work workers inside, so it needs no other
# file), its licence and package.json, unchanged, with SHA256SUMS and a SOURCE file naming the
# package and its tarball's hashes. The widget's major version must match the proof of work of the
# `altcha` Python package in uv.lock (widget 3.x: PoW v2, altcha 2.x). Needs npm; run it to change
# the version, then `make licences` and the browser tests (tests/browser/test_altcha.py).
# Usage: scripts/vendor-altcha.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.2.2}
target=services/forms/vendor/altcha
files=(LICENSE.txt package.json dist/main/altcha.umd.min.cjs)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "altcha@$version" >/dev/null)
tarball="$work/altcha-$version.tgz"
integrity=$(npm view "altcha@$version" dist.integrity)
# npm's integrity is the tarball's SHA-512: check the download against the registry's record.
[ "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)" = "$integrity" ] \
  || { echo "altcha@$version: tarball does not match its integrity $integrity" >&2; exit 1; }
mkdir -p "$work/x" && tar xzf "$tarball" -C "$work/x"
rm -rf "${target:?}" && mkdir -p "$target"
for file in "${files[@]}"; do cp "$work/x/package/$file" "$target/"; done
(cd "$target" && sha256sum -- * > SHA256SUMS)
cat > "$target/SOURCE" <<SRC
npm package: altcha@$version (licence $(npm view "altcha@$version" license))
tarball sha256: $(sha256sum "$tarball" | cut -d' ' -f1)
tarball integrity: $integrity
files: ${files[*]} (unchanged; their SHA-256: SHA256SUMS); written by scripts/vendor-altcha.sh.
SRC
echo "vendored altcha@$version into $target"
