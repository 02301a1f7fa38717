# Helpers for end-to-end tests of the real binary. Usage: source lib.sh "$KILN" "$SRC"
set -euo pipefail
KILN="$1"
SRC="$2"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kiln-e2e.XXXXXX")"
export KILN_CACHE_DIR="$WORK/cache"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# json FILE FILTER: a jq value
json() { jq -er "$2" "$1" || fail "$1: no value at $2"; }
# at_least VALUE BOUND NAME / at_most
at_least() { awk -v v="$1" -v b="$2" 'BEGIN{exit !(v>=b)}' || fail "$3 = $1, expected >= $2"; echo "ok: $3 = $1 (>= $2)"; }
at_most() { awk -v v="$1" -v b="$2" 'BEGIN{exit !(v<=b)}' || fail "$3 = $1, expected <= $2"; echo "ok: $3 = $1 (<= $2)"; }
exists() { for f in "$@"; do [ -s "$f" ] || fail "missing or empty: $f"; done; }
