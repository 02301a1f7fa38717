#!/usr/bin/env bash
# kiln hyperopt: the hard budget, every output, ASHA pruning, resume after kill -9 without
# re-running finished trials, and clear errors for bad hyperopt blocks.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"

# 1. A 20 s study (TPE + ASHA, 2 workers) ends by 25 s and leaves a usable best model. The
# example also searches the FT-Transformer, whose epochs take seconds here; the concat-only
# space gives enough trials in 20 s to see pruning.
sed -e '/combiner.type:/d' -e '/combiner.num_layers:/d' -e '/combiner.hidden_size:/d' "$ex/hyperopt.yaml" > "$WORK/h1.yaml"
"$KILN" config --validate --config "$WORK/h1.yaml" | grep -Eq "^$WORK/h1.yaml: valid \([0-9]+ inputs, 1 outputs, hyperopt: [0-9]+ parameters\)$" \
  || fail "config --validate does not report the hyperopt block"
out="$WORK/h1"
t0=$(date +%s.%N)
"$KILN" hyperopt --config "$WORK/h1.yaml" --dataset "$ex/attrition.csv" --output_directory "$out" \
  --time_limit_s 20 -q > "$WORK/h1.txt"
wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
at_most "$wall" 25 "wall seconds of a study with a 20 s budget"
exists "$out/best_model/weights.pt" "$out/best_config.yaml" "$out/test_statistics.json" \
  "$out/hyperopt_statistics.json" "$out/leaderboard.csv" "$out/reports/hyperopt_report.html" "$out/hyperopt.sqlite"
trials=$(json "$out/hyperopt_statistics.json" '.study.trials')
at_least "$trials" 6 "trials run in 20 s"
at_least "$(json "$out/hyperopt_statistics.json" '.study.pruned')" 1 "trials stopped early by ASHA"
at_least "$(json "$out/hyperopt_statistics.json" '.hyperopt_results[0].metric_score')" 0.80 "best validation roc_auc"
at_least "$(json "$out/test_statistics.json" '.Attrition.roc_auc')" 0.75 "best model's test roc_auc"
[ $(($(wc -l < "$out/leaderboard.csv") - 1)) -eq "$trials" ] || fail "leaderboard.csv rows != trials"
head -1 "$out/leaderboard.csv" | grep -q '^rank,trial_id,status,roc_auc,best_epoch,epochs,seconds,trainer.learning_rate,' \
  || fail "leaderboard header: $(head -1 "$out/leaderboard.csv")"
json "$out/hyperopt_statistics.json" '[.hyperopt_results[].status] - ["completed","pruned","stopped"] | length == 0' >/dev/null \
  || fail "unexpected trial status"
grep -q "rank  trial status" "$WORK/h1.txt" || fail "no terminal leaderboard"
# Within the budget, the re-ranking either chose among at least 2 candidates or says why not.
json "$out/hyperopt_statistics.json" '(.rerank.candidates | length >= 2) and .rerank.chosen_trial == .best_trial
  or (.rerank.skipped | length > 0)' >/dev/null || fail "re-ranking: $(json "$out/hyperopt_statistics.json" '.rerank')"
for s in "Best score against time" "Parallel coordinates" "Parameter importance" "Re-ranking on folds" "Leaderboard"; do
  grep -q "$s" "$out/reports/hyperopt_report.html" || fail "report lacks '$s'"
done
"$KILN" predict --model_path "$out/best_model" --dataset "$ex/attrition.csv" --output_directory "$WORK/p" -q
exists "$WORK/p/predictions.csv"
"$KILN" train --config "$out/best_config.yaml" --dataset "$ex/attrition.csv" --output_directory "$WORK/retrain" -q
exists "$WORK/retrain/model/weights.pt"
set +e
err=$("$KILN" hyperopt --config "$WORK/h1.yaml" --dataset "$ex/attrition.csv" --output_directory "$out" -q 2>&1)
rc=$?
set -e
[ "$rc" -eq 4 ] && [ "$err" = "error: $out/hyperopt.sqlite: a study already ran in this output directory (--resume continues it; or choose another --output_directory)" ] \
  || fail "rerun without --resume: exit $rc: $err"
echo "ok: budget, outputs, pruning, predict and retrain"

# 2. kill -9 in the middle of an 8-trial study; --resume finishes it without re-running trials.
sed -e 's/num_samples: -1 .*/num_samples: 8/' -e 's/time_budget_s: 60/time_budget_s: 600/' \
    -e 's/scheduler: {type: async_hyperband.*/scheduler: {type: fifo}/' "$WORK/h1.yaml" > "$WORK/h2.yaml"
