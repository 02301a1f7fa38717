#!/usr/bin/env bash
# The embedding library as an application uses it: `cmake --install` of this build into a fresh
# prefix, examples/embed configured with find_package(Kiln) and built against it, then run on a
# trained penguins model: its predictions of every row equal `kiln predict`'s (rows scored one at
# a time from four threads are checked inside the example), and the library's errors carry the
# CLI's messages.
source "$(dirname "$0")/lib.sh"
BUILD="$(dirname "$KILN")"
ex="$SRC/examples/penguins"
out="$WORK/results"
"$KILN" train --config "$ex/config.yaml" --dataset "$ex/penguins.csv" --output_directory "$out" --threads 2 -q 2>"$WORK/train.log" \
  || fail "train: $(tail -3 "$WORK/train.log")"
"$KILN" predict --model_path "$out/model" --dataset "$ex/penguins.csv" -q

cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" || fail "install: $(tail -3 "$WORK/install.log")"
exists "$WORK/prefix/include/kiln/kiln.h" "$WORK/prefix/lib/cmake/Kiln/KilnConfig.cmake" "$WORK/prefix/bin/kiln"
ls "$WORK/prefix/lib/"libkiln.so* >/dev/null || fail "no libkiln.so installed"
# The example's own build sees only the installed package (no libtorch headers needed).
cmake -S "$SRC/examples/embed" -B "$WORK/embed" -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_CXX_COMPILER_LAUNCHER= \
  > "$WORK/configure.log" 2>&1 || fail "configure examples/embed: $(tail -5 "$WORK/configure.log")"
cmake --build "$WORK/embed" > "$WORK/build.log" 2>&1 || fail "build examples/embed: $(tail -10 "$WORK/build.log")"
echo "ok: examples/embed builds against the installed package"

"$WORK/embed/score" "$out/model" "$ex/penguins.csv" > "$WORK/embedded.csv" 2>"$WORK/score.log" \
  || fail "score: $(cat "$WORK/score.log")"
grep -q "^score: 344 rows, model outputs: species" "$WORK/score.log" || fail "score: $(cat "$WORK/score.log")"
/usr/bin/python3 - "$out/predictions.csv" "$WORK/embedded.csv" <<'PY' || fail "embedded predictions differ from kiln predict"
import csv, sys
want = list(csv.reader(open(sys.argv[1])))
got = list(csv.reader(open(sys.argv[2])))
assert want[0] == got[0], (want[0], got[0])
assert len(want) == len(got) == 345, (len(want), len(got))
for w, g in zip(want[1:], got[1:]):
    for a, b in zip(w, g):
        try:
            assert abs(float(a) - float(b)) <= 1e-6, (a, b)
        except ValueError:
            assert a == b, (a, b)
PY
echo "ok: the embedded model's 344 predictions equal kiln predict's"

# Errors: the CLI's messages, as typed exceptions (the example exits with their exit codes).
set +e
"$WORK/embed/score" "$WORK/nowhere" "$ex/penguins.csv" 2>"$WORK/err1"; rc1=$?
printf 'island,bill_length_mm\nDream,40\n' > "$WORK/partial.csv"
"$WORK/embed/score" "$out/model" "$WORK/partial.csv" 2>"$WORK/err2"; rc2=$?
set -e
[ $rc1 = 4 ] || fail "missing model: exit $rc1, expected 4 (ModelError): $(cat "$WORK/err1")"
grep -q "^error: .*nowhere" "$WORK/err1" || fail "missing model message: $(cat "$WORK/err1")"
[ $rc2 = 3 ] || fail "missing column: exit $rc2, expected 3 (DataError): $(cat "$WORK/err2")"
grep -q "^error: csv: .*bill_depth_mm" "$WORK/err2" || fail "missing column message: $(cat "$WORK/err2")"
echo "ok: errors are kiln's typed exceptions with the CLI's messages: $(head -1 "$WORK/err2")"
