#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for [seconds] (default 60) on its seed corpus
# (tests/fuzz/corpus/<target>/, from tests/ and examples/). Builds build-sanitize/ (clang,
# AddressSanitizer + UndefinedBehaviorSanitizer + libFuzzer coverage) when needed. New inputs
# that reach new code go to build-sanitize/fuzz/corpus/<target>/, never into the source tree; a
# crash is saved as build-sanitize/fuzz/crash-<target>-* and fails the script.
#   scripts/fuzz.sh [seconds] [target ...]     targets: csv jsonl config slice_expression hyperopt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv jsonl config slice_expression hyperopt)
"$root/scripts/build_sanitize.sh" >/dev/null
out="$root/build-sanitize/fuzz"
source "$root/scripts/sanitizer_env.sh"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t"
  log="$out/$t.log"
  # -rss_limit_mb: the YAML and config targets hold libtorch's registries; 4 GiB leaves room for
  # ASan's shadow while still catching runaway allocations. -timeout: one input taking longer than
  # 10 s is a finding (a hang).
  if "$out/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$out/crash-$t-" "$out/corpus/$t" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $t: ${seconds} s, $runs executions, no findings"
  else
    echo "fuzz $t: FINDING (see $log):" >&2
    grep -m5 -E 'ERROR|FINDING|runtime error|==ERROR|Test unit written' "$log" >&2 || tail -20 "$log" >&2
    status=1
  fi
done
exit $status