out="$WORK/h2"
"$KILN" hyperopt --config "$WORK/h2.yaml" --dataset "$ex/attrition.csv" --output_directory "$out" --workers 2 -q \
  > /dev/null 2>&1 &
pid=$!
finished() { [ -f "$out/leaderboard.csv" ] && awk -F, 'NR>1 && $3!="running"' "$out/leaderboard.csv" | wc -l || echo 0; }
for _ in $(seq 600); do [ "$(finished)" -ge 3 ] && break; sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
sleep 1
pgrep -f "_trial .*$out/" > /dev/null && fail "trial workers outlived the killed study"
done_before=$(awk -F, 'NR>1 && $3!="running" {print $2}' "$out/leaderboard.csv" | sort -n)
at_least "$(echo "$done_before" | wc -l)" 3 "trials finished before kill -9"
sums_before=$(for t in $done_before; do md5sum "$out/trials/trial_$t/train.log"; done)
"$KILN" hyperopt --config "$WORK/h2.yaml" --dataset "$ex/attrition.csv" --output_directory "$out" --workers 2 \
  --resume > /dev/null 2> "$WORK/resume.err"
grep -q "kiln: resuming: [0-9]* trials on record" "$WORK/resume.err" || fail "no resume line: $(cat "$WORK/resume.err")"
[ "$(json "$out/hyperopt_statistics.json" '.study.trials')" -eq 8 ] || fail "expected 8 trials after resume"
[ "$(json "$out/hyperopt_statistics.json" '.study.completed')" -eq 8 ] || fail "expected 8 completed trials"
sums_after=$(for t in $done_before; do md5sum "$out/trials/trial_$t/train.log"; done)
[ "$sums_before" = "$sums_after" ] || fail "finished trials ran again after --resume"
exists "$out/best_model/weights.pt" "$out/test_statistics.json"
# Every trial ran well within the budget: the best 5 were re-ranked on 5 folds, and the best fold
# mean chose the model.
json "$out/hyperopt_statistics.json" '.rerank.candidates | length == 5 and all(.cv_folds | length == 5)' >/dev/null \
  || fail "expected 5 re-ranked candidates with 5 folds each: $(json "$out/hyperopt_statistics.json" '.rerank')"
json "$out/hyperopt_statistics.json" '.rerank.chosen_trial != null and .rerank.chosen_trial == .best_trial and
  (.rerank.candidates | max_by(.cv_mean) | .trial_id) == .best_trial' >/dev/null \
  || fail "the best fold mean must choose the model: $(json "$out/hyperopt_statistics.json" '.rerank')"
echo "ok: resumed after kill -9, finished trials kept; re-ranked on folds"

# 3. Trials that crash are recorded as failed and the study goes on: trials of 3 epochs are
# killed at step 12 (KILN_TEST_KILL_AFTER_STEPS), trials of 1 epoch (9 steps) finish.
sed -e 's/num_samples: .*/num_samples: 6/' -e 's/    trainer.learning_rate: .*/    trainer.epochs: {space: grid_search, values: [1, 3]}/' \
    -e 's/search_alg: .*/search_alg: {type: random}/' -e 's/scheduler: .*/scheduler: {type: fifo}/' \
    -e '/trainer.batch_size:/d' "$WORK/h2.yaml" > "$WORK/h3.yaml"
KILN_TEST_KILL_AFTER_STEPS=12 "$KILN" hyperopt --config "$WORK/h3.yaml" --dataset "$ex/attrition.csv" \
  --output_directory "$WORK/h3" -q > /dev/null
[ "$(json "$WORK/h3/hyperopt_statistics.json" '.study.failed')" -eq 6 ] || fail "expected 6 failed trials"
[ "$(json "$WORK/h3/hyperopt_statistics.json" '.study.completed')" -eq 6 ] || fail "expected 6 completed trials"
json "$WORK/h3/hyperopt_statistics.json" '[.hyperopt_results[] | select(.status == "failed") | .error] | unique == ["killed by signal 9"]' >/dev/null \
  || fail "failed trials' error"
exists "$WORK/h3/best_model/weights.pt"
echo "ok: crashing trials recorded as failed, the study went on"

