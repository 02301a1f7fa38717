#!/usr/bin/env bash
# Multiclass with missing values: experiment → files, metrics; predict → Ludwig's columns;
# evaluate --split test agrees with experiment; a second run uses the preprocessing cache.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/penguins"
out="$WORK/results"
"$KILN" experiment --config "$ex/config.yaml" --dataset "$ex/penguins.csv" --output_directory "$out" --threads 2 2>"$WORK/log1"
exists "$out/description.json" "$out/training_statistics.json" "$out/test_statistics.json" \
  "$out/model/config.yaml" "$out/model/feature_metadata.json" "$out/model/weights.pt" \
  "$out/model/checkpoints/latest.pt"
acc=$(json "$out/test_statistics.json" '.species.accuracy')
at_least "$acc" 0.95 "test accuracy"
json "$out/test_statistics.json" '.species.confusion_matrix | length == 3' >/dev/null
json "$out/test_statistics.json" '.species.per_class_stats.Gentoo.recall' >/dev/null
# statistics per split, one value per epoch
epochs=$(json "$out/description.json" '.epochs')
json "$out/training_statistics.json" ".validation.species.accuracy | length == $epochs" >/dev/null
json "$out/training_statistics.json" ".test.species.accuracy | length == $epochs" >/dev/null
# statistics are fitted on the training split only (241 rows)
json "$out/model/feature_metadata.json" '.bill_length_mm.training_rows == 241' >/dev/null
grep -q "^ *normalization: zscore" "$out/model/config.yaml" || fail "resolved config lacks preprocessing"

"$KILN" predict --model_path "$out/model" --dataset "$ex/penguins.csv" -q
head -1 "$out/predictions.csv" | grep -qx "species_predictions,species_probability,species_probabilities_Adelie,species_probabilities_Gentoo,species_probabilities_Chinstrap" \
  || fail "predictions header: $(head -1 "$out/predictions.csv")"
[ "$(wc -l < "$out/predictions.csv")" -eq 345 ] || fail "expected 344 prediction rows"

"$KILN" evaluate --model_path "$out/model" --dataset "$ex/penguins.csv" --split test --output_directory "$WORK/eval" -q
acc2=$(json "$WORK/eval/test_statistics.json" '.species.accuracy')
[ "$acc" = "$acc2" ] || fail "evaluate --split test accuracy $acc2 != experiment's $acc"

# second run: cache hit, same result
"$KILN" experiment --config "$ex/config.yaml" --dataset "$ex/penguins.csv" --output_directory "$WORK/r2" --threads 2 2>"$WORK/log2"
grep -q "using cached preprocessed data" "$WORK/log2" || fail "second run did not use the cache"
grep -q "using cached preprocessed data" "$WORK/log1" && fail "first run claims a cache hit"
json "$WORK/r2/description.json" '.preprocessing_cache == "hit"' >/dev/null
acc3=$(json "$WORK/r2/test_statistics.json" '.species.accuracy')
[ "$acc" = "$acc3" ] || fail "cached run accuracy $acc3 != $acc (determinism)"
echo "penguins: ok"
