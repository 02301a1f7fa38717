#!/usr/bin/env bash
# Ludwig configs carry over (tests/ludwig_configs, docs/LUDWIG.md): each config validates, gets
# 200 rows from `kiln synthesize_dataset`, trains one epoch and predicts every row. The Ludwig 0.4
# config's upgrades are warnings at their lines, and `kiln config --upgrade` writes YAML that
# validates without any; names Ludwig has and Kiln lacks are refused as such, an LLM config at its
# model_type line.
source "$(dirname "$0")/lib.sh"
configs="$SRC/tests/ludwig_configs"
n=0
for cfg in "$configs"/*.yaml; do
  name=$(basename "$cfg" .yaml)
  "$KILN" config --validate --config "$cfg" > "$WORK/$name.validate" 2>"$WORK/$name.warnings" \
    || fail "$name: validate: $(cat "$WORK/$name.warnings")"
  grep -q "valid (" "$WORK/$name.validate" || fail "$name: $(cat "$WORK/$name.validate")"
  "$KILN" synthesize_dataset --config "$cfg" --dataset_size 200 --output "$WORK/$name/data.csv" 2>"$WORK/$name.synth" \
    || fail "$name: synthesize_dataset: $(cat "$WORK/$name.synth")"
  [ "$(wc -l < "$WORK/$name/data.csv")" -eq 201 ] || fail "$name: expected a header and 200 rows"
  "$KILN" train --config "$cfg" --dataset "$WORK/$name/data.csv" --output_directory "$WORK/$name/results" \
    --epochs 1 --threads 2 --skip_cache -q 2>"$WORK/$name.train" || fail "$name: train: $(tail -3 "$WORK/$name.train")"
  "$KILN" predict --model_path "$WORK/$name/results/model" --dataset "$WORK/$name/data.csv" \
    --output_directory "$WORK/$name/pred" -q 2>"$WORK/$name.predict" || fail "$name: predict: $(tail -3 "$WORK/$name.predict")"
  rows=$(($(wc -l < "$WORK/$name/pred/predictions.csv") - 1))
  [ "$rows" -eq 200 ] || fail "$name: $rows predictions, expected 200"
  echo "ok: $name validates, trains one epoch on 200 synthesized rows and predicts them ($(grep -c warning "$WORK/$name.warnings" || true) warnings)"
  n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "expected at least 8 configs in tests/ludwig_configs, found $n"

# The Ludwig 0.4 config: every rewrite said once, at its line.
w="$WORK/titanic_v04.warnings"
grep -q "titanic_v04.yaml:37:1: training: read as trainer (renamed in Ludwig 0.5)" "$w" || fail "training: $(cat "$w")"
grep -q "titanic_v04.yaml:9:11: input_features\[2\].type: 'numerical' read as 'number' (Ludwig 0.5)" "$w" || fail "numerical: $(cat "$w")"
grep -q "titanic_v04.yaml:21:14: input_features\[5\].encoder: read as {type: dense} (Ludwig 0.6)" "$w" || fail "encoder: $(cat "$w")"
grep -q "titanic_v04.yaml:31:3: preprocessing.category: read as defaults.category.preprocessing (Ludwig 0.5)" "$w" || fail "defaults: $(cat "$w")"
grep -q "titanic_v04.yaml:40:3: trainer.decay: read as trainer.learning_rate_scheduler.decay (Ludwig 0.7)" "$w" || fail "decay: $(cat "$w")"
grep -q "titanic_v04.yaml:35:3: combiner.fc_size: has no effect in Kiln and is ignored" "$w" || fail "fc_size: $(cat "$w")"
[ "$(grep -c "warning" "$w")" -eq 15 ] || fail "expected 15 warnings, got: $(cat "$w")"
echo "ok: the Ludwig 0.4 config's 15 rewrites are warnings at their lines"
"$KILN" config --upgrade --config "$configs/titanic_v04.yaml" > "$WORK/upgraded.yaml" 2>/dev/null || fail "config --upgrade"
"$KILN" config --validate --config "$WORK/upgraded.yaml" > /dev/null 2>"$WORK/upgraded.warnings" || fail "upgraded: $(cat "$WORK/upgraded.warnings")"
[ ! -s "$WORK/upgraded.warnings" ] || fail "the upgraded config still warns: $(cat "$WORK/upgraded.warnings")"
grep -q "^trainer:" "$WORK/upgraded.yaml" || fail "upgraded: no trainer section"
echo "ok: kiln config --upgrade writes a config that validates without warnings"

# Names Ludwig has and Kiln lacks.
cat > "$WORK/roberta.yaml" <<'YAML'
input_features:
  - name: review
    type: text
    encoder: roberta
output_features:
  - name: sentiment
    type: category
YAML
if "$KILN" config --validate --config "$WORK/roberta.yaml" 2>"$WORK/roberta.err"; then fail "roberta accepted"; fi
grep -q "roberta.yaml:4:14: input_features\[0\].encoder.type: Ludwig's encoder 'roberta' is not available in Kiln: Kiln's pretrained text encoders are bert, distilbert and auto_transformer" "$WORK/roberta.err" \
  || fail "roberta: $(cat "$WORK/roberta.err")"
cat > "$WORK/llm.yaml" <<'YAML'
base_model: some/llm
adapter:
  type: lora
model_type: llm
input_features:
  - name: prompt
    type: text
output_features:
  - name: response
    type: text
YAML
if "$KILN" config --validate --config "$WORK/llm.yaml" 2>"$WORK/llm.err"; then fail "llm accepted"; fi
[ "$(grep -c error "$WORK/llm.err")" -eq 1 ] || fail "llm: one error expected: $(cat "$WORK/llm.err")"
grep -q "llm.yaml:4:13: model_type: Ludwig's model type 'llm' is not available in Kiln" "$WORK/llm.err" || fail "llm: $(cat "$WORK/llm.err")"
echo "ok: roberta and model_type: llm are refused as Ludwig names Kiln does not have"

# synthesize_dataset's own errors.
if "$KILN" synthesize_dataset --config "$configs/getting_started.yaml" --dataset_size 0 --output "$WORK/x.csv" 2>"$WORK/size.err"; then
  fail "--dataset_size 0 accepted"
fi
grep -qx "kiln synthesize_dataset: --dataset_size: expected at least 1 row" "$WORK/size.err" || fail "size: $(cat "$WORK/size.err")"
[ ! -e "$WORK/x.csv" ] || fail "a file was written for a refused request"
echo "ok: synthesize_dataset refuses --dataset_size 0 and writes nothing"

# Ludwig's class balancing of the training rows: the rarest class drawn again up to the given
# fraction of the most frequent one, or the most frequent one cut so the rarest is that fraction.
cat > "$WORK/balance.yaml" <<'YAML'
input_features:
  - {name: Age, type: number}
  - {name: Department, type: category}
  - {name: OverTime, type: binary}
output_features:
  - {name: Attrition, type: binary}
preprocessing:
  oversample_minority: 0.5
trainer: {epochs: 1}
YAML
data="$SRC/examples/attrition/attrition.csv"
balanced() {  # prints "class_before class_after rows_before rows_after"
  "$KILN" train --config "$WORK/balance.yaml" --dataset "$data" --output_directory "$WORK/balance" --overwrite --threads 2 2>&1 \
    | sed -n 's/^kiln: class balancing: .* class rows \([0-9]*\) -> \([0-9]*\); training rows \([0-9]*\) -> \([0-9]*\)$/\1 \2 \3 \4/p'
}
read -r was now before after <<< "$(balanced)"
[ -n "${after:-}" ] || fail "oversample_minority: no class balancing line"
majority=$((before - was))
[ "$now" -eq $((majority / 2)) ] || fail "oversample_minority 0.5: $now rows of the rarest class, expected half of $majority"
[ "$after" -eq $((before - was + now)) ] || fail "oversample_minority: $after training rows"
echo "ok: oversample_minority 0.5 draws the rarest class up to $now rows, half of the $majority of the most frequent"
sed -i 's/oversample_minority: 0.5/undersample_majority: 0.5/' "$WORK/balance.yaml"
read -r was now before after <<< "$(balanced)"
minority=$((before - was))
[ "$now" -eq $((minority * 2)) ] || fail "undersample_majority 0.5: $now rows of the most frequent class, expected twice $minority"
echo "ok: undersample_majority 0.5 keeps $now rows of the most frequent class, twice the $minority of the rarest"
sed -i 's/^  undersample_majority: 0.5$/  undersample_majority: 0.5\n  oversample_minority: 0.5/' "$WORK/balance.yaml"
if "$KILN" config --validate --config "$WORK/balance.yaml" 2>"$WORK/both.err"; then fail "both balancing keys accepted"; fi
grep -q "preprocessing.undersample_majority: give either oversample_minority or undersample_majority, not both" "$WORK/both.err" \
  || fail "both: $(cat "$WORK/both.err")"
sed -i '/oversample_minority/d; s/- {name: Attrition, type: binary}/- {name: Attrition, type: binary}\n  - {name: Age2, type: number, column: Age}/' "$WORK/balance.yaml"
if "$KILN" train --config "$WORK/balance.yaml" --dataset "$data" --output_directory "$WORK/balance2" 2>"$WORK/two.err"; then
  fail "class balancing with two outputs accepted"
fi
grep -q "preprocessing.undersample_majority: class balancing needs exactly one output feature, of a class type" "$WORK/two.err" \
  || fail "two outputs: $(cat "$WORK/two.err")"
echo "ok: both balancing keys, or two outputs, are refused with their reason"

# Multi-task loss balancing (trainer.loss_balancing) on penguins: species beside body mass left
# in grams, whose squared error (~10^7) drowns the species loss in a plain sum; log_transform
# and nash_mtl give species its share back. famo's adapted weights survive kill -9 and --resume.
cat > "$WORK/mtl.yaml" <<'YAML'
input_features:
  - {name: island, type: category}
  - {name: bill_length_mm, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
  - {name: bill_depth_mm, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
  - {name: flipper_length_mm, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
  - {name: sex, type: binary, preprocessing: {missing_value_strategy: fill_with_false, fallback_true_label: male}}
output_features:
  - {name: species, type: category}
  - {name: body_mass_g, type: number, preprocessing: {missing_value_strategy: fill_with_mean}}
combiner: {type: concat, num_fc_layers: 2, output_size: 64}
preprocessing: {split: {type: fixed}}
trainer: {epochs: 30, batch_size: 32, learning_rate: 0.001, early_stop: -1, loss_balancing: none}
YAML
species_accuracy() {  # STRATEGY -> test accuracy of species
  sed "s/loss_balancing: none/loss_balancing: $1/" "$WORK/mtl.yaml" > "$WORK/mtl_$1.yaml"
  "$KILN" experiment --config "$WORK/mtl_$1.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
    --output_directory "$WORK/mtl_$1" --threads 2 -q > /dev/null 2>"$WORK/mtl_$1.err" || fail "$1: $(cat "$WORK/mtl_$1.err")"
  json "$WORK/mtl_$1/test_statistics.json" '.species.accuracy'
}
at_most "$(species_accuracy none)" 0.8 "species accuracy, losses summed (none)"
at_least "$(species_accuracy log_transform)" 0.95 "species accuracy, loss_balancing: log_transform"
at_least "$(species_accuracy nash_mtl)" 0.95 "species accuracy, loss_balancing: nash_mtl"
sed -e "s/loss_balancing: none/loss_balancing: famo, loss_balancing_lr: 0.05/" -e "s/epochs: 30/epochs: 4/" \
  "$WORK/mtl.yaml" > "$WORK/famo.yaml"
famo() { "$KILN" train --config "$WORK/famo.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --threads 2 -q --output_directory "$@"; }
famo "$WORK/famo_a" 2>/dev/null || fail "famo run"
set +e
KILN_TEST_KILL_AFTER_STEPS=13 famo "$WORK/famo_b" 2>/dev/null
rc=$?
set -e
[ "$rc" -eq 137 ] || fail "famo: expected the run to be killed (exit 137), got $rc"
famo "$WORK/famo_b" --resume 2>/dev/null || fail "famo --resume"
cmp "$WORK/famo_a/training_statistics.json" "$WORK/famo_b/training_statistics.json" || fail "famo: resumed statistics differ"
echo "ok: loss_balancing famo resumes after kill -9 with the same statistics as an uninterrupted run"

# Open-set recognition (loss entropic_open_set / objectosphere, background_class): penguins with
# Gentoo as the background class. On the test rows the known species are predicted confidently
# and right, Gentoo rows get a near-uniform prediction (1/3 is uniform over the three classes).
for loss in "entropic_open_set, background_class: Gentoo" "objectosphere, background_class: Gentoo, xi: 10, zeta: 0.1"; do
  name=${loss%%,*}
  { penguin_inputs; cat <<YAML; } > "$WORK/$name.yaml"
output_features:
  - {name: species, type: category, loss: {type: $loss}}
combiner: {type: concat, fc_layers: [{output_size: 64}, {output_size: 32}]}
preprocessing: {split: {type: fixed}}
trainer: {epochs: 30, learning_rate: 0.01, validation_metric: loss}
YAML
  "$KILN" train --config "$WORK/$name.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/$name" \
    --threads 2 -q 2>"$WORK/$name.err" || fail "$name: $(cat "$WORK/$name.err")"
  "$KILN" predict --model_path "$WORK/$name/model" --dataset "$SRC/examples/penguins/penguins.csv" \
    --output_directory "$WORK/$name.pred" -q 2>/dev/null || fail "$name: predict"
  read -r known gentoo accuracy <<< "$(paste -d, "$SRC/examples/penguins/penguins.csv" "$WORK/$name.pred/predictions.csv" \
    | awk -F, 'NR>1 && $9==2 {g = ($1=="Gentoo"); p[g] += $11; n[g]++; if (!g && $10==$1) right++}
               END {printf "%.3f %.3f %.3f", p[0]/n[0], p[1]/n[1], right/n[0]}')"
  at_least "$known" 0.9 "$name: mean top probability of the known species' test rows"
  at_least "$accuracy" 0.95 "$name: accuracy on the known species' test rows"
  at_most "$gentoo" 0.5 "$name: mean top probability of the background class's (Gentoo) test rows"
done

# Temperature scaling (decoder calibration: temperature_scaling; Ludwig's older output-level
# `calibration: true` is upgraded to it): the same training (same seed) with and without it predicts
# the same classes, and the calibrated model's test cross-entropy is lower.
calibration_run() {  # NAME DECODER-EXTRA OUTPUT-EXTRA
  { penguin_inputs; cat <<YAML; } > "$WORK/$1.yaml"
output_features:
  - {name: species, type: category, decoder: {type: mlp_classifier, num_fc_layers: 1, output_size: 32$2}$3}
trainer: {epochs: 30, batch_size: 16, learning_rate: 0.01}
YAML
  "$KILN" experiment --config "$WORK/$1.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/$1" \
    --threads 2 -q >/dev/null 2>"$WORK/$1.err" || fail "$1: $(cat "$WORK/$1.err")"
  "$KILN" predict --model_path "$WORK/$1/model" --dataset "$SRC/examples/penguins/penguins.csv" \
    --output_directory "$WORK/$1.pred" -q 2>/dev/null || fail "$1: predict"
}
calibration_run uncalibrated "" ""
calibration_run calibrated ", calibration: temperature_scaling" ""
calibration_run calibrated_old "" ", calibration: true"
grep -q "output_features\[0\].calibration: read as decoder.calibration: temperature_scaling" "$WORK/calibrated_old.err" \
  || fail "calibration: true: no upgrade warning: $(cat "$WORK/calibrated_old.err")"
cut -d, -f1 "$WORK/uncalibrated.pred/predictions.csv" > "$WORK/classes_u"
cut -d, -f1 "$WORK/calibrated.pred/predictions.csv" > "$WORK/classes_c"
cmp -s "$WORK/classes_u" "$WORK/classes_c" || fail "calibration changed the predicted classes"
cmp -s "$WORK/uncalibrated.pred/predictions.csv" "$WORK/calibrated.pred/predictions.csv" && fail "calibration changed no probability"
cmp -s "$WORK/calibrated.pred/predictions.csv" "$WORK/calibrated_old.pred/predictions.csv" \
  || fail "calibration: true and decoder.calibration: temperature_scaling differ"
u=$(json "$WORK/uncalibrated/test_statistics.json" '.species.loss')
c=$(json "$WORK/calibrated/test_statistics.json" '.species.loss')
awk -v u="$u" -v c="$c" 'BEGIN{exit !(c < u)}' || fail "calibration: test loss $c, uncalibrated $u"
echo "ok: temperature scaling keeps the classes and lowers the test cross-entropy ($u -> $c)"

# tied: an input feature uses another's encoder, weights included (one dense encoder of 16 units,
# 1x16 weights + 16 biases = 32 parameters, fewer), and the saved model predicts.
tied_run() {  # NAME TIED-KEY
  cat > "$WORK/$1.yaml" <<YAML
input_features:
  - {name: island, type: category}
  - {name: bill_length_mm, type: number, encoder: {type: dense, output_size: 16}, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
  - {name: bill_depth_mm, type: number, $2 encoder: {type: dense, output_size: 16}, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
output_features:
  - {name: species, type: category}
trainer: {epochs: 30, learning_rate: 0.01}
YAML
  "$KILN" experiment --config "$WORK/$1.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/$1" \
    --threads 2 -q >/dev/null 2>&1 || fail "$1: experiment"
}
tied_run untied ""
tied_run tied "tied: bill_length_mm,"
[ $(( $(json "$WORK/untied/description.json" '.num_parameters') - $(json "$WORK/tied/description.json" '.num_parameters') )) -eq 32 ] \
  || fail "tied: expected 32 parameters fewer than untied"
acc=$(json "$WORK/tied/test_statistics.json" '.species.accuracy')
at_least "$acc" 0.85 "tied encoders: species test accuracy"
"$KILN" predict --model_path "$WORK/tied/model" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/tied.pred" -q >/dev/null 2>&1 \
  || fail "tied: predict"
echo "ok: tied input features share one encoder"

# L-BFGS (Ludwig's lbfgs example: one full-batch step of max_iter quasi-Newton iterations) on
# penguins, sparse category encoders into a binary output (Adelie or not).
{ cat <<YAML; } > "$WORK/lbfgs.yaml"
input_features:
  - {name: island, type: category, encoder: {type: sparse}}
  - {name: sex, type: category, encoder: {type: sparse}}
  - {name: bill_length_mm, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
  - {name: bill_depth_mm, type: number, preprocessing: {normalization: zscore, missing_value_strategy: fill_with_mean}}
output_features:
  - {name: species, type: category}
trainer:
  batch_size: 100000
  train_steps: 1
  learning_rate: 1
  optimizer: {type: lbfgs, max_iter: 100, tolerance_grad: 0.0001, history_size: 10, line_search_fn: strong_wolfe}
YAML
"$KILN" experiment --config "$WORK/lbfgs.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/lbfgs" \
  --threads 2 -q >/dev/null 2>"$WORK/lbfgs.err" || fail "lbfgs: $(cat "$WORK/lbfgs.err")"
acc=$(json "$WORK/lbfgs/test_statistics.json" '.species.accuracy')
at_least "$acc" 0.9 "lbfgs: species test accuracy after one full-batch step"
steps=$(json "$WORK/lbfgs/training_statistics.json" '.training.combined.loss | length')
[ "$steps" -eq 1 ] || fail "lbfgs: expected one epoch of one step, got $steps"

# trainer.regularization_lambda is part of the loss minimized: a strong L2 penalty keeps the
# weights near zero, so the predictions stay close to uniform (1/3 for three species).
sed 's/optimizer: {type: lbfgs.*/optimizer: {type: lbfgs, max_iter: 100, line_search_fn: strong_wolfe}\n  regularization_lambda: 10/' \
  "$WORK/lbfgs.yaml" > "$WORK/reg.yaml"
