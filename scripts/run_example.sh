#!/usr/bin/env bash
# Main job on the bundled real example: install, build, train + evaluate on the test split, write
# predictions and a report (results/attrition/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
cd "$root"
out=results/attrition
# --overwrite: this script owns results/attrition, so running it again replaces the model (without
# the flag Kiln refuses to replace a trained model).
build/kiln experiment --config examples/attrition/config.yaml \
  --dataset examples/attrition/attrition.csv --output_directory "$out" --overwrite
build/kiln predict --model_path "$out/model" --dataset examples/attrition/attrition.csv
build/kiln report --output_directory "$out" --output "$out/reports/report.txt"
build/kiln report --output_directory "$out" --format html   # $out/reports/report.html
cat "$out/reports/report.txt"
