#!/usr/bin/env bash
# kill -9 at 10 moments of a `kiln train` (random times, and exactly inside checkpoint and weight
# writes), each time resumed: the final statistics and predictions equal an uninterrupted run's,
# and no temporary or half-written file is left. Then a model directory whose files were
# truncated or altered is refused at load, naming the file; an unfinished one is refused too.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
sed -e "s/^  epochs: 30/  epochs: 20/" -e 's/^  early_stop: 5 .*/  early_stop: -1/' "$ex/config.yaml" > "$WORK/config.yaml"
grep -q "epochs: 20" "$WORK/config.yaml" || fail "config edit"
train() { "$KILN" train --config "$WORK/config.yaml" --dataset "$ex/attrition.csv" --threads 2 -q --output_directory "$@"; }
# kill_at_random_times LABEL SEED DURATION MARKER CMD...: runs CMD (with --resume appended when
# the file MARKER exists) killed after a random delay below DURATION seconds (seeded, printed),
# until 10 kills in all ($kills counts those made before); a run that finishes first starts over.
kill_at_random_times() {
  local label="$1" duration="$3" marker="$4" delay rc
  RANDOM=$2
  shift 4
  while [ "$kills" -lt 10 ]; do
    delay=$(awk -v r="$RANDOM" -v f="$duration" 'BEGIN{printf "%.2f", r / 32768 * f}')
    set +e
    timeout -s KILL "$delay" "$@" $([ -f "$marker" ] && echo --resume) >/dev/null 2>>"$WORK/attempts.log"
    rc=$?
    set -e
    if [ "$rc" -eq 137 ]; then
      kills=$((kills + 1))
      echo "$label kill $kills after ${delay}s"
    elif [ "$rc" -eq 0 ]; then
      echo "$label finished before ${delay}s; starting again"
      rm -rf "$out"
    else
      fail "$label attempt exited $rc: $(tail -3 "$WORK/attempts.log")"
    fi
  done
}
t0=$(date +%s.%N)
train "$WORK/a"
full=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')

# Each attempt resumes when a checkpoint exists. Kills 1-4 land inside writes (the temporary
# file complete, not yet renamed; counts are per process): the first run's 2nd checkpoint, the
# resumed run's 3rd, the model's manifest, the run's training statistics; kills 5-10 at random
# times within an uninterrupted run's duration (seeded, printed), each resuming where it can.
out="$WORK/b"
attempt() {  # attempt ENV... : one run, killed or not; prints its exit code
  local args=()
  [ -f "$out/model/checkpoints/latest.pt" ] && args=(--resume)
  set +e
  env "$@" "$KILN" train --config "$WORK/config.yaml" --dataset "$ex/attrition.csv" --threads 2 -q \
    --output_directory "$out" "${args[@]}" >/dev/null 2>>"$WORK/attempts.log"
  echo $?
  set -e
}
kills=0
for spec in latest.pt:2 latest.pt:3 manifest.json:1 training_statistics.json:1; do
  rc=$(attempt KILN_TEST_KILL_IN_WRITE=$spec)
  [ "$rc" -eq 137 ] || fail "expected a kill in write $spec, got exit $rc"
  kills=$((kills + 1))
  [ -n "$(find "$out" -name "${spec%:*}.tmp.*")" ] || fail "kill in write $spec left no temporary file (the hook fired elsewhere)"
done
kill_at_random_times train 12 "$full" "$out/model/checkpoints/latest.pt" \
  "$KILN" train --config "$WORK/config.yaml" --dataset "$ex/attrition.csv" --threads 2 -q --output_directory "$out"
rc=$(attempt)
[ "$rc" -eq 0 ] || fail "the final resume exited $rc: $(tail -3 "$WORK/attempts.log")"
cmp "$WORK/a/training_statistics.json" "$out/training_statistics.json" || fail "statistics differ from the uninterrupted run"
for r in a b; do "$KILN" predict --model_path "$WORK/$r/model" --dataset "$ex/attrition.csv" -q --output_directory "$WORK/p$r"; done
cmp "$WORK/pa/predictions.csv" "$WORK/pb/predictions.csv" || fail "the resumed model predicts differently"
left=$(find "$out" -name '*.tmp.*')
[ -z "$left" ] || fail "temporary files left behind: $left"
echo "ok: 10 kills (4 inside writes), resumed to the same statistics and predictions"