grep -q "regularization_lambda: 10" "$WORK/reg.yaml" || fail "reg.yaml not written"
"$KILN" train --config "$WORK/reg.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/reg" \
  --threads 2 -q >/dev/null 2>&1 || fail "regularization: train"
"$KILN" predict --model_path "$WORK/reg/model" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/reg.pred" -q >/dev/null 2>&1
top=$(awk -F, 'NR>1 {s += $2; n++} END {printf "%.3f", s/n}' "$WORK/reg.pred/predictions.csv")
at_most "$top" 0.5 "regularization_lambda 10: mean top probability"

# The optimizers Ludwig has beyond libtorch's (Ludwig's optimizer examples): each trains the
# penguins species classifier; schedule_free_adamw, which evaluates and saves its averaged
# weights, also resumes after a kill -9 mid-epoch to the same statistics and predictions.
for opt in "adafactor" "muon, momentum: 0.9" "schedule_free_adamw, warmup_steps: 10"; do
  name=${opt%%,*}
  { penguin_inputs; cat <<YAML; } > "$WORK/$name.yaml"
output_features:
  - {name: species, type: category}
combiner: {type: concat, fc_layers: [{output_size: 32}]}
trainer: {epochs: 8, batch_size: 32, learning_rate: 0.01, optimizer: {type: $opt}}
YAML
  "$KILN" experiment --config "$WORK/$name.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
    --output_directory "$WORK/$name" --threads 2 -q >/dev/null 2>"$WORK/$name.err" || fail "$name: $(cat "$WORK/$name.err")"
  at_least "$(json "$WORK/$name/test_statistics.json" '.species.accuracy')" 0.9 "$name: species test accuracy"
