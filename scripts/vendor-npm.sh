#!/usr/bin/env bash
# Vendors files of one npm package, unchanged, into a folder of the project: the files, SHA256SUMS
# and a SOURCE file naming the package, its licence and its tarball's hashes. The tarball is checked
# against the registry's integrity record first. Needs npm and openssl; run it to change a version,
# then `make licences`. tests/unit/test_vendored_copies.py checks every SHA256SUMS in the project.
# Usage: scripts/vendor-npm.sh PACKAGE VERSION TARGET FILE...  (FILEs: paths inside the package)
#   scripts/vendor-npm.sh axe-core 4.14.1 tests/browser/vendor/axe-core LICENSE package.json axe.min.js
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n 2,8p "$0" >&2; exit 2; }
package=$1 version=$2 target=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package@$version" >/dev/null)
tarball=$(ls "$work"/*.tgz)
integrity=$(npm view "$package@$version" dist.integrity)
[ "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)" = "$integrity" ] \
  || { echo "$package@$version: tarball does not match its integrity $integrity" >&2; exit 1; }
mkdir -p "$work/x" && tar xzf "$tarball" -C "$work/x"
rm -rf "${target:?}" && mkdir -p "$target"
for file in "$@"; do cp "$work/x/package/$file" "$target/"; done
(cd "$target" && sha256sum -- * > SHA256SUMS)
cat > "$target/SOURCE" <<SRC
npm package: $package@$version (licence $(npm view "$package@$version" license))
tarball sha256: $(sha256sum "$tarball" | cut -d' ' -f1)
tarball integrity: $integrity
files: $* (copied from the package; their SHA-256: SHA256SUMS); written by scripts/vendor-npm.sh.
SRC
echo "vendored $package@$version into $target"