# 4. Bad hyperopt blocks: one line naming the place, exit 2, nothing written; the same from
# kiln config --validate.
bad() {
  local block="$1" want="$2"
  { cat "$SRC/tests/data/tiny.yaml"; printf '%s\n' "$block"; } > "$WORK/bad.yaml"
  set +e
  local err
  err=$("$KILN" hyperopt --config "$WORK/bad.yaml" --dataset "$SRC/tests/data/tiny.csv" --output_directory "$WORK/nope" -q 2>&1)
  local rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "exit $rc for: $block ($err)"
  [ "$err" = "error: $WORK/bad.yaml:$want" ] || fail "
   got: $err
  want: error: $WORK/bad.yaml:$want"
  [ ! -e "$WORK/nope" ] || fail "output directory written for a bad block"
  # kiln config --validate makes the same checks, so a config it accepts does not fail in hyperopt
  set +e
  err=$("$KILN" config --validate --config "$WORK/bad.yaml" 2>&1)
  rc=$?
  set -e
  [ "$rc" -eq 2 ] && [ "$err" = "error: $WORK/bad.yaml:$want" ] || fail "config --validate: exit $rc
   got: $err
  want: error: $WORK/bad.yaml:$want"
  echo "ok: $want"
}
bad "hyperopt: {parameters: {trainer.learning_rate: {space: lognormal, lower: 0.001, upper: 0.1}}}" \
  "10:56: hyperopt.parameters.trainer.learning_rate.space: unknown space type 'lognormal'; expected one of: categorical, choice, grid_search, int, lograndint, loguniform, qlograndint, qloguniform, qrandint, qrandn, quniform, randint, randn, uniform"
bad "hyperopt: {parameters: {combiner.dropout: {space: uniform, lower: 0.5, upper: 0.2}}}" \
  "10:79: hyperopt.parameters.combiner.dropout.upper: bad bounds: lower 0.5 must be below upper 0.2"
bad "hyperopt: {parameters: {combiner.num_fc_layerz: {space: randint, lower: 1, upper: 3}}}" \
  "10:49: hyperopt.parameters.combiner.num_fc_layerz: 'num_fc_layerz' is not an option of combiner concat; did you mean 'num_fc_layers'?"
bad "hyperopt: {parameters: {departement.encoder.type: {space: choice, categories: [dense, onehot]}}}" \
  "10:51: hyperopt.parameters.departement.encoder.type: no config section or feature named 'departement'; expected one of: trainer, combiner, preprocessing, defaults, age, dept, remote, left"
bad "hyperopt: {parameters: {trainer.learning_rat: {space: loguniform, lower: 0.001, upper: 0.1}}}" \
  "10:47: hyperopt.parameters.trainer.learning_rat: trainer: unknown key 'learning_rat'; did you mean 'learning_rate'?"
bad "hyperopt: {metric: rocauc, output_feature: left, parameters: {trainer.learning_rate: {space: loguniform, lower: 0.001, upper: 0.1}}}" \
  "10:11: hyperopt.metric: 'rocauc' is not a metric of binary output 'left' (expected one of loss, accuracy, precision, recall, specificity, roc_auc); did you mean 'roc_auc'?"

# Ludwig's Optuna executor block (its optuna example's keys): sampler and pruner chosen, storage
# said to have no effect, `int` spaces with both bounds included, a split.output.metric metric.
{ cat "$SRC/tests/data/tiny.yaml"; cat <<'YAML'; } > "$WORK/optuna.yaml"
hyperopt:
  goal: minimize
  metric: validation.combined.loss
  executor: {type: optuna, num_samples: 6, sampler: random, pruner: hyperband, storage: "sqlite:///optuna.db"}
  parameters:
    trainer.batch_size: {space: int, lower: 2, upper: 3}
    trainer.optimizer.type: {space: categorical, categories: [adam, radam]}
YAML
"$KILN" hyperopt --config "$WORK/optuna.yaml" --dataset "$SRC/tests/data/tiny.csv" --output_directory "$WORK/optuna" \
  --workers 2 -q > /dev/null 2>"$WORK/optuna.err" || fail "optuna executor: $(cat "$WORK/optuna.err")"
grep -q "hyperopt.executor.storage: has no effect in Kiln and is ignored" "$WORK/optuna.err" || fail "no storage warning: $(cat "$WORK/optuna.err")"
[ "$(json "$WORK/optuna/hyperopt_statistics.json" '.study.trials')" -eq 6 ] || fail "optuna executor: expected 6 trials"
json "$WORK/optuna/hyperopt_statistics.json" '[.hyperopt_results[].parameters["trainer.batch_size"]] | map(. == 2 or . == 3) | all' >/dev/null \
  || fail "batch sizes outside [2, 3]: $(json "$WORK/optuna/hyperopt_statistics.json" '[.hyperopt_results[].parameters]')"
echo "ok: Ludwig's optuna executor block"