# A hyperopt study (5 trials, one worker, fixed seed) killed at 10 random moments, each time
# resumed: the same leaderboard (but for timings) and the same test statistics as uninterrupted.
sed -e '/combiner.type:/d' -e '/combiner.num_layers:/d' -e '/combiner.hidden_size:/d' \
    -e 's/num_samples: -1 .*/num_samples: 5/' -e 's/time_budget_s: 60/time_budget_s: 600/' \
    -e 's/scheduler: {type: async_hyperband.*/scheduler: {type: fifo}/' -e 's/^  epochs: 30/  epochs: 4/' \
    -e 's/^  early_stop: 5 .*/  early_stop: -1/' "$ex/hyperopt.yaml" > "$WORK/h.yaml"
printf '  rerank: false\n' >> "$WORK/h.yaml"
study() { "$KILN" hyperopt --config "$WORK/h.yaml" --dataset "$ex/attrition.csv" --workers 1 -q --output_directory "$@"; }
t0=$(date +%s.%N)
study "$WORK/ha" > /dev/null
full=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
out="$WORK/hb"
# First killed while the study's store is being created (it once left a store without the
# study's key, which no --resume accepted), then at random moments.
set +e
KILN_TEST_KILL_IN_WRITE=hyperopt.sqlite:1 "$KILN" hyperopt --config "$WORK/h.yaml" --dataset "$ex/attrition.csv" \
  --workers 1 -q --output_directory "$out" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || fail "expected a kill while the study store is created, got exit $rc"
[ ! -e "$out/hyperopt.sqlite" ] || fail "a study store was left by a kill during its creation"
kills=1
kill_at_random_times study 7 "$full" "$out/hyperopt.sqlite" \
  "$KILN" hyperopt --config "$WORK/h.yaml" --dataset "$ex/attrition.csv" --workers 1 -q --output_directory "$out"
study "$out" $([ -f "$out/hyperopt.sqlite" ] && echo --resume) > /dev/null
diff <(cut -d, -f1-6 "$WORK/ha/leaderboard.csv") <(cut -d, -f1-6 "$out/leaderboard.csv") || fail "leaderboards differ"
cmp "$WORK/ha/test_statistics.json" "$out/test_statistics.json" || fail "the best model's test statistics differ"
exists "$out/best_model/manifest.json"
echo "ok: study killed 10 times (once creating its store), resumed to the same leaderboard and test statistics"

# A second run into a directory that another run is writing to is refused before writing there
# (this shell stands in for the first run, holding the lock file with flock(1) as a Kiln run does).
for cmd in train hyperopt; do
  busy="$WORK/busy_$cmd"
  mkdir -p "$busy"
  exec {lockfd}>"$busy/.kiln.lock"
  flock -n "$lockfd" || fail "could not take the lock for the test"
  set +e
  err=$("$KILN" $cmd --config "$WORK/$([ $cmd = train ] && echo config || echo h).yaml" --dataset "$ex/attrition.csv" \
        -q --output_directory "$busy" 2>&1 >/dev/null {lockfd}>&-)
  rc=$?
  set -e
  exec {lockfd}>&-
  [ "$rc" -eq 4 ] || fail "$cmd into a busy directory: exit $rc ($err)"
  [ "$err" = "error: $busy: another Kiln run is writing to this directory; wait for it to finish or choose another --output_directory" ] \
    || fail "$cmd into a busy directory: $err"
  [ -z "$(ls -A "$busy" | grep -vx .kiln.lock)" ] || fail "$cmd wrote into a busy directory: $(ls -A "$busy")"
done
echo "ok: runs into a directory another run holds are refused"

# An unfinished run's model directory is refused with the way out.
mkdir -p "$WORK/u"
KILN_TEST_KILL_AFTER_STEPS=20 train "$WORK/u" 2>/dev/null && fail "the run was not killed"
expect_model_error() {  # MODEL_DIR MESSAGE
  set +e
  local err
  err=$("$KILN" predict --model_path "$1" --dataset "$ex/attrition.csv" --output_directory "$WORK/never" -q 2>&1 >/dev/null)
  local rc=$?
  set -e
  [ "$rc" -eq 4 ] || fail "$1: exit $rc, expected 4 ($err)"
  [ "$err" = "$2" ] || fail "
   got: $err
  want: $2"
  [ ! -e "$WORK/never/predictions.csv" ] || fail "predictions written from a bad model"
  echo "ok: $2"
}
expect_model_error "$WORK/u/model" "error: $WORK/u/model: unfinished model (no manifest.json): the run writing it has not finished or was interrupted; kiln train --resume continues it"

