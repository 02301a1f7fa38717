#!/usr/bin/env bash
# The anomaly output (Ludwig's Deep SVDD / Deep SAD / DROCC) on penguins with Gentoo as the
# anomaly: every Gentoo row is moved to the test split, so deep_svdd learns Adelie and Chinstrap
# only; the test rows' anomaly scores must rank Gentoo above the rest, and the threshold set after
# training (the 95th percentile of the validation scores) must flag most of them.
source "$(dirname "$0")/lib.sh"
awk -F, 'BEGIN{OFS=","} NR==1{print $0",anomaly"; next} {a = ($1=="Gentoo") ? 1 : 0; if (a) $9 = 2; print $0","a}' \
  "$SRC/examples/penguins/penguins.csv" > "$WORK/pen.csv"
{ penguin_inputs; cat <<'YAML'; } > "$WORK/svdd.yaml"
output_features:
  - name: anomaly
    type: anomaly
    loss: {type: deep_svdd}
combiner:
  type: concat
  fc_layers: [{output_size: 64}, {output_size: 32}]
preprocessing: {split: {type: fixed}}
trainer: {epochs: 20, learning_rate: 0.001}
YAML
experiment() {  # CONFIG DATA OUT
  "$KILN" experiment --config "$1" --dataset "$2" --output_directory "$3" --threads 2 -q > /dev/null 2>"$3.err" \
    || fail "$1: $(cat "$3.err")"
}
experiment "$WORK/svdd.yaml" "$WORK/pen.csv" "$WORK/svdd"
at_least "$(json "$WORK/svdd/test_statistics.json" '.anomaly.roc_auc')" 0.95 "deep_svdd test roc_auc (Gentoo unseen in training)"
at_least "$(json "$WORK/svdd/test_statistics.json" '.anomaly.recall')" 0.9 "deep_svdd test recall at the auto threshold"
threshold=$(json "$WORK/svdd/model/feature_metadata.json" '.anomaly.threshold')
# predict: a score and a 0/1 prediction per row; 5 % of the validation rows are above the threshold.
"$KILN" predict --model_path "$WORK/svdd/model" --dataset "$WORK/pen.csv" --output_directory "$WORK/pred" -q 2>/dev/null \
  || fail "predict"
head -1 "$WORK/pred/predictions.csv" | grep -qx "anomaly_predictions,anomaly_anomaly_score" \
  || fail "prediction columns: $(head -1 "$WORK/pred/predictions.csv")"
flagged=$(paste -d, "$WORK/pen.csv" <(echo x; tail -n +2 "$WORK/pred/predictions.csv") | awk -F, -v t="$threshold" \
  'NR>1 && $9==1 {n++; if ($12 >= t) f++} END{printf "%.3f", f/n}')
at_most "$flagged" 0.1 "share of validation rows at or above the threshold $threshold (its 95th percentile)"

# deep_sad: twelve labeled Gentoo rows stay in training and are pushed away from the center.
awk -F, 'BEGIN{OFS=","} NR==1{print; next} $1=="Gentoo" && n<12 {n++; $9=0} {print}' "$WORK/pen.csv" > "$WORK/sad.csv"
sed 's/type: deep_svdd}/type: deep_sad, eta: 1.0}/' "$WORK/svdd.yaml" > "$WORK/sad.yaml"
experiment "$WORK/sad.yaml" "$WORK/sad.csv" "$WORK/sad"
at_least "$(json "$WORK/sad/test_statistics.json" '.anomaly.roc_auc')" 0.95 "deep_sad test roc_auc"
sed 's/type: deep_svdd}/type: drocc, perturbation_strength: 0.1}/' "$WORK/svdd.yaml" > "$WORK/drocc.yaml"
experiment "$WORK/drocc.yaml" "$WORK/pen.csv" "$WORK/drocc"
at_least "$(json "$WORK/drocc/test_statistics.json" '.anomaly.roc_auc')" 0.95 "drocc test roc_auc"

# A fixed threshold is used as given (none learned); a label that is not one is refused at its cell.
sed 's/    type: anomaly/    type: anomaly\n    threshold: 1000000/' "$WORK/svdd.yaml" > "$WORK/fixed.yaml"
experiment "$WORK/fixed.yaml" "$WORK/pen.csv" "$WORK/fixed"
json "$WORK/fixed/model/feature_metadata.json" '.anomaly.threshold == null' > /dev/null || fail "a fixed threshold was overwritten"
[ "$(json "$WORK/fixed/test_statistics.json" '.anomaly.recall')" = 0 ] || fail "threshold 1000000 flagged rows"
echo "ok: threshold 1000000 is used as given: nothing flagged"
sed '5s/,0$/,maybe/' "$WORK/pen.csv" > "$WORK/badlabel.csv"
if "$KILN" train --config "$WORK/svdd.yaml" --dataset "$WORK/badlabel.csv" --output_directory "$WORK/bad" 2>"$WORK/bad.err"; then
  fail "a bad anomaly label was accepted"
fi
grep -qx "error: $WORK/badlabel.csv:5: column 'anomaly': 'maybe' is not an anomaly label of output 'anomaly' (expected 1 for an anomaly, 0 for normal, -1 or empty for unlabeled)" \
  "$WORK/bad.err" || fail "bad label: $(cat "$WORK/bad.err")"
[ ! -e "$WORK/bad/model" ] || fail "a model directory was written for bad data"
echo "ok: a bad anomaly label is refused at its line"
