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
# input_features: penguins' island and four measurements (examples/penguins/penguins.csv), for the
# YAML a test writes.
penguin_inputs() {
  echo "input_features:"
  echo "  - {name: island, type: category}"
  for m in bill_length_mm bill_depth_mm flipper_length_mm body_mass_g; do
    echo "  - {name: $m, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}"
  done
}
# serve_start LOG KILN-SERVE-ARGS...: starts `kiln serve --port 0 ARGS` in the background, waits
# for its port; sets serve_pid and url (the EXIT trap kills it and removes $WORK).
serve_start() {
  local log="$1"; shift
  "$KILN" serve --port 0 "$@" 2>"$log" &
  serve_pid=$!
  trap 'kill -9 $serve_pid 2>/dev/null || true; rm -rf "$WORK"' EXIT
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's|^kiln: serving .* on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$log")
    [ -n "$port" ] && break
    kill -0 $serve_pid 2>/dev/null || fail "serve exited: $(cat "$log")"
    sleep 0.1
  done
  [ -n "$port" ] || fail "serve did not start: $(cat "$log")"
  url="http://127.0.0.1:$port"
}
