#!/usr/bin/env bash
# kiln init_config: the inferred types match the data sets' documented types, every choice has a
# reason, the config trains as is, and a partial user config overrides it.
source "$(dirname "$0")/lib.sh"
E="$SRC/examples"
counts() { "$KILN" init_config --dataset "$1" --target "$2" 2>&1 >/dev/null | awk 'NR > 1 { print $2 }' | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }'; }
[ "$(counts "$E/attrition/attrition.csv" Attrition)" = "binary=4 category=11 excluded=1 number=16 " ] || fail "attrition: $(counts "$E/attrition/attrition.csv" Attrition)"
[ "$(counts "$E/ames/ames.csv" Sale_Price)" = "binary=2 category=38 excluded=1 number=34 " ] || fail "ames: $(counts "$E/ames/ames.csv" Sale_Price)"
[ "$(counts "$E/penguins/penguins.csv" species)" = "binary=1 category=2 excluded=1 number=5 " ] || fail "penguins"
"$KILN" init_config --dataset "$E/attrition/attrition.csv" --target Attrition --output "$WORK/a.yaml" 2>"$WORK/a.log"
grep -q "^Gender  *binary  *two distinct values ('Female', 'Male'); 'Female' (the rarer) reads as true" "$WORK/a.log" || fail "reason: $(grep Gender "$WORK/a.log")"
grep -q "^split  *excluded  *values 0/1/2" "$WORK/a.log" || fail "split column"
# The inferred config trains as is.
"$KILN" experiment --config "$WORK/a.yaml" --dataset "$E/attrition/attrition.csv" --output_directory "$WORK/r" -q >/dev/null
at_least "$(json "$WORK/r/test_statistics.json" '.Attrition.roc_auc')" 0.75 "roc_auc with the inferred config"
# A partial config overrides a feature's type and adds trainer settings.
cat > "$WORK/partial.yaml" <<'YAML'
input_features:
  - {name: year, type: category}
trainer: {epochs: 3}
YAML
"$KILN" init_config --dataset "$E/penguins/penguins.csv" --target species --config "$WORK/partial.yaml" --output "$WORK/p.yaml" 2>"$WORK/p.log"
grep -q "^year  *category  *set by $WORK/partial.yaml" "$WORK/p.log" || fail "override reason: $(grep year "$WORK/p.log")"
"$KILN" config --config "$WORK/p.yaml" | grep -q "epochs: 3" || fail "trainer key not carried over"
# Without a split column: 70/10/20, stratified on a classification target.
cut -d, -f1-8 "$E/penguins/penguins.csv" > "$WORK/nosplit.csv"
"$KILN" init_config --dataset "$WORK/nosplit.csv" --target species 2>/dev/null | grep -A6 "split:" | tr -d ' \n' | grep -q "type:stratifycolumn:speciesprobabilities:-0.7-0.1-0.2" || fail "default split"
set +e
msg=$("$KILN" init_config --dataset "$E/penguins/penguins.csv" --target specie 2>&1); rc=$?
set -e
[ "$rc" -eq 3 ] && [ "$msg" = "error: $E/penguins/penguins.csv: target column 'specie' not found; did you mean 'species'?" ] || fail "bad target: $msg"
# Text, identifier and image columns (the shared data sets, when present beside the project).
S="$SRC/../shared/bench/data"
if [ -d "$S" ]; then
  "$KILN" init_config --dataset "$S/spam_assassin.csv" --target label 2>"$WORK/s.log" >/dev/null
  grep -q "^text  *text " "$WORK/s.log" && grep -q "^subject  *text " "$WORK/s.log" || fail "spam text columns: $(cat "$WORK/s.log")"
  grep -q "^id  *excluded  *a different value in every row" "$WORK/s.log" || fail "spam id"
  grep -q "^group  *excluded  *5 values, each with a single label" "$WORK/s.log" && grep -q "^label  *binary (target)" "$WORK/s.log" || fail "spam group/label"
  "$KILN" init_config --dataset "$S/fashion_mnist_small.csv" --target label 2>"$WORK/f.log" >/dev/null
  grep -q "^image_path  *image  *image file paths" "$WORK/f.log" || fail "fashion image: $(cat "$WORK/f.log")"
fi
echo "init_config: ok"
# A column that gives the label away (spam_assassin's corpus folder) is excluded, with the reason.
"$KILN" init_config --dataset "$E/spam_assassin/spam_assassin.csv" --target label 2>"$WORK/s.log" >/dev/null
grep -q "^group  *excluded  *5 values, each with a single label in all 6046 rows: it gives the label away" "$WORK/s.log" \
  || fail "leak: $(grep '^group' "$WORK/s.log")"
grep -q "^body_format  *category" "$WORK/s.log" || fail "body_format (correlated, not a leak) should stay"
echo "ok: label leak excluded"