done
set +e
KILN_TEST_KILL_AFTER_STEPS=20 "$KILN" train --config "$WORK/schedule_free_adamw.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
  --output_directory "$WORK/sf_resumed" --threads 2 -q >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || fail "schedule_free_adamw: expected the run to be killed (exit 137), got $rc"
"$KILN" train --config "$WORK/schedule_free_adamw.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
  --output_directory "$WORK/sf_resumed" --threads 2 --resume -q >/dev/null 2>&1 || fail "schedule_free_adamw: resume"
"$KILN" train --config "$WORK/schedule_free_adamw.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
  --output_directory "$WORK/sf_straight" --threads 2 -q >/dev/null 2>&1 || fail "schedule_free_adamw: train"
cmp "$WORK/sf_straight/training_statistics.json" "$WORK/sf_resumed/training_statistics.json" \
  || fail "schedule_free_adamw: a resumed run's statistics differ"
for r in sf_straight sf_resumed; do
  "$KILN" predict --model_path "$WORK/$r/model" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/$r.pred" -q >/dev/null 2>&1
done
cmp "$WORK/sf_straight.pred/predictions.csv" "$WORK/sf_resumed.pred/predictions.csv" \
  || fail "schedule_free_adamw: the resumed model predicts differently"
echo "ok: schedule_free_adamw resumes to the same statistics and predictions"

