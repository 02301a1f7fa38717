#!/usr/bin/env bash
# Configures and builds build-sanitize/: clang with AddressSanitizer and UndefinedBehaviorSanitizer
# on Kiln's own code (any report aborts), plus libFuzzer coverage and the tests/fuzz targets.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKILN_SANITIZE=address,undefined -DKILN_FUZZ=ON >/dev/null
cmake --build "$root/build-sanitize" -j"$(nproc)"
