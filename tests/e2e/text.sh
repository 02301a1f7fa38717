#!/usr/bin/env bash
# Text features end to end on the SpamAssassin corpus: a parallel CNN reaches test accuracy
# >= 0.95; a multi-output config mixing text (space_punct and sentencepiece), a category and
# two outputs trains, evaluates and predicts; the tokenizer and vocabulary come back from the
# model directory.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/spam_assassin"
out="$WORK/text"
"$KILN" experiment --config "$SRC/tests/configs/spam_text.yaml" --dataset "$ex/spam_assassin.csv" \
  --output_directory "$out" --threads 2 -q 2>"$WORK/err.txt"
grep -q "values are longer than 128 tokens (the sequence length) and were truncated; first at $ex/spam_assassin.csv:" "$WORK/err.txt" \
  || fail "no truncation warning: $(cat "$WORK/err.txt")"
acc=$(json "$out/test_statistics.json" '.label.accuracy')
at_least "$acc" 0.95 "spam test accuracy (parallel_cnn)"
jq -e '.text.idx2str | length == 10004' "$out/model/feature_metadata.json" >/dev/null \
  || fail "vocabulary: expected 4 special symbols + most_common 10000"
"$KILN" predict --model_path "$out/model" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/p" -q
[ "$(wc -l < "$WORK/p/predictions.csv")" -eq 6047 ] || fail "predictions: expected 6046 rows"

# trainer.use_mixed_precision defaults to auto: bfloat16 for a text model on a CPU with AMX that
# oneDNN may use (ONEDNN_MAX_CPU_ISA, as src/train/trainer.cpp reads it), float32 elsewhere
# (description.json says which). The same model forced to float32 reaches the same accuracy bound.
expected=float32
cap=$(printf '%s' "${ONEDNN_MAX_CPU_ISA:-${DNNL_MAX_CPU_ISA:-all}}" | tr '[:upper:]' '[:lower:]')
if grep -qw amx_bf16 /proc/cpuinfo && { [ "$cap" = all ] || [[ "$cap" == *amx* ]]; }; then expected=bfloat16; fi
[ "$(json "$out/description.json" '.precision')" = "$expected" ] \
  || fail "auto precision: expected $expected, description.json says $(json "$out/description.json" '.precision')"
sed 's/^trainer: {/trainer: {use_mixed_precision: false, /' "$SRC/tests/configs/spam_text.yaml" > "$WORK/fp32.yaml"
grep -q "use_mixed_precision: false" "$WORK/fp32.yaml" || fail "float32 config not written"
"$KILN" experiment --config "$WORK/fp32.yaml" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/fp32" --threads 2 -q 2>/dev/null
[ "$(json "$WORK/fp32/description.json" '.precision')" = float32 ] || fail "use_mixed_precision false: not float32"
acc=$(json "$WORK/fp32/test_statistics.json" '.label.accuracy')
at_least "$acc" 0.95 "spam test accuracy (parallel_cnn, float32)"

out2="$WORK/multi"
"$KILN" experiment --config "$SRC/tests/configs/spam_multi.yaml" --dataset "$ex/spam_assassin.csv" \
  --output_directory "$out2" --threads 2 -q
acc=$(json "$out2/test_statistics.json" '.label.accuracy')
at_least "$acc" 0.90 "multi-output: label accuracy"
acc=$(json "$out2/test_statistics.json" '.group.accuracy')
at_least "$acc" 0.60 "multi-output: group accuracy"
jq -e '.subject.tokenizer_model | length > 1000' "$out2/model/feature_metadata.json" >/dev/null \
  || fail "the sentencepiece model is not saved with the model"
"$KILN" predict --model_path "$out2/model" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/p2" -q
head -1 "$WORK/p2/predictions.csv" | grep -q "label_predictions" || fail "no label predictions"
head -1 "$WORK/p2/predictions.csv" | grep -q "group_predictions" || fail "no group predictions"
# evaluate re-encodes the text with the saved tokenizer and vocabulary: same test accuracy.
"$KILN" evaluate --model_path "$out2/model" --dataset "$ex/spam_assassin.csv" --split test \
  --output_directory "$WORK/e" -q
a1=$(json "$out2/test_statistics.json" '.label.accuracy')
a2=$(json "$WORK/e/test_statistics.json" '.label.accuracy')
[ "$a1" = "$a2" ] || fail "evaluate gives $a2, training reported $a1"
echo "text: ok"

# Ludwig's state-space encoders (its mamba_encoders examples): mamba2, and jamba with an attention
# block every second layer, small, two epochs over 64 tokens.
for enc in "mamba2, d_model: 64, n_layers: 2, num_heads: 4, output_size: 64" \
           "jamba, d_model: 64, n_layers: 2, attention_every_k: 2, num_heads: 4, ffn_size: 128, output_size: 64"; do
  name=${enc%%,*}
  sed -e "s/^    encoder: .*/    encoder: {type: $enc, embedding_size: 32}/" \
      -e 's/max_sequence_length: 128/max_sequence_length: 64/' -e 's/epochs: 3/epochs: 2/' \
      "$SRC/tests/configs/spam_text.yaml" > "$WORK/$name.yaml"
  grep -q "type: $name" "$WORK/$name.yaml" || fail "$name config not written"
  "$KILN" experiment --config "$WORK/$name.yaml" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/$name" \
    --threads 2 -q > /dev/null 2>"$WORK/$name.err" || fail "$name: $(cat "$WORK/$name.err")"
  at_least "$(json "$WORK/$name/test_statistics.json" '.label.accuracy')" 0.9 "spam test accuracy ($name)"
done
