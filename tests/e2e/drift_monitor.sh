#!/usr/bin/env bash
# predict measures drift against the training profile: near zero on the training data itself,
# high on a shifted copy (older, richer, an unseen department); per slice too. Every evaluate and
# predict run lands in the monitor store, and `kiln monitor` shows the trend.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
cp "$ex/config.yaml" "$WORK/cfg.yaml"
cat >> "$WORK/cfg.yaml" <<'YAML'

slices:
  define:
    - {name: young, where: "Age < 30"}
    - {by: Department, top_k: 3}
  drift: {psi_warning: 0.1, psi_alert: 0.25}
YAML
"$KILN" train --config "$WORK/cfg.yaml" --dataset "$ex/attrition.csv" --output_directory "$WORK/r" -q
exists "$WORK/r/model/drift_reference.json"
json "$WORK/r/model/drift_reference.json" '.overall.rows == 1029' >/dev/null   # training split only

# The training data itself: no feature drifts.
"$KILN" predict --model_path "$WORK/r/model" --dataset "$ex/attrition.csv" --output_directory "$WORK/same" -q > "$WORK/same.txt"
json "$WORK/same/drift.json" '.drift_share == 0' >/dev/null
max_psi=$(json "$WORK/same/drift.json" '[.features[].psi] | max')
at_most "$max_psi" 0.05 "max PSI on the training data"
json "$WORK/same/drift.json" '.slices.young.features | length == 30' >/dev/null
json "$WORK/same/drift.json" '.predictions["(all)"].Attrition.mean_probability' >/dev/null
json "$WORK/same/drift.json" '.predictions.young.Attrition.positive_rate' >/dev/null

# A shifted copy: 15 years older, twice the income, Sales renamed to an unseen value.
awk -F, 'BEGIN { OFS = "," } NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print; next }
  { $col["Age"] += 15; $col["MonthlyIncome"] *= 2; if ($col["Department"] == "Sales") $col["Department"] = "Marketing"; print }' \
  "$ex/attrition.csv" > "$WORK/shifted.csv"
"$KILN" predict --model_path "$WORK/r/model" --dataset "$WORK/shifted.csv" --output_directory "$WORK/shift" -q > "$WORK/shift.txt"
for f in Age MonthlyIncome Department; do
  json "$WORK/shift/drift.json" ".features[] | select(.name == \"$f\") | .status == \"alert\"" >/dev/null || fail "$f not in alert"
done
at_least "$(json "$WORK/shift/drift.json" '.features[] | select(.name == "Age") | .ks')" 0.3 "Age KS"
at_least "$(json "$WORK/shift/drift.json" '.features[] | select(.name == "Department") | .unseen_rate')" 0.25 "Department unseen rate"
json "$WORK/shift/drift.json" '.features[] | select(.name == "JobRole") | .status == "ok"' >/dev/null || fail "JobRole should not drift"
at_least "$(json "$WORK/shift/drift.json" '.drift_share')" 0.09 "drift share"
grep -q "^drift: 3 of 30 features in alert" "$WORK/shift.txt" || fail "summary: $(cat "$WORK/shift.txt")"
# the young slice is empty after adding 15 years; the others drift in Age too
json "$WORK/shift/drift.json" '.slices["Department=Research_Development"].features[] | select(.name == "Age") | .status == "alert"' >/dev/null

# A file without the slice columns still predicts (overall drift only).
cut -d, -f2- "$ex/attrition.csv" > "$WORK/noage.csv"
set +e
"$KILN" predict --model_path "$WORK/r/model" --dataset "$WORK/noage.csv" --output_directory "$WORK/na" -q 2>"$WORK/na.err"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "column 'Age' not found" "$WORK/na.err" || fail "missing input column: $(cat "$WORK/na.err")"

# Monitor: two predict runs (the failed one records nothing) and one evaluate, oldest first.
"$KILN" evaluate --model_path "$WORK/r/model" --dataset "$ex/attrition.csv" --split test -q > /dev/null
"$KILN" monitor --model_path "$WORK/r/model" > "$WORK/monitor.txt"
grep -q "#3 .* evaluate --split test" "$WORK/monitor.txt" || fail "monitor runs: $(head -8 "$WORK/monitor.txt")"
grep -Eq "^  \(all\) / Age / psi +0\.0[0-9]+ +[0-9.]+ " "$WORK/monitor.txt" || fail "Age psi trend missing"
grep -Eq "^  young / Attrition / accuracy " "$WORK/monitor.txt" || fail "slice metric trend missing"
"$KILN" monitor --model_path "$WORK/r/model" --last 1 | grep -q "#3" || fail "--last"
echo "drift_monitor: ok"
