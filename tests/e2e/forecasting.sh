#!/usr/bin/env bash
# Forecasting (timeseries outputs), as Ludwig's forecasting example lays the data out: one hourly
# observation per row, the input reads the last 48 rows (window_size), the output the next 6
# (horizon), both from the same column and under the same name, split by time (datetime). The
# series is generated here (a daily cycle, a slow drift and autocorrelated noise: no public series
# ships with the project). Kiln's predictions are scored by this script itself on the rows the
# datetime split puts in test (the latest 20 %), against two naive forecasts on the same rows;
# that score must match Kiln's own test_statistics. Then N-BEATS and PatchTST on the row-major
# layout (each row holds its history and its target series).
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 - "$WORK" <<'PY'
import math, random, sys, datetime
random.seed(7)
n, noise, rows = 3000, 0.0, []
start = datetime.datetime(2023, 1, 1)
for h in range(n):
    noise = 0.8 * noise + random.gauss(0, 0.4)
    v = 12 + 6 * math.sin(2 * math.pi * (h % 24) / 24) + 3 * math.sin(2 * math.pi * h / (24 * 40)) + noise
    rows.append(((start + datetime.timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S"), v))
with open(sys.argv[1] + "/hourly.csv", "w") as f:
    f.write("time,temperature\n")
    for t, v in rows:
        f.write(f"{t},{v:.3f}\n")
# Row-major: each row's last 48 observations and the 6 after it.
with open(sys.argv[1] + "/windows.csv", "w") as f:
    f.write("time,history,forecast\n")
    vals = [round(v, 3) for _, v in rows]
    for i in range(47, n - 6):
        f.write(rows[i][0] + "," + " ".join(map(str, vals[i - 47:i + 1])) + "," +
                " ".join(map(str, vals[i + 1:i + 7])) + "\n")
PY
cat > "$WORK/hourly.yaml" <<'YAML'
input_features:
  - name: temperature
    type: timeseries
    preprocessing: {window_size: 48}
    encoder: {type: dense, num_layers: 2, output_size: 64}
output_features:
  - name: temperature
    type: timeseries
    preprocessing: {horizon: 6}
preprocessing:
  split: {type: datetime, column: time}
trainer: {epochs: 30, learning_rate: 0.003, batch_size: 64}
YAML
"$KILN" experiment --config "$WORK/hourly.yaml" --dataset "$WORK/hourly.csv" --output_directory "$WORK/hourly" \
  --threads 2 -q > /dev/null 2>"$WORK/hourly.err" || fail "experiment: $(cat "$WORK/hourly.err")"
grep -q "input_features\[0\].name: 'temperature' is also an output feature's name; Kiln keys features by name, so this input is named 'temperature_input' (its column stays 'temperature')" "$WORK/hourly.err" \
  || fail "no rename warning: $(cat "$WORK/hourly.err")"
grep -q "output feature 'temperature' (column 'temperature'): 6 rows have fewer than horizon = 6 observations after them" "$WORK/hourly.err" \
  || fail "no warning for the last 6 rows: $(cat "$WORK/hourly.err")"
"$KILN" predict --model_path "$WORK/hourly/model" --dataset "$WORK/hourly.csv" --output_directory "$WORK/pred" -q > /dev/null \
  2>"$WORK/pred.err" || fail "predict: $(cat "$WORK/pred.err")"
head -1 "$WORK/pred/predictions.csv" | grep -qx "temperature_predictions" || fail "columns: $(head -1 "$WORK/pred/predictions.csv")"
[ "$(sed -n 2p "$WORK/pred/predictions.csv" | wc -w)" = 6 ] || fail "a prediction is not 6 values: $(sed -n 2p "$WORK/pred/predictions.csv")"
# Scored here: rows 0..2993 have 6 observations after them; the datetime split gives the latest
# 20 % of them to test (the file is in time order).
read -r mae naive seasonal < <(/usr/bin/python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
v = [float(l.split(",")[1]) for l in open(w + "/hourly.csv").read().split("\n")[1:] if l]
p = [list(map(float, l.split())) for l in open(w + "/pred/predictions.csv").read().split("\n")[1:] if l]
kept = len(v) - 6
test = range(int((0.7 + 0.1) * kept), kept)
def mae(f):
    return sum(abs(f(i, k) - v[i + 1 + k]) for i in test for k in range(6)) / (6 * len(test))
print(mae(lambda i, k: p[i][k]), mae(lambda i, k: v[i]), mae(lambda i, k: v[i + 1 + k - 24]))
PY
)
echo "test MAE: kiln $mae, last value $naive, same hour yesterday $seasonal"
reported=$(json "$WORK/hourly/test_statistics.json" '.temperature.mean_absolute_error')
awk -v a="$mae" -v b="$reported" 'BEGIN{exit !((a-b)^2 < 1e-8)}' || fail "test MAE scored here $mae, Kiln's test_statistics $reported"
at_most "$mae" "$(awk -v x="$naive" 'BEGIN{print 0.5 * x}')" "test MAE (half the last-value forecast's $naive)"
at_most "$mae" "$(awk -v x="$seasonal" 'BEGIN{print 0.9 * x}')" "test MAE (0.9 x the same-hour-yesterday forecast's $seasonal)"
for m in root_mean_squared_error mean_absolute_scaled_error symmetric_mean_absolute_percentage_error r2; do
  json "$WORK/hourly/test_statistics.json" ".temperature.$m" > /dev/null
done

# Ludwig's N-BEATS and PatchTST examples' layout: a history and a forecast series per row
# (window_size at feature level has no effect, as in Ludwig).
for enc in nbeats patchtst; do
  cat > "$WORK/$enc.yaml" <<YAML
input_features:
  - name: history
    type: timeseries
    window_size: 48
    encoder: {type: $enc, output_size: 64}
output_features:
  - name: forecast
    type: timeseries
preprocessing:
  split: {type: datetime, column: time}
trainer: {epochs: 15, learning_rate: 0.001, batch_size: 64}
YAML
  "$KILN" experiment --config "$WORK/$enc.yaml" --dataset "$WORK/windows.csv" --output_directory "$WORK/$enc" \
    --threads 2 -q > /dev/null 2>"$WORK/$enc.err" || fail "$enc: $(cat "$WORK/$enc.err")"
  grep -q "input_features\[0\].window_size: has no effect in Kiln" "$WORK/$enc.err" || fail "$enc: no warning"
  at_most "$(json "$WORK/$enc/test_statistics.json" '.forecast.mean_absolute_error')" \
    "$(awk -v x="$naive" 'BEGIN{print 0.5 * x}')" "$enc test MAE (half the last-value forecast's)"
done
