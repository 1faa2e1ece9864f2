#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset, clang, build-fuzz/) and runs
# each on its seed corpus for the given seconds, printing how many inputs it
# executed. Not CI: CI runs each target for a few seconds through ctest
# (label fuzz). A crash stops that target; its input is kept under
# build-fuzz/tests/fuzz/artifacts/ and the script exits non-zero at the end.
#
#   bash bench/fuzz.sh        # 60 s per target
#   bash bench/fuzz.sh 600    # 10 minutes per target
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cmake --preset fuzz > /dev/null || exit 1
cmake --build --preset fuzz -j2 || exit 1

dir=build-fuzz/tests/fuzz
failed=0
printf '%-22s %12s %10s %s\n' target executions exec/s result
for fuzzer in "$dir"/*_fuzzer; do
  name="$(basename "$fuzzer" _fuzzer)"
  log="$dir/$name.log"
  mkdir -p "$dir/corpus/$name" "$dir/artifacts"
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$name-" \
    "$dir/corpus/$name" "tests/fuzz/corpus/$name" > "$log" 2>&1
  rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  per_second="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="CRASH (exit $rc), see $log"
    failed=1
  fi
  printf '%-22s %12s %10s %s\n' "$name" "${runs:-?}" "${per_second:-?}" "$result"
done
exit "$failed"
