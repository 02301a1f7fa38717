#!/usr/bin/env bash
# Each bad input: one clear line on stderr (exact text), a nonzero exit, no output written.
source "$(dirname "$0")/lib.sh"
D="$SRC/tests/data"
n=0
# expect CODE MESSAGE -- ARGS...: runs kiln ARGS with --output_directory $WORK/out(N) appended
# when ARGS start with train/experiment.
expect() {
  local code="$1" msg="$2"; shift 3
  n=$((n + 1))
  local out="$WORK/out$n" extra=()
  case "$1" in train|experiment) [[ " $* " == *" --output_directory "* ]] || extra=(--output_directory "$out");; esac
  set +e
  local err
  err=$("$KILN" "$@" "${extra[@]}" -q 2>&1 >/dev/null)
  local rc=$?
  set -e
  [ "$rc" -eq "$code" ] || fail "case $n ($*): exit $rc, expected $code; stderr: $err"
  [ "$err" = "$msg" ] || fail "case $n ($*):
   got: $err
  want: $msg"
  [ ! -e "$out" ] || fail "case $n: output directory was created"
  echo "ok: $msg"
}
T=(train --config "$D/tiny.yaml" --dataset)
expect 2 "error: $SRC/tests/configs/bad/malformed_yaml.yaml:4:12: malformed YAML: end of map flow not found" -- train --config "$SRC/tests/configs/bad/malformed_yaml.yaml" --dataset "$D/tiny.csv"
expect 2 "error: $SRC/tests/configs/bad/unknown_key.yaml:5:1: config: unknown key 'trainr'; did you mean 'trainer'?" -- train --config "$SRC/tests/configs/bad/unknown_key.yaml" --dataset "$D/tiny.csv"
expect 2 "error: $SRC/tests/configs/bad/wrong_type.yaml:5:15: trainer.batch_size: expected an integer, got 'large'" -- train --config "$SRC/tests/configs/bad/wrong_type.yaml" --dataset "$D/tiny.csv"
expect 2 "error: $SRC/tests/configs/bad/unknown_feature_type.yaml:4:21: input_features[1].type: unknown feature type 'categorical'; did you mean 'category'?" -- train --config "$SRC/tests/configs/bad/unknown_feature_type.yaml" --dataset "$D/tiny.csv"
expect 2 "error: $SRC/tests/configs/bad/unknown_encoder.yaml:5:21: input_features[0].encoder.type: unknown encoder 'embed' for category feature; expected one of: dense, onehot, sparse" -- train --config "$SRC/tests/configs/bad/unknown_encoder.yaml" --dataset "$D/tiny.csv"
expect 2 "error: $WORK/nope.yaml: cannot open file: No such file or directory" -- train --config "$WORK/nope.yaml" --dataset "$D/tiny.csv"
expect 3 "error: $D/bad/missing_column.csv: column 'dept' not found in the header; did you mean 'dept_name'?" -- "${T[@]}" "$D/bad/missing_column.csv"
expect 3 "error: $D/bad/ragged.csv:8: expected 5 fields (as in the header), found 3" -- "${T[@]}" "$D/bad/ragged.csv"
expect 3 "error: $D/bad/empty.csv: the file is empty (expected a header row)" -- "${T[@]}" "$D/bad/empty.csv"
expect 3 "error: $D/bad/unterminated.csv:6:4: unterminated quoted field (no closing '\"' before the end of the file)" -- "${T[@]}" "$D/bad/unterminated.csv"
expect 3 "error: $D/bad/not_a_number.csv:10: column 'age': 'forty' is not a number" -- "${T[@]}" "$D/bad/not_a_number.csv"
expect 3 "error: $D/bad/no_target.csv: output feature 'left' (column 'left') is missing in every row" -- "${T[@]}" "$D/bad/no_target.csv"
expect 3 "error: $WORK/none.csv: cannot open file: No such file or directory" -- "${T[@]}" "$WORK/none.csv"
expect 4 "error: $WORK/nomodel: model directory not found (expected the 'model' folder that kiln train writes, e.g. results/model)" -- predict --model_path "$WORK/nomodel" --dataset "$D/tiny.csv"
touch "$WORK/afile"
expect 4 "error: $WORK/afile/sub: cannot create output directory: '$WORK/afile' is a file, not a directory" -- train --config "$D/tiny.yaml" --dataset "$D/tiny.csv" --output_directory "$WORK/afile/sub"
expect 64 "kiln train: missing --dataset (usage: kiln train --config model.yaml --dataset data.csv [options])" -- train --config "$D/tiny.yaml"
expect 64 "kiln evaluate: --split: unknown split 'tst'; did you mean 'test'?" -- evaluate --model_path "$WORK/m" --dataset "$D/tiny.csv" --split tst
expect 64 "kiln: unknown command 'trian'; did you mean 'train'? (kiln --help lists them)" -- trian

