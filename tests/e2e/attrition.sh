#!/usr/bin/env bash
# Binary classification: metrics within bounds, Ludwig's prediction columns and labels.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
out="$WORK/results"
"$KILN" experiment --config "$ex/config.yaml" --dataset "$ex/attrition.csv" --output_directory "$out" --threads 2 -q
auc=$(json "$out/test_statistics.json" '.Attrition.roc_auc')
acc=$(json "$out/test_statistics.json" '.Attrition.accuracy')
at_least "$auc" 0.80 "test roc_auc"
at_least "$acc" 0.85 "test accuracy"
for m in precision recall specificity loss; do json "$out/test_statistics.json" ".Attrition.$m" >/dev/null; done
json "$out/test_statistics.json" '.Attrition.confusion_matrix | flatten | add == 294' >/dev/null
"$KILN" predict --model_path "$out/model" --dataset "$ex/attrition.csv" --output_directory "$WORK/p" -q
head -1 "$WORK/p/predictions.csv" | grep -qx "Attrition_predictions,Attrition_probabilities_No,Attrition_probabilities_Yes,Attrition_probability" \
  || fail "header: $(head -1 "$WORK/p/predictions.csv")"
cut -d, -f1 "$WORK/p/predictions.csv" | tail -n +2 | sort -u | tr '\n' ' ' | grep -qx "No Yes " || fail "labels"
"$KILN" report --output_directory "$out" --output "$WORK/report.txt"
grep -q "learning curve (Attrition roc_auc)" "$WORK/report.txt" || fail "report lacks the learning curve"
grep -q "confusion matrix" "$WORK/report.txt" || fail "report lacks the confusion matrix"
"$KILN" report --output_directory "$out" --format json | jq -e '.test_statistics.Attrition.roc_auc' >/dev/null
# The same inputs through the FT-Transformer combiner (one token per feature plus [CLS]).
awk '/^combiner:/ {print "combiner: {type: ft_transformer, hidden_size: 32, num_heads: 4, transformer_output_size: 64}"; skip=1; next}
     skip && /^  / {next} {skip=0} {sub(/^  epochs: 30/, "  epochs: 8"); print}' "$ex/config.yaml" > "$WORK/ft.yaml"
"$KILN" experiment --config "$WORK/ft.yaml" --dataset "$ex/attrition.csv" --output_directory "$WORK/ft" --threads 2 -q
grep -q "type: ft_transformer" "$WORK/ft/model/config.yaml" || fail "ft_transformer not in the saved config"
auc=$(json "$WORK/ft/test_statistics.json" '.Attrition.roc_auc')
at_least "$auc" 0.75 "test roc_auc (ft_transformer combiner)"
echo "attrition: ok"