# trainer.model_soup (Ludwig's key): uniform averages the best model_soup_top_k epochs' weights
# (kiln evaluate of the saved model gives the validation loss the log reports, and the soup's
# files are gone); greedy keeps an epoch only when the validation loss does not get worse, so the
# saved model is at least as good as the best epoch on the validation rows; a run killed mid-way
# and resumed cooks the same soup.
for soup in uniform greedy; do
  { penguin_inputs; cat <<YAML; } > "$WORK/soup_$soup.yaml"
output_features:
  - {name: species, type: category}
combiner: {type: concat, fc_layers: [{output_size: 32}]}
trainer: {epochs: 12, batch_size: 32, learning_rate: 0.01, model_soup: $soup, model_soup_top_k: 4, validation_metric: loss}
YAML
  "$KILN" train --config "$WORK/soup_$soup.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
    --output_directory "$WORK/soup_$soup" --threads 2 >/dev/null 2>"$WORK/soup_$soup.err" || fail "soup $soup: $(cat "$WORK/soup_$soup.err")"
  logged=$(sed -n "s/^model soup ($soup) of epochs .*: validation species loss \([0-9.]*\) .*/\1/p" "$WORK/soup_$soup.err")
  [ -n "$logged" ] || fail "soup $soup: no model soup line: $(cat "$WORK/soup_$soup.err")"
  ls "$WORK/soup_$soup/model/checkpoints" | grep -q soup && fail "soup $soup: soup files left behind"
  "$KILN" evaluate --model_path "$WORK/soup_$soup/model" --dataset "$SRC/examples/penguins/penguins.csv" --split validation \
    --output_directory "$WORK/soup_$soup.eval" -q >/dev/null 2>&1 || fail "soup $soup: evaluate"
  loss=$(json "$WORK/soup_$soup.eval/test_statistics.json" '.species.loss')
  awk -v a="$loss" -v b="$logged" 'BEGIN{exit !((a-b)^2 < 1e-8)}' || fail "soup $soup: evaluate gives validation loss $loss, the log $logged"
  echo "ok: model soup ($soup) of epochs $(json "$WORK/soup_$soup/description.json" '.model_soup_epochs | map(tostring) | join(",")'): validation loss $loss"
