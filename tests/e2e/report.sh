#!/usr/bin/env bash
# The HTML report is one self-contained file (no external URL) that renders in headless
# Chromium with its script running to the end, and shows every section that has data.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
cp "$ex/config.yaml" "$WORK/cfg.yaml"
cat >> "$WORK/cfg.yaml" <<'YAML'

slices:
  define:
    - {name: young, where: "Age < 30"}
    - {by: JobRole, top_k: 3}
  gates:
    - {slice: young, metric: accuracy, min: 0.5}
YAML
sed -i 's/^  epochs: 30/  epochs: 8/' "$WORK/cfg.yaml"
r="$WORK/r"
"$KILN" experiment --config "$WORK/cfg.yaml" --dataset "$ex/attrition.csv" --output_directory "$r" -q >/dev/null
"$KILN" predict --model_path "$r/model" --dataset "$ex/attrition.csv" -q >/dev/null
"$KILN" evaluate --model_path "$r/model" --dataset "$ex/attrition.csv" --split test -q >/dev/null
"$KILN" slices find --model_path "$r/model" --dataset "$ex/attrition.csv" --k 3 -q >/dev/null
"$KILN" report --output_directory "$r" --format html
html="$r/reports/report.html"
exists "$html"
if grep -Eqi "(src|href)=[\"']?(https?:)?//" "$html"; then fail "external URL in the report"; fi
for section in "Overview" "Learning curves" "Slice leaderboard" "Gates" "ROC (AUC" "precision-recall" \
               "Drift (last predict)" "Discovered slices (SliceLine)" "Monitor trends" "slices: validation Attrition roc_auc"; do
  grep -qF "$section" "$html" || fail "report lacks '$section'"
done
[ "$(grep -o '<svg' "$html" | wc -l)" -ge 6 ] || fail "expected inline SVG charts"
"$KILN" report --output_directory "$r" --format text > "$WORK/report.txt"
for section in "learning curve" "slices (test split)" "gates" "drift (last predict" "discovered slices" "monitor trends"; do
  grep -qF "$section" "$WORK/report.txt" || fail "text report lacks '$section'"
done
if command -v chromium >/dev/null; then
  dom=$(timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/chrome" --dump-dom "file://$html" 2>"$WORK/chrome.log")
  grep -q 'data-ready="1"' <<< "$dom" || fail "the report's script did not run to the end in Chromium"
  grep -q "Slice leaderboard" <<< "$dom" || fail "Chromium rendered no leaderboard"
  if grep -q "Uncaught" "$WORK/chrome.log"; then fail "JavaScript error: $(grep Uncaught "$WORK/chrome.log")"; fi
  echo "ok: renders in headless Chromium"
else
  echo "chromium not installed (scripts/setup.sh installs it): render check skipped" >&2
  exit 1
fi
echo "report: ok"
