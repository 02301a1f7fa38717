#!/usr/bin/env bash
# Output on a file system that fills up, past a file size limit, and in a read-only directory:
# one clear line, a nonzero exit, no temporary files and no model that looks finished.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
mounts=()
cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
# A tmpfs of the given size (kB) at $WORK/<name>, when this user may mount; else nothing.
small_fs() {
  mkdir -p "$WORK/$1"
  if mount -t tmpfs -o "size=${2}k${3:+,$3}" tmpfs "$WORK/$1" 2>/dev/null; then
    mounts+=("$WORK/$1"); return 0
  fi
  return 1
}
# run_fail WANT_PATTERN CMD...: exit 4, exactly one line on stderr matching the pattern.
run_fail() {
  local want="$1"; shift
  set +e
  local err
  err=$("$@" 2>&1 >/dev/null)
  local rc=$?
  set -e
  [ "$rc" -eq 4 ] || fail "exit $rc, expected 4: $err"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "expected one line, got: $err"
  [[ "$err" =~ $want ]] || fail "
   got: $err
  want: $want"
  echo "ok: $err"
}
train() { "$KILN" train --config "$ex/config.yaml" --dataset "$ex/attrition.csv" --threads 2 -q --output_directory "$@"; }
unfinished() {  # the model directory must not pass for a finished model
  [ ! -e "$1/model/manifest.json" ] || fail "$1: a manifest was written"
  [ -z "$(find "$1" -name '*.tmp.*' 2>/dev/null)" ] || fail "$1: temporary files left: $(find "$1" -name '*.tmp.*')"
  set +e
  "$KILN" predict --model_path "$1/model" --dataset "$ex/attrition.csv" --output_directory "$WORK/never" -q 2>/dev/null
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "$1: predict accepted the unfinished model"
}

# 1. A disk that fills up during training (the model's first files fit, its checkpoints do not).
if small_fs full 160; then
  run_fail "^error: $WORK/full/out/.*: cannot write file: No space left on device$" train "$WORK/full/out"
  unfinished "$WORK/full/out"
else
  echo "skip: cannot mount a tmpfs here (not root); the file size limit below covers the write path"
fi

# 2. A file size limit (ulimit -f, in KiB): writes past it fail with EFBIG instead of killing kiln.
run_fail "^error: $WORK/limit/.*: cannot write file: File too large$" bash -c "ulimit -f 40; exec \"\$0\" \"\$@\"" \
  "$KILN" train --config "$ex/config.yaml" --dataset "$ex/attrition.csv" --threads 2 -q --output_directory "$WORK/limit"
unfinished "$WORK/limit"

# 3. A read-only output directory: refused before any work.
if small_fs ro 64 ro; then
  ro="$WORK/ro"
else
  mkdir -p "$WORK/ro"; chmod 555 "$WORK/ro"; ro="$WORK/ro"
fi
run_fail "^error: $ro/out: output directory is not writable \('$ro' denies write access\)$" train "$ro/out"
echo "resources: ok"
