#!/usr/bin/env bash
# kiln automl: CSV + target + budget -> the best model found in that time, its config, and the
# study's outputs; a partial config's fixed parameters leave the search.
source "$(dirname "$0")/lib.sh"
E="$SRC/examples"
out="$WORK/a1"
t0=$(date +%s.%N)
"$KILN" automl --dataset "$E/penguins/penguins.csv" --target species --time_limit_s 15 --output_directory "$out" \
  > "$WORK/a1.txt" 2> "$WORK/a1.err"
wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
at_most "$wall" 20 "wall seconds of automl with a 15 s budget"
grep -q "kiln: automl: tabular feature mix" "$WORK/a1.err" || fail "no feature mix line"
grep -q "^  species  *category\*" "$WORK/a1.err" || fail "no inferred types: $(head -5 "$WORK/a1.err")"
exists "$out/automl_config.yaml" "$out/best_config.yaml" "$out/best_model/weights.pt" "$out/test_statistics.json" \
  "$out/leaderboard.csv" "$out/hyperopt_statistics.json"
grep -q "^  metric: accuracy" "$out/automl_config.yaml" || fail "automl metric"
grep -q "^  goal: maximize" "$out/automl_config.yaml" || fail "automl goal"
at_least "$(json "$out/hyperopt_statistics.json" '.study.trials')" 4 "automl trials in 15 s"
at_least "$(json "$out/test_statistics.json" '.species.accuracy')" 0.9 "penguins test accuracy of the best model"
"$KILN" experiment --config "$out/best_config.yaml" --dataset "$E/penguins/penguins.csv" --output_directory "$WORK/re" -q >/dev/null
exists "$WORK/re/model/weights.pt"

# A partial config fixes the learning rate and the combiner: those leave the search.
cat > "$WORK/partial.yaml" <<'YAML'
combiner: {type: concat}
trainer: {learning_rate: 0.002, epochs: 5}
YAML
"$KILN" init_config --dataset "$E/penguins/penguins.csv" --target species --config "$WORK/partial.yaml" --hyperopt \
  --output "$WORK/p.yaml" 2>/dev/null
grep -q "trainer.learning_rate" "$WORK/p.yaml" && fail "a fixed parameter stayed in the search"
grep -q "combiner.num_layers" "$WORK/p.yaml" && fail "an ft_transformer parameter stayed with a fixed concat combiner"
grep -q "combiner.num_fc_layers" "$WORK/p.yaml" || fail "the concat parameters left the search"
"$KILN" config --validate --config "$WORK/p.yaml" >/dev/null
echo "ok: automl"
