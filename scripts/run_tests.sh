#!/usr/bin/env bash
# Install, build, then run every test:
#  1. build/ (Release, g++): doctest units (with every core, one thread, and AVX2 paths forced)
#     and end-to-end runs of build/kiln on real data;
#  2. build-sanitize/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer): the units and the
#     fast end-to-end tests again, any sanitizer report failing them;
#  3. each libFuzzer target of tests/fuzz for a fixed number of executions from a fixed seed (the
#     same work on every machine; `scripts/fuzz.sh [seconds]` explores further).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"
"$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j"$jobs")
echo "== sanitized build: units and fast end-to-end tests"
"$root/scripts/build_sanitize.sh" >/dev/null
(cd "$root/build-sanitize" && ctest -L sanitize --output-on-failure -j"$jobs")
echo "== fuzzing"
"$root/scripts/fuzz.sh" --fixed