done
[ "$(json "$WORK/soup_uniform/description.json" '.model_soup_epochs | length')" -eq 4 ] || fail "uniform soup: expected 4 epochs"
at_most "$(json "$WORK/soup_greedy.eval/test_statistics.json" '.species.loss')" \
  "$(json "$WORK/soup_greedy/description.json" '.best_validation_value')" "greedy soup's validation loss (the best epoch's)"
set +e
KILN_TEST_KILL_AFTER_STEPS=50 "$KILN" train --config "$WORK/soup_uniform.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
  --output_directory "$WORK/soup_resumed" --threads 2 -q >/dev/null 2>&1
set -e
"$KILN" train --config "$WORK/soup_uniform.yaml" --dataset "$SRC/examples/penguins/penguins.csv" \
  --output_directory "$WORK/soup_resumed" --threads 2 --resume -q >/dev/null 2>&1 || fail "soup: resume"
cmp <(jq -c .model_soup_epochs "$WORK/soup_uniform/description.json") <(jq -c .model_soup_epochs "$WORK/soup_resumed/description.json") \
  || fail "soup: a resumed run averaged other epochs"
for r in soup_uniform soup_resumed; do
  "$KILN" predict --model_path "$WORK/$r/model" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/$r.pred" -q >/dev/null 2>&1
