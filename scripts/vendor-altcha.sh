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
exec scripts/vendor-npm.sh altcha "${1:-3.2.2}" services/forms/vendor/altcha \
  LICENSE.txt package.json dist/main/altcha.umd.min.cjs
