#!/usr/bin/env bash
# kiln serve: a trained penguins model on a free loopback port. /health and /model; /batch_predict
# of every row and /predict of single rows (JSON and form fields) equal `kiln predict` on the same
# rows; 32 concurrent clients each get their own row's answer, most of them from shared forward
# passes (micro-batching); bad requests get a 4xx with a JSON error naming the field; SIGTERM stops
# the server with exit 0.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/penguins"
out="$WORK/results"
"$KILN" train --config "$ex/config.yaml" --dataset "$ex/penguins.csv" --output_directory "$out" --threads 2 -q 2>"$WORK/train.log" \
  || fail "train: $(tail -3 "$WORK/train.log")"
"$KILN" predict --model_path "$out/model" --dataset "$ex/penguins.csv" -q

# A 20 ms batching window, so the concurrent clients below share forward passes.
"$KILN" serve --model_path "$out/model" --port 0 --threads 1 --max_body_mb 0.1 --max_rows 344 --batch_timeout_us 20000 \
  2>"$WORK/serve.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$WORK"' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|^kiln: serving .* on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$WORK/serve.log")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || fail "serve exited: $(cat "$WORK/serve.log")"
  sleep 0.1
done
[ -n "$port" ] || fail "serve did not start: $(cat "$WORK/serve.log")"
url="http://127.0.0.1:$port"
# post PATH CURL-ARGS...: the body to $WORK/body, the status printed
post() { local p="$1"; shift; curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$url$p" "$@"; }

[ "$(curl -s "$url/health")" = '{"status":"ok"}' ] || fail "/health"
curl -s "$url/model" > "$WORK/model.json"
json "$WORK/model.json" '.output_features == [{"name": "species", "type": "category", "column": "species"}]' >/dev/null
json "$WORK/model.json" '.format_version == 2 and (.input_features | length) == 7 and (.config | test("input_features"))' >/dev/null

# Every row at once (Ludwig's split-orient JSON), against kiln predict's CSV.
csv_json() { jq -R -s 'split("\n") | map(select(length > 0) | split(","))' "$1"; }
csv_json "$ex/penguins.csv" | jq -c '{columns: .[0], data: .[1:]}' > "$WORK/batch.json"
csv_json "$out/predictions.csv" > "$WORK/expected.json"
[ "$(post /batch_predict -H 'Content-Type: application/json' --data-binary @"$WORK/batch.json")" = 200 ] \
  || fail "/batch_predict: $(cat "$WORK/body")"
cp "$WORK/body" "$WORK/batch_out.json"
# same columns, same labels, probabilities within 1e-6
jq -e --slurpfile want "$WORK/expected.json" '
  ($want[0][0]) as $cols | ($want[0][1:]) as $rows |
  .columns == $cols and (.index | length) == ($rows | length) and
  ([range(0; $rows | length) as $r | range(0; $cols | length) as $c |
    (.data[$r][$c]) as $got | ($rows[$r][$c]) as $exp |
    if ($got | type) == "number" then (($got - ($exp | tonumber)) | fabs) <= 1e-6 else $got == $exp end] | all)
' "$WORK/batch_out.json" >/dev/null || fail "/batch_predict differs from kiln predict"
echo "ok: /batch_predict of 344 rows equals kiln predict"

# One row, as a JSON object and as form fields.
row_json() { jq -c --argjson r "$1" '.columns as $c | .data[$r] as $d | [range(0; $c | length) | {($c[.]): $d[.]}] | add' "$WORK/batch.json"; }
expect_row() {  # expect_row ROW FILE: the /predict answer in FILE matches predictions.csv row ROW
  jq -e --slurpfile want "$WORK/expected.json" --argjson r "$1" '
    ($want[0][0]) as $cols | ($want[0][$r + 1]) as $exp |
    [range(0; $cols | length) as $c | .[$cols[$c]] as $got |
     if ($got | type) == "number" then (($got - ($exp[$c] | tonumber)) | fabs) <= 1e-6 else $got == $exp[$c] end] | all
  ' "$2" >/dev/null || fail "/predict of row $1: $(cat "$2")"
}
[ "$(post /predict -H 'Content-Type: application/json' --data-binary "$(row_json 0)")" = 200 ] || fail "/predict: $(cat "$WORK/body")"
expect_row 0 "$WORK/body"
form=$(row_json 5 | jq -r 'to_entries | map("\(.key)=\(.value | @uri)") | join("&")')
[ "$(post /predict --data "$form")" = 200 ] || fail "/predict form: $(cat "$WORK/body")"
expect_row 5 "$WORK/body"
echo "ok: /predict (JSON and form) equals kiln predict"

# 32 clients at once, each its own row.
for i in $(seq 0 31); do
  curl -s -X POST "$url/predict" -H 'Content-Type: application/json' --data-binary "$(row_json $((i * 10)))" > "$WORK/c$i.json" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
for i in $(seq 0 31); do expect_row $((i * 10)) "$WORK/c$i.json"; done
echo "ok: 32 concurrent clients, each answered with its own row"

# Bad requests: status and message.
bad() {  # bad STATUS MESSAGE PATH CURL-ARGS...
  local status="$1" message="$2" p="$3"; shift 3
  local got; got=$(post "$p" "$@")
  [ "$got" = "$status" ] && [ "$(jq -r .error "$WORK/body")" = "$message" ] \
    || fail "$p $*: got $got $(cat "$WORK/body"), want $status {\"error\": \"$message\"}"
}
J=(-H 'Content-Type: application/json')
bad 400 "malformed JSON body at character 14: Missing a comma or '}' after an object member." /predict "${J[@]}" --data-binary '{"island": 1 "x": 2}'
bad 400 "missing input feature column 'sex'" /predict "${J[@]}" --data-binary "$(row_json 0 | jq -c 'del(.sex)')"
bad 400 "request:1: column 'bill_length_mm': 'long' is not a number" \
  /predict "${J[@]}" --data-binary "$(row_json 0 | jq -c '.bill_length_mm = "long"')"
bad 400 "'island': expected a string, number, boolean or null, got a list" /predict "${J[@]}" --data-binary "$(row_json 0 | jq -c '.island = [1]')"
bad 400 "expected {\"columns\": [...], \"data\": [[...], ...]}" /batch_predict "${J[@]}" --data-binary '{"rows": []}'
bad 400 "data[1]: expected a list of 9 values (one per column)" /batch_predict "${J[@]}" \
  --data-binary "$(jq -c '.data |= [.[0], .[1][:3]]' "$WORK/batch.json")"
bad 413 "345 rows; at most 344 per request (--max_rows)" /batch_predict "${J[@]}" \
  --data-binary "$(jq -c '.data += [.data[0]]' "$WORK/batch.json")"
head -c 200000 /dev/zero | tr '\0' 'x' > "$WORK/big"
bad 413 "request body over 0.1 MB (--max_body_mb)" /predict "${J[@]}" --data-binary @"$WORK/big"
bad 404 "no endpoint POST /predictions (POST /predict, POST /batch_predict, GET /health, GET /model)" /predictions -d x=1
# an island never seen in training is scored (as <UNK>), not refused
[ "$(post /predict "${J[@]}" --data-binary "$(row_json 0 | jq -c '.island = "Atlantis"')")" = 200 ] || fail "unseen category: $(cat "$WORK/body")"
jq -e '.species_probability > 0' "$WORK/body" >/dev/null || fail "unseen category answer: $(cat "$WORK/body")"
echo "ok: bad requests answered with their status and message"

kill -TERM $pid
rc=0; wait $pid || rc=$?
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM: $(tail -3 "$WORK/serve.log")"
stop=$(grep '^kiln: stopped after [0-9]* requests ([0-9]* forward passes)$' "$WORK/serve.log") \
  || fail "no stop line: $(tail -3 "$WORK/serve.log")"
requests=$(echo "$stop" | sed 's/.*after \([0-9]*\) requests.*/\1/')
passes=$(echo "$stop" | sed 's/.*(\([0-9]*\) forward passes)/\1/')
# 32 concurrent single-row requests within 20 ms windows: most share a forward pass
at_most "$passes" $((requests - 16)) "forward passes for $requests requests (micro-batching)"
echo "serve: ok"
