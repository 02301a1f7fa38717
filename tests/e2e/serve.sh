#!/usr/bin/env bash
# kiln serve: a trained penguins model (with three slices) on a free loopback port. /health and
# /model; /batch_predict of every row and /predict of single rows (JSON and form fields) equal
# `kiln predict` on the same rows; 32 concurrent clients each get their own row's answer, most of
# them from shared forward passes (micro-batching); bad requests get a 4xx with a JSON error naming
# the field; /metrics parses as Prometheus text and counts what was sent; a slow client is cut off
# without stalling others; SIGTERM under load drains in-flight requests and exits 0; every scored
# row is in the monitor store's serving windows and in the predictions log.
source "$(dirname "$0")/lib.sh"
ex="$SRC/examples/penguins"
out="$WORK/results"
cp "$ex/config.yaml" "$WORK/config.yaml"
cat >> "$WORK/config.yaml" <<'YAML'
slices:
  define:
    - {name: dream, where: "island == 'Dream'"}
    - {name: heavy, where: "body_mass_g > 4500"}
    - {name: test_rows, where: "split == 2"}   # a column that is not an input: given by some requests
YAML
"$KILN" train --config "$WORK/config.yaml" --dataset "$ex/penguins.csv" --output_directory "$out" --threads 2 -q 2>"$WORK/train.log" \
  || fail "train: $(tail -3 "$WORK/train.log")"
"$KILN" predict --model_path "$out/model" --dataset "$ex/penguins.csv" -q > /dev/null

# A 20 ms batching window, so the concurrent clients below share forward passes; monitor windows of
# 100 rows; a predictions log rotated every 50 KB.
serve_start "$WORK/serve.log" --model_path "$out/model" --threads 1 --max_body_mb 0.1 --max_rows 344 --batch_timeout_us 20000 \
  --read_timeout 1 --monitor_rows 100 --monitor_seconds 3600 --log_predictions "$WORK/log.jsonl" --log_max_mb 0.05
pid=$serve_pid
port=${url##*:}
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

# 32 clients at once, each its own row: connections opened first, then every request sent back to
# back.
# Most of them share forward passes (micro-batching), counted by /metrics.
passes() { curl -s "$url/metrics" | sed -n 's/^kiln_forward_passes_total \([0-9]*\)$/\1/p'; }
before=$(passes)
/usr/bin/python3 - "$port" "$WORK" <<'PY' || fail "concurrent clients"
import json, socket, sys
port, work = int(sys.argv[1]), sys.argv[2]
batch = json.load(open(f"{work}/batch.json"))
socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
requests = []
for i in range(32):
    body = json.dumps(dict(zip(batch["columns"], batch["data"][i * 10]))).encode()
    requests.append(b"POST /predict HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
for s, r in zip(socks, requests):  # all 32 sent back to back from one thread
    s.sendall(r)
for i, s in enumerate(socks):
    answer = b""
    while True:
        part = s.recv(65536)
        if not part:
            break
        answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    open(f"{work}/c{i}.json", "wb").write(body)
PY
for i in $(seq 0 31); do expect_row $((i * 10)) "$WORK/c$i.json"; done
at_most $(( $(passes) - before )) 16 "forward passes for 32 concurrent requests (micro-batching)"
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
bad 404 "no endpoint POST /predictions (POST /predict, POST /batch_predict, GET /health, GET /model, GET /metrics)" /predictions -d x=1
# an island never seen in training is scored (as <UNK>), not refused
[ "$(post /predict "${J[@]}" --data-binary "$(row_json 0 | jq -c '.island = "Atlantis"')")" = 200 ] || fail "unseen category: $(cat "$WORK/body")"
jq -e '.species_probability > 0' "$WORK/body" >/dev/null || fail "unseen category answer: $(cat "$WORK/body")"
echo "ok: bad requests answered with their status and message"

# /metrics: Prometheus text that Prometheus' own parser reads, counting exactly what was sent.
curl -s "$url/metrics" > "$WORK/metrics.txt"
/usr/bin/python3 - "$WORK/metrics.txt" "$ex/penguins.csv" <<'PY' || fail "/metrics: $(head -40 "$WORK/metrics.txt")"
import csv, sys
from prometheus_client.parser import text_string_to_metric_families
samples = [s for f in text_string_to_metric_families(open(sys.argv[1]).read()) for s in f.samples]
def value(name, **labels):
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
data = list(csv.DictReader(open(sys.argv[2])))
singles = [0, 5] + [10 * i for i in range(32)]             # /predict rows (plus row 0 as "Atlantis")
scored = data + [data[r] for r in singles]
assert value("kiln_rows_scored_total") == len(scored) + 1, value("kiln_rows_scored_total")
assert value("kiln_requests_total", endpoint="/predict", status="200") == 35
assert value("kiln_requests_total", endpoint="/batch_predict", status="200") == 1
assert value("kiln_request_errors_total", endpoint="/predict", status="400") == 4
assert value("kiln_request_errors_total", endpoint="/predict", status="413") == 1   # body over --max_body_mb
assert value("kiln_request_errors_total", endpoint="/batch_predict", status="400") == 2
assert value("kiln_request_errors_total", endpoint="/batch_predict", status="413") == 1  # rows over --max_rows
assert value("kiln_request_errors_total", endpoint="other", status="404") == 1
# every /predict has its latency, the refused ones too
assert value("kiln_request_duration_seconds_count", endpoint="/predict") == 40, value("kiln_request_duration_seconds_count", endpoint="/predict")
assert value("kiln_request_duration_seconds_bucket", endpoint="/predict", le="+Inf") == 40
assert value("kiln_predictions_total", output="species", slice="") == len(scored) + 1
dream = sum(r["island"] == "Dream" for r in scored)
heavy = sum(r["body_mass_g"] not in ("", "NA") and float(r["body_mass_g"]) > 4500 for r in scored)
test = sum(r["split"] == "2" for r in scored + [data[0]])  # row 0 as "Atlantis" is a test row too
assert value("kiln_slice_rows_total", slice="dream") == dream, (value("kiln_slice_rows_total", slice="dream"), dream)
assert value("kiln_slice_rows_total", slice="heavy") == heavy, (value("kiln_slice_rows_total", slice="heavy"), heavy)
assert value("kiln_slice_rows_total", slice="test_rows") == test, (value("kiln_slice_rows_total", slice="test_rows"), test)
assert value("kiln_predictions_total", output="species", slice="dream") == dream
assert value("kiln_forward_passes_total") >= 1 and value("kiln_batch_rows") >= 1
assert value("kiln_monitor_windows_total") >= 1          # the 344-row batch closed a 100-row window
print(f"ok: /metrics parses; {len(scored) + 1} rows scored, {dream} in dream, {heavy} heavy, {test} test rows")
PY

# A client that stops mid-request is cut off after --read_timeout (1 s) with a 400, and does not
# stall anyone else meanwhile.
/usr/bin/python3 - "$port" <<'PY' || fail "slow client"
import socket, subprocess, sys, time
port = int(sys.argv[1])
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"island\"")
t0 = time.time()
health = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/health"], capture_output=True, text=True, timeout=5)
assert health.stdout == '{"status":"ok"}' and time.time() - t0 < 0.5, (health.stdout, time.time() - t0)
slow.settimeout(10)
answer = slow.recv(65536)
waited = time.time() - t0
head, _, body = answer.partition(b"\r\n\r\n")
length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
while len(body) < length:
    body += slow.recv(65536)
answer = head + b"\r\n\r\n" + body
assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
assert b"--read_timeout 1 s" in answer, answer
assert 0.8 <= waited <= 5, waited
print(f"ok: a slow client is answered 400 after {waited:.1f} s; /health answered meanwhile")
PY

# SIGTERM under load: 8 clients send rows while the server stops. Each request is answered whole
# (200 with the prediction) or refused at connect; the server exits 0.
for c in $(seq 1 8); do
  (for i in $(seq 1 40); do
     code=$(curl -s -o "$WORK/load_${c}_$i.json" -w '%{http_code}' -X POST "$url/predict" -H 'Content-Type: application/json' \
            --data-binary "$(row_json $((c * 7 + i)))") || code=000
     echo "$code" >> "$WORK/load_$c.codes"
   done) &
done
sleep 0.5
kill -TERM $pid
rc=0; wait $pid || rc=$?
wait
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM under load: $(tail -3 "$WORK/serve.log")"
served=0
for c in $(seq 1 8); do
  i=0
  while read -r code; do
    i=$((i + 1))
    case "$code" in
      200) expect_row $((c * 7 + i)) "$WORK/load_${c}_$i.json"; served=$((served + 1)) ;;
      000) ;;  # connection refused or closed: the server had stopped accepting
      *) fail "request during shutdown answered $code: $(cat "$WORK/load_${c}_$i.json")" ;;
    esac
  done < "$WORK/load_$c.codes"
