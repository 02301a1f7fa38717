#!/usr/bin/env bash
# kill -9 mid-epoch, then --resume: the final weights equal an uninterrupted run's (same seed).
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
sed -e 's/^  epochs: 30/  epochs: 6/' -e 's/^  early_stop: 5 .*/  early_stop: -1/' "$ex/config.yaml" > "$WORK/config.yaml"
grep -q "epochs: 6" "$WORK/config.yaml" || fail "config edit"
run() { "$KILN" train --config "$WORK/config.yaml" --dataset "$ex/attrition.csv" --threads 2 --output_directory "$@"; }
run "$WORK/a" -q
# 1029 training rows / batch 128 = 9 steps per epoch: step 31 is inside epoch 4.
set +e
KILN_TEST_KILL_AFTER_STEPS=31 run "$WORK/b" -q
rc=$?
set -e
[ "$rc" -eq 137 ] || fail "expected the run to be killed (exit 137), got $rc"
[ -f "$WORK/b/model/checkpoints/latest.pt" ] || fail "no checkpoint after the kill"
ls "$WORK/b/model/checkpoints" | grep -q tmp && fail "a temporary file was left behind"
run "$WORK/b" --resume 2>"$WORK/resume.log"
grep -q "resuming after epoch 3" "$WORK/resume.log" || fail "did not resume after epoch 3: $(cat "$WORK/resume.log")"
json "$WORK/b/description.json" '.resumed_from_epoch == 3' >/dev/null
cmp "$WORK/a/training_statistics.json" "$WORK/b/training_statistics.json" || fail "statistics differ"
for r in a b; do "$KILN" predict --model_path "$WORK/$r/model" --dataset "$ex/attrition.csv" -q; done
cmp "$WORK/a/predictions.csv" "$WORK/b/predictions.csv" || fail "resumed model predicts differently"
# resume without a checkpoint is a clear error
set +e
msg=$(run "$WORK/c" --resume -q 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" -ne 0 ] || fail "resume without checkpoint succeeded"
[ "$msg" = "error: $WORK/c/model/checkpoints/latest.pt: no checkpoint to resume from (train without --resume)" ] || fail "message: $msg"
[ ! -e "$WORK/c" ] || fail "a failed resume created its output directory"
echo "resume: ok"