# Images: missing file, undecodable file, another channel count than the training images had;
# at predict, a missing image is the same one-line error naming its row.
I=(train --config "$D/images.yaml" --dataset)
expect 3 "error: $D/images_missing.csv:8: input feature 'image' (column 'image'): image file not found: $D/images/nothere.png" -- "${I[@]}" "$D/images_missing.csv"
expect 3 "error: $D/images_broken.csv:8: input feature 'image' (column 'image'): cannot decode image $D/images/broken.png (expected a PNG, JPEG or BMP file)" -- "${I[@]}" "$D/images_broken.csv"
expect 3 "error: $D/images_rgb.csv:8: input feature 'image' (column 'image'): image has 3 channel(s), expected 1 (inferred from the training images); set preprocessing.num_channels to convert every image" -- "${I[@]}" "$D/images_rgb.csv"
"$KILN" train --config "$D/images.yaml" --dataset "$D/images_ok.csv" --output_directory "$WORK/img" -q
expect 3 "error: $D/images_missing.csv:8: input feature 'image' (column 'image'): image file not found: $D/images/nothere.png" -- predict --model_path "$WORK/img/model" --dataset "$D/images_missing.csv" --output_directory "$WORK/imgp"
[ ! -e "$WORK/imgp/predictions.csv" ] || fail "predictions written despite a missing image"

# Malformed date and vector values.
expect 3 "error: $D/dates_bad.csv:5: input feature 'when' (column 'when'): '2024-13-01' is not a date (set preprocessing.datetime_format, e.g. '%Y-%m-%d')" -- train --config "$D/date_vector.yaml" --dataset "$D/dates_bad.csv"
expect 3 "error: $D/vectors_bad.csv:4: input feature 'v' (column 'v'): value 3 'two' is not a number (expected space-separated numbers)" -- train --config "$D/date_vector.yaml" --dataset "$D/vectors_bad.csv"

# The same config trains and predicts on good values (date embed and vector dense encoders).
sed 's/2024-13-01/2024-12-01/' "$D/dates_bad.csv" > "$WORK/dates_ok.csv"
"$KILN" train --config "$D/date_vector.yaml" --dataset "$WORK/dates_ok.csv" --output_directory "$WORK/dv" -q
"$KILN" predict --model_path "$WORK/dv/model" --dataset "$WORK/dates_ok.csv" --output_directory "$WORK/dvp" -q
[ "$(wc -l < "$WORK/dvp/predictions.csv")" -eq 5 ] || fail "date/vector predictions"

# A good model, then corrupt copies of it: its manifest names the replaced file.
"$KILN" train --config "$D/tiny.yaml" --dataset "$D/tiny.csv" --output_directory "$WORK/good" -q
cp -r "$WORK/good/model" "$WORK/corrupt_weights"
echo "not a torch archive" > "$WORK/corrupt_weights/weights.pt"
size=$(jq -r '.files["weights.pt"].bytes' "$WORK/good/model/manifest.json")
expect 4 "error: $WORK/corrupt_weights/weights.pt: 20 bytes, the manifest says $size (truncated or replaced since training)" -- predict --model_path "$WORK/corrupt_weights" --dataset "$D/tiny.csv"
# A model from before manifests (nothing to verify against): the loaders' own checks.
mkdir -p "$WORK/legacy"
cp -r "$SRC/tests/data/legacy_model/description.json" "$SRC/tests/data/legacy_model/model" "$WORK/legacy/"
echo "not a torch archive" > "$WORK/legacy/model/weights.pt"
msg=$("$KILN" predict --model_path "$WORK/legacy/model" --dataset "$D/tiny.csv" --output_directory "$WORK/pc" 2>&1 >/dev/null) && fail "corrupt weights accepted"
[[ "$msg" == "error: $WORK/legacy/model/weights.pt: corrupt or incompatible weights file ("* ]] || fail "corrupt weights message: $msg"
[ ! -e "$WORK/pc/predictions.csv" ] || fail "predictions written from a corrupt model"
cp "$SRC/tests/data/legacy_model/model/weights.pt" "$WORK/legacy/model/weights.pt"
echo "{" > "$WORK/legacy/model/feature_metadata.json"
expect 4 "error: $WORK/legacy/model/feature_metadata.json: corrupt feature metadata (not a JSON object)" -- predict --model_path "$WORK/legacy/model" --dataset "$D/tiny.csv"
rm "$WORK/legacy/model/config.yaml"
expect 4 "error: $WORK/legacy/model/config.yaml: missing from the model directory" -- predict --model_path "$WORK/legacy/model" --dataset "$D/tiny.csv"

# Unseen category and other binary spellings at predict time: mapped to <UNK>, not an error.
"$KILN" predict --model_path "$WORK/good/model" --dataset "$D/unseen.csv" --output_directory "$WORK/pu" -q
[ "$(wc -l < "$WORK/pu/predictions.csv")" -eq 4 ] || fail "unseen.csv: expected 3 predictions"

# RFC 4180 quirks (BOM, CRLF, quoted separators, quotes and newlines) parse.
"$KILN" train --config "$D/tiny.yaml" --dataset "$D/quirky.csv" --output_directory "$WORK/q" -q
json "$WORK/q/description.json" '.rows == 40' >/dev/null
json "$WORK/q/model/feature_metadata.json" '.dept.idx2str | index("Sales, \"EMEA\"") != null' >/dev/null
echo "bad_input: $n cases ok"
