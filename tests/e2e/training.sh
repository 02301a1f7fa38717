#!/usr/bin/env bash
# Several outputs trained together; JSON Lines and TSV data; early stopping keeps the best epoch;
# a terminal gets a progress bar with rows/s and ETA; a seed makes runs repeatable.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/penguins"
D="$SRC/tests/data"
cat > "$WORK/multi.yaml" <<'YAML'
input_features:
  - {name: island, type: category}
  - {name: bill_length_mm, type: number, preprocessing: {missing_value_strategy: fill_with_mean}}
  - {name: bill_depth_mm, type: number, preprocessing: {missing_value_strategy: fill_with_mean}}
  - {name: flipper_length_mm, type: number, preprocessing: {missing_value_strategy: fill_with_mean}}
output_features:
  - {name: species, type: category}
  - {name: body_mass_g, type: number, preprocessing: {normalization: zscore}, loss: {type: huber}}
  - {name: sex, type: binary, preprocessing: {fallback_true_label: male}}
combiner: {type: concat, num_fc_layers: 1, output_size: 64}
trainer: {epochs: 40, batch_size: 32, learning_rate: 0.005, early_stop: -1}
preprocessing: {split: {type: fixed, column: split}}
YAML
out="$WORK/multi"
"$KILN" experiment --config "$WORK/multi.yaml" --dataset "$ex/penguins.csv" --output_directory "$out" -q
# rows with a missing output value are dropped (11 penguins have no sex, 2 no body mass)
json "$out/description.json" '.dropped_rows == 11' >/dev/null
json "$out/description.json" '.validation_field == "combined" and .validation_metric == "loss"' >/dev/null
at_least "$(json "$out/test_statistics.json" '.species.accuracy')" 0.9 "species accuracy"
at_least "$(json "$out/test_statistics.json" '.body_mass_g.r2')" 0.6 "body mass r2"
at_least "$(json "$out/test_statistics.json" '.sex.accuracy')" 0.75 "sex accuracy"
json "$out/test_statistics.json" '.combined.loss' >/dev/null
json "$out/training_statistics.json" '.validation.combined.loss | length == 40' >/dev/null
"$KILN" predict --model_path "$out/model" --dataset "$ex/penguins.csv" -q
head -1 "$out/predictions.csv" | tr ',' '\n' > "$WORK/cols"
for c in species_predictions body_mass_g_predictions sex_predictions sex_probability sex_probabilities_male; do
  grep -qx "$c" "$WORK/cols" || fail "predictions lack $c"
done

# JSON Lines and TSV give the same model as the CSV (same values, same split, same seed).
for f in tiny.csv tiny.jsonl tiny.tsv; do
  "$KILN" train --config "$D/tiny.yaml" --dataset "$D/$f" --output_directory "$WORK/$f" -q
  "$KILN" predict --model_path "$WORK/$f/model" --dataset "$D/tiny.csv" -q
done
cmp "$WORK/tiny.csv/predictions.csv" "$WORK/tiny.jsonl/predictions.csv" || fail "JSON Lines model differs"
cmp "$WORK/tiny.csv/predictions.csv" "$WORK/tiny.tsv/predictions.csv" || fail "TSV model differs"

# Early stopping: stops once the validation metric has not improved for 3 epochs.
sed -e 's/epochs: 2,/epochs: 200, learning_rate: 0.05,/' -e 's/batch_size: 4}/batch_size: 4, early_stop: 3}/' "$D/tiny.yaml" > "$WORK/es.yaml"
grep -q "early_stop: 3" "$WORK/es.yaml" || fail "config edit"
"$KILN" train --config "$WORK/es.yaml" --dataset "$D/tiny.csv" --output_directory "$WORK/es" -q
epochs=$(json "$WORK/es/description.json" '.epochs')
best=$(json "$WORK/es/description.json" '.best_epoch')
json "$WORK/es/description.json" '.early_stopped' >/dev/null
[ "$epochs" -lt 200 ] || fail "early stopping did not stop ($epochs epochs)"
[ "$((epochs - best))" -eq 3 ] || fail "stopped at $epochs with best epoch $best (patience 3)"

# Seeds: the same seed repeats exactly, another seed differs.
for s in 1 1 2; do
  "$KILN" train --config "$D/tiny.yaml" --dataset "$D/tiny.csv" --output_directory "$WORK/s$s$RANDOM" --random_seed $s -q
done
ls -d "$WORK"/s1* | head -2 | while read -r d; do jq -c .validation "$d/training_statistics.json"; done | uniq | wc -l | grep -qx 1 || fail "same seed, different results"
a=$(jq -c .validation "$(ls -d "$WORK"/s1* | head -1)/training_statistics.json")
b=$(jq -c .validation "$(ls -d "$WORK"/s2* | head -1)/training_statistics.json")
[ "$a" != "$b" ] || fail "different seeds gave identical results"

# On a terminal: a progress bar with rows/s and ETA (script(1) provides the pty).
if command -v script >/dev/null; then
  script -qec "'$KILN' train --config '$D/tiny.yaml' --dataset '$D/tiny.csv' --output_directory '$WORK/tty'" "$WORK/tty.log" >/dev/null
  grep -q "rows/s ETA" "$WORK/tty.log" || fail "no progress bar on a terminal"
fi
# Not a terminal: one line per epoch, no bar.
"$KILN" train --config "$D/tiny.yaml" --dataset "$D/tiny.csv" --output_directory "$WORK/notty" 2>"$WORK/notty.log"
grep -q "ETA" "$WORK/notty.log" && fail "progress bar written to a non-terminal"
[ "$(grep -c '^epoch ' "$WORK/notty.log")" -eq 2 ] || fail "expected one line per epoch"
echo "training: ok"