# A model directory is never replaced silently: a finished model and an unfinished run are
# refused (before preprocessing), naming the way out; --overwrite replaces the model and its run's
# statistics.
expect_refused() {  # OUTPUT_DIR MESSAGE
  set +e
  local err
  err=$(train "$1" 2>&1 >/dev/null)
  local rc=$?
  set -e
  [ "$rc" -eq 4 ] && [ "$err" = "$2" ] || fail "train into $1: exit $rc
   got: $err
  want: $2"
  echo "ok: $2"
}
cp -r "$WORK/a" "$WORK/again"
expect_refused "$WORK/again" "error: $WORK/again/model: holds a trained model; --overwrite replaces it (or choose another --output_directory)"
cmp "$WORK/a/model/weights.pt" "$WORK/again/model/weights.pt" || fail "the refused run changed the model"
expect_refused "$WORK/u" "error: $WORK/u/model: holds an unfinished run; --resume continues it, --overwrite starts over"
printf 'x\n' > "$WORK/again/test_statistics.json"  # a stale file of the replaced run
train "$WORK/again" --overwrite
[ ! -e "$WORK/again/test_statistics.json" ] || fail "--overwrite kept the replaced run's test statistics"
cmp "$WORK/a/training_statistics.json" "$WORK/again/training_statistics.json" || fail "--overwrite trained a different model"
echo "ok: --overwrite replaced the model"

# Truncated and altered files of a finished model: the manifest names them.
cp -r "$WORK/a/model" "$WORK/trunc"
truncate -s 100 "$WORK/trunc/weights.pt"
size=$(json "$WORK/a/model/manifest.json" '.files["weights.pt"].bytes')
expect_model_error "$WORK/trunc" "error: $WORK/trunc/weights.pt: 100 bytes, the manifest says $size (truncated or replaced since training)"
cp -r "$WORK/a/model" "$WORK/alter"
sed -i 's/"Sales"/"Sale5"/' "$WORK/alter/feature_metadata.json"
cmp -s "$WORK/a/model/feature_metadata.json" "$WORK/alter/feature_metadata.json" && fail "the edit changed nothing"
expect_model_error "$WORK/alter" "error: $WORK/alter/feature_metadata.json: content differs from the manifest's checksum (altered since training)"
json "$WORK/a/description.json" '.model_files["weights.pt"].hash | startswith("fnv64:")' >/dev/null

# Models written before manifests existed, before model format 1 (positional weight names,
# counters in one tensor) and before format 2 (the optimizer state flat, in torch's archive)
# still load and predict exactly as they did; the checkpoints of the latter two resume.
for fixture in legacy_model model_format0 model_format1; do
  cp -r "$SRC/tests/data/$fixture" "$WORK/$fixture"
  "$KILN" predict --model_path "$WORK/$fixture/model" --dataset "$SRC/tests/data/tiny.csv" --output_directory "$WORK/p_$fixture" -q >/dev/null
  cmp "$WORK/p_$fixture/predictions.csv" "$SRC/tests/data/$fixture/expected_predictions.csv" || fail "$fixture predicts differently"
done
for fixture in model_format0 model_format1; do
  "$KILN" train --config "$SRC/tests/data/tiny.yaml" --dataset "$SRC/tests/data/tiny.csv" --output_directory "$WORK/$fixture" \
    --resume 2>"$WORK/resume_$fixture.err" || fail "resuming a $fixture checkpoint: $(cat "$WORK/resume_$fixture.err")"
  grep -q "resuming after epoch 2" "$WORK/resume_$fixture.err" || fail "the $fixture checkpoint was not read: $(cat "$WORK/resume_$fixture.err")"
  json "$WORK/$fixture/model/manifest.json" '.format_version == 2' >/dev/null
done
echo "ok: models from before manifests, format 0 and format 1 predict as they did; their checkpoints resume"

# A model directory names its tensors: a weights file of another config is refused naming the
# tensor; a model of a newer format is refused naming both versions.
json "$WORK/a/model/manifest.json" '.format_version == 2 and (.run_id | length) == 16' >/dev/null
[ "$(json "$WORK/a/model/manifest.json" .run_id)" = "$(json "$WORK/a/description.json" .run_id)" ] || fail "run ids differ"
cp -r "$WORK/a/model" "$WORK/newer"
sed -i 's/"format_version": 2/"format_version": 7/' "$WORK/newer/manifest.json"
expect_model_error "$WORK/newer" "error: $WORK/newer: model format version 7 (written by Kiln $(json "$WORK/a/model/manifest.json" .kiln_version)) is newer than this Kiln $(json "$WORK/a/model/manifest.json" .kiln_version) reads (up to 2); use a newer Kiln"
echo "crash: ok"
