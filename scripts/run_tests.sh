#!/usr/bin/env bash
# Install, build, then run every test (doctest units and end-to-end runs of build/kiln).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j"$(nproc)"
