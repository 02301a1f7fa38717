#!/usr/bin/env bash
# SliceLine: labels corrupted where two column conditions hold (Department == Sales and
# OverTime == Yes) in a copy of attrition; `kiln slices find` reports that slice first, as a
# where-expression that the config accepts.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/attrition"
"$KILN" train --config "$ex/config.yaml" --dataset "$ex/attrition.csv" --output_directory "$WORK/r" -q
awk -F, 'BEGIN { OFS = "," } NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print; next }
  { if ($col["Department"] == "Sales" && $col["OverTime"] == "Yes") $col["Attrition"] = ($col["Attrition"] == "Yes" ? "No" : "Yes"); print }' \
  "$ex/attrition.csv" > "$WORK/planted.csv"
"$KILN" slices find --model_path "$WORK/r/model" --dataset "$WORK/planted.csv" --k 5 --max_level 3 -q > "$WORK/out.txt"
exists "$WORK/r/reports/slices.json"
top=$(json "$WORK/r/reports/slices.json" '.slices[0].where')
[ "$top" = "Department == 'Sales' and OverTime == 'Yes'" ] || fail "top slice: $top"
json "$WORK/r/reports/slices.json" '.slices[0].size == 128' >/dev/null
json "$WORK/r/reports/slices.json" '.slices | length == 5' >/dev/null
grep -q "     1 .* Department == 'Sales' and OverTime == 'Yes'" "$WORK/out.txt" || fail "table: $(cat "$WORK/out.txt")"
# Paste it into a config: it parses and measures the slice.
cp "$ex/config.yaml" "$WORK/cfg.yaml"
printf '\nslices:\n  define:\n    - {name: found, where: "%s"}\n' "$top" >> "$WORK/cfg.yaml"
"$KILN" config --config "$WORK/cfg.yaml" --validate >/dev/null
set +e
msg=$("$KILN" slices find --model_path "$WORK/r/model" --dataset "$WORK/planted.csv" --alpha 2 2>&1); rc=$?
set -e
[ "$rc" -eq 64 ] && [ "$msg" = "kiln slices: --alpha: expected a value in (0, 1]" ] || fail "bad alpha: $rc $msg"
echo "slice_finder: ok"
