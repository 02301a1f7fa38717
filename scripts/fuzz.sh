#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz on its seed corpus (tests/fuzz/corpus/<target>/, from
# tests/ and examples/). Builds build-sanitize/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer
# + libFuzzer coverage) when needed. A crash is saved as build-sanitize/fuzz/crash-<target>-* and
# fails the script.
#   scripts/fuzz.sh [seconds] [target ...]   explore: each target for [seconds] (default 60), new
#                                            inputs kept in build-sanitize/fuzz/corpus/<target>/
#   scripts/fuzz.sh --fixed [target ...]     the test command's run: a fixed seed and a fixed number
#                                            of executions per target from the seed corpus alone,
#                                            so every machine does the same work from the same
#                                            mutations (about 60 s per target here; coverage
#                                            feedback still varies a little from run to run)
# targets: csv jsonl config slice_expression hyperopt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fixed=0
seconds=60
if [ "${1:-}" = "--fixed" ]; then
  fixed=1
  shift
elif [ $# -gt 0 ]; then
  seconds="$1"
  shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv jsonl config slice_expression hyperopt)
# Executions per target in --fixed mode, about 60 s each on a 2-core Xeon (Sapphire Rapids).
declare -A fixed_runs=([csv]=500000 [jsonl]=480000 [config]=50000 [slice_expression]=450000 [hyperopt]=180000)
"$root/scripts/build_sanitize.sh" >/dev/null
out="$root/build-sanitize/fuzz"
source "$root/scripts/sanitizer_env.sh"
status=0
for t in "${targets[@]}"; do
  log="$out/$t.log"
  if [ $fixed = 1 ]; then
    # A fresh, empty corpus directory first: libFuzzer writes what it finds there, and inputs kept
    # from earlier explorations must not change what this run executes.
    corpus="$(mktemp -d "$out/fixed-$t.XXXXXX")"
    budget=(-seed=1 -runs="${fixed_runs[$t]}")
    what="${fixed_runs[$t]} executions (seed 1)"
  else
    corpus="$out/corpus/$t"
    mkdir -p "$corpus"
    budget=(-max_total_time="$seconds")
    what="${seconds} s"
  fi
  # -rss_limit_mb: the YAML and config targets hold libtorch's registries; 4 GiB leaves room for
  # ASan's shadow while still catching runaway allocations. -timeout: one input taking longer than
  # 10 s is a finding (a hang).
  if "$out/fuzz_$t" "${budget[@]}" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$out/crash-$t-" "$corpus" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    [ $fixed = 1 ] || what="$what, $runs executions"
    echo "fuzz $t: $what, no findings"
  else
    echo "fuzz $t: FINDING (see $log):" >&2
    grep -m5 -E 'ERROR|FINDING|runtime error|==ERROR|Test unit written' "$log" >&2 || tail -20 "$log" >&2
    status=1
  fi
  [ $fixed = 0 ] || rm -rf "$corpus"
done
exit $status