done
at_least "$served" 1 "requests answered during the SIGTERM drain"

stop=$(grep '^kiln: stopped after [0-9]* requests ([0-9]* forward passes; [0-9]* monitor windows)$' "$WORK/serve.log") \
  || fail "no stop line: $(tail -3 "$WORK/serve.log")"

# Every scored row went into a serving window of the monitor store and into the predictions log
# (rotated: log.jsonl.1 exists; nothing dropped).
rows=$((344 + 34 + 1 + served))
/usr/bin/python3 - "$out/model/monitor.sqlite" "$WORK/log.jsonl" "$rows" <<'PY' || fail "monitor store / predictions log"
import glob, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
windows, rows = db.execute("SELECT count(*), sum(rows) FROM runs WHERE command = 'serve'").fetchone()
assert rows == int(sys.argv[3]), (rows, sys.argv[3])
assert windows >= 2, windows
dream = db.execute("SELECT count(*) FROM measurements JOIN runs USING (run_id) WHERE command = 'serve' AND slice = 'dream' "
                   "AND feature = 'species' AND metric LIKE 'share_%'").fetchone()[0]
drift = db.execute("SELECT count(*) FROM measurements JOIN runs USING (run_id) WHERE command = 'serve' AND slice = '' "
                   "AND metric = 'drift_share'").fetchone()[0]
assert dream >= 3 and drift == windows, (dream, drift, windows)
files = sorted(glob.glob(sys.argv[2] + "*"))
assert sys.argv[2] + ".1" in files, files
lines = [json.loads(l) for f in files for l in open(f)]
assert len(lines) == int(sys.argv[3]), (len(lines), sys.argv[3])
for l in lines:
    assert l["island"] and l["species_predictions"] in ("Adelie", "Chinstrap", "Gentoo") and 0 < l["species_probability"] <= 1, l
print(f"ok: {rows} served rows in {windows} monitor windows and in {len(files)} predictions log files")
PY
"$KILN" monitor --model_path "$out/model" > "$WORK/monitor.txt" || fail "kiln monitor: $(cat "$WORK/monitor.txt")"
[ "$(grep -cE '^  #[0-9]+  [0-9T:-]+Z serve$' "$WORK/monitor.txt")" -ge 2 ] \
  || fail "kiln monitor shows no serving windows: $(head "$WORK/monitor.txt")"
echo "serve: ok"