done
cmp "$WORK/soup_uniform.pred/predictions.csv" "$WORK/soup_resumed.pred/predictions.csv" || fail "soup: the resumed soup predicts differently"
echo "ok: a resumed run cooks the same soup"

# Ludwig's quality presets: best_quality's settings under the config's own (ft_transformer, uncertainty
# loss balancing, a uniform soup of 5), each said in a warning; an unknown preset is an error at its line.
{ echo "preset: best_quality"; penguin_inputs; cat <<'YAML'; } > "$WORK/preset.yaml"
output_features:
  - {name: species, type: category}
trainer: {epochs: 3}
YAML
"$KILN" train --config "$WORK/preset.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/preset" \
  --threads 2 >/dev/null 2>"$WORK/preset.err" || fail "preset: $(cat "$WORK/preset.err")"
grep -q "preset.yaml:1:1: preset: Ludwig's preset 'best_quality' sets what the config does not: combiner, trainer.early_stop, trainer.batch_size, trainer.loss_balancing, trainer.model_soup, trainer.model_soup_top_k" "$WORK/preset.err" \
  || fail "preset warning: $(cat "$WORK/preset.err")"
[ "$(json "$WORK/preset/description.json" '.model_soup_epochs | length')" -eq 3 ] || fail "preset: expected a soup of the 3 epochs"
sed -i 's/best_quality/top_quality/' "$WORK/preset.yaml"
set +e
msg=$("$KILN" config --validate --config "$WORK/preset.yaml" 2>&1 >/dev/null)
set -e
[ "$msg" = "error: $WORK/preset.yaml:1:9: preset: expected one of Ludwig's presets best_quality, high_quality, medium_quality, tabular_realmlp; got 'top_quality'" ] \
  || fail "unknown preset: $msg"
echo "ok: presets"

# The hypernetwork combiner (Ludwig's example's keys): the island (the first input) generates the
# weights that transform the measurements; it learns the species.
{ penguin_inputs; cat <<'YAML'; } > "$WORK/hyper.yaml"
output_features:
  - {name: species, type: category}
combiner: {type: hypernetwork, hidden_size: 32, hyper_hidden_size: 16, num_fc_layers: 1, output_size: 32}
trainer: {epochs: 15, batch_size: 32, learning_rate: 0.003}
YAML
"$KILN" experiment --config "$WORK/hyper.yaml" --dataset "$SRC/examples/penguins/penguins.csv" --output_directory "$WORK/hyper" \
  --threads 2 -q >/dev/null 2>"$WORK/hyper.err" || fail "hypernetwork: $(cat "$WORK/hyper.err")"
at_least "$(json "$WORK/hyper/test_statistics.json" '.species.accuracy')" 0.9 "hypernetwork: species test accuracy"
