#!/usr/bin/env bash
# Pretrained Hugging Face text encoders end to end, on tiny random models that
# tests/e2e/tiny_pretrained.py writes in the Hugging Face layout (this machine never downloads):
#  1. Kiln's WordPiece tokenizer and its bert / distilbert forward passes equal an independent
#     implementation (Python's unicodedata, plain PyTorch) on the same files;
#  2. a BERT fine-tuned on SpamAssassin learns (test accuracy bound), its model directory holds every
#     weight (predict is the same once the pretrained model's directory is gone), and a missing
#     model is one clear error with nothing written;
#  3. a name in the Hugging Face cache ($HF_HUB_CACHE) through auto_transformer, frozen; DistilBERT
#     from its options (use_pretrained: false).
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/spam_assassin"
tests_bin="$(dirname "$KILN")/tests/kiln_tests"
/usr/bin/python3 "$SRC/tests/e2e/tiny_pretrained.py" "$WORK/bert" --model bert --texts "$ex/spam_assassin.csv" --column text --words 3000
/usr/bin/python3 "$SRC/tests/e2e/tiny_pretrained.py" "$WORK/distil" --model distilbert --texts "$ex/spam_assassin.csv" --column text --words 3000
KILN_TINY_BERT="$WORK/bert" KILN_TINY_DISTILBERT="$WORK/distil" "$tests_bin" -ts=pretrained_fixture --no-skip >"$WORK/fixture.txt" 2>&1 \
  || fail "against the independent implementation: $(cat "$WORK/fixture.txt")"
grep -Eq "test cases: +1 \| +1 passed" "$WORK/fixture.txt" || fail "the fixture test did not run: $(cat "$WORK/fixture.txt")"
echo "ok: tokenizer and bert/distilbert forward passes equal the independent implementation"

config() {  # config ENCODER-OPTIONS EPOCHS
  cat <<YAML
input_features:
  - name: text
    type: text
    preprocessing: {max_sequence_length: 64}
    encoder: {$1}
output_features:
  - name: label
    type: category
trainer: {epochs: $2, batch_size: 32, learning_rate: 0.0005}
preprocessing:
  split: {type: fixed, column: split}
YAML
}
config "type: bert, pretrained_model_name_or_path: $WORK/bert, trainable: true" 3 > "$WORK/bert.yaml"
"$KILN" experiment --config "$WORK/bert.yaml" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/out" --threads 2 -q
acc=$(json "$WORK/out/test_statistics.json" '.label.accuracy')
at_least "$acc" 0.85 "spam test accuracy (tiny bert, fine-tuned)"
jq -e '.text.pretrained_config | fromjson | .model_type == "bert"' "$WORK/out/model/feature_metadata.json" >/dev/null \
  || fail "feature_metadata.json: no pretrained_config"
[ "$(jq '.text.idx2str | length' "$WORK/out/model/feature_metadata.json")" -eq "$(wc -l < "$WORK/bert/vocab.txt")" ] \
  || fail "the vocabulary is not the model's vocab.txt"
grep -q "tokenizer: hf_tokenizer" "$WORK/out/model/config.yaml" || fail "saved config: the preprocessing is not hf_tokenizer"
"$KILN" predict --model_path "$WORK/out/model" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/p1" -q
mv "$WORK/bert" "$WORK/bert_gone"
"$KILN" predict --model_path "$WORK/out/model" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/p2" -q
cmp -s "$WORK/p1/predictions.csv" "$WORK/p2/predictions.csv" || fail "predictions differ without the pretrained model's directory"
echo "ok: the model directory holds every weight (predict without the pretrained files)"

# The pretrained model is gone: one error naming it, nothing written.
if "$KILN" train --config "$WORK/bert.yaml" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/nope" -q 2>"$WORK/err.txt"; then
  fail "training without the pretrained model succeeded"
fi
grep -q "^error: input feature 'text' (.*): pretrained model directory '$WORK/bert' does not exist (Kiln never downloads models: it needs the model's config.json, model.safetensors and vocab.txt there)$" "$WORK/err.txt" \
  || fail "missing model: $(cat "$WORK/err.txt")"
[ "$(wc -l < "$WORK/err.txt")" -eq 1 ] || fail "missing model: more than one line: $(cat "$WORK/err.txt")"
[ ! -e "$WORK/nope/model" ] || fail "a model directory was written after the error"
echo "ok: a missing pretrained model is one error, nothing written"

# A cached name (models--<org>--<name>/snapshots/<refs/main>), through auto_transformer, frozen.
mkdir -p "$WORK/hub/models--tiny--bert/snapshots" "$WORK/hub/models--tiny--bert/refs"
mv "$WORK/bert_gone" "$WORK/hub/models--tiny--bert/snapshots/r1"
echo r1 > "$WORK/hub/models--tiny--bert/refs/main"
config "type: auto_transformer, pretrained_model_name_or_path: tiny/bert, reduce_output: mean" 1 > "$WORK/auto.yaml"
HF_HUB_CACHE="$WORK/hub" "$KILN" experiment --config "$WORK/auto.yaml" --dataset "$ex/spam_assassin.csv" \
  --output_directory "$WORK/auto" --threads 2 -q
# Frozen: only the combiner and decoder train (the fine-tuned run above trained every parameter).
all=$(json "$WORK/auto/description.json" '.num_parameters')
trainable=$(json "$WORK/auto/description.json" '.num_trainable_parameters')
bert_params=$(/usr/bin/python3 -c "import json,struct,sys,math
f=open(sys.argv[1],'rb'); h=json.loads(f.read(struct.unpack('<Q',f.read(8))[0]))
print(sum(math.prod(v['shape']) for k,v in h.items() if k.startswith('bert.')))" "$WORK/hub/models--tiny--bert/snapshots/r1/model.safetensors")
[ "$trainable" -eq $((all - bert_params)) ] || fail "frozen: $trainable trainable of $all, expected all but bert's $bert_params"
[ "$(json "$WORK/out/description.json" '.num_trainable_parameters')" -eq "$(json "$WORK/out/description.json" '.num_parameters')" ] \
  || fail "trainable: true: not every parameter trains"
echo "ok: frozen (trainable: false): $trainable of $all parameters train, the $bert_params pretrained ones do not"

config "type: distilbert, pretrained_model_name_or_path: $WORK/distil, use_pretrained: false, dim: 32, n_layers: 1, n_heads: 4, hidden_dim: 64, max_position_embeddings: 64, trainable: true" 2 \
  > "$WORK/distil.yaml"
"$KILN" experiment --config "$WORK/distil.yaml" --dataset "$ex/spam_assassin.csv" --output_directory "$WORK/d" --threads 2 -q
acc=$(json "$WORK/d/test_statistics.json" '.label.accuracy')
at_least "$acc" 0.85 "spam test accuracy (distilbert from its options, two epochs)"
