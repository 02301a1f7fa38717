#!/usr/bin/env bash
# Regression: r2 and RMSE within bounds, predictions in original units.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/ames"
out="$WORK/results"
"$KILN" experiment --config "$ex/config.yaml" --dataset "$ex/ames.csv" --output_directory "$out" --threads 2 -q
r2=$(json "$out/test_statistics.json" '.Sale_Price.r2')
rmse=$(json "$out/test_statistics.json" '.Sale_Price.root_mean_squared_error')
at_least "$r2" 0.75 "test r2"
at_most "$rmse" 40000 "test rmse"
"$KILN" predict --model_path "$out/model" --dataset "$ex/ames.csv" -q
head -1 "$out/predictions.csv" | grep -qx "Sale_Price_predictions" || fail "header"
mean=$(tail -n +2 "$out/predictions.csv" | awk '{s+=$1} END {print s/NR}')
at_least "$mean" 120000 "mean predicted price"
at_most "$mean" 250000 "mean predicted price"
echo "ames: ok"
