#!/usr/bin/env bash
# Installs, builds everything (tests and benchmarks) and runs the test suite:
# unit tests, and the integration tests that start the real adapter and
# Debian's prometheus on loopback ports, then the suite again under ASan+UBSan
# and every fuzz target for a few seconds. Benchmarks are built, not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-helm.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-test -j2
ctest --test-dir build-test --label-exclude Benchmark --output-on-failure -j2
# Each microbenchmark runs for a moment: proof it still works, no timing.
ctest --test-dir build-test --label-regex Benchmark --output-on-failure
# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
cmake --preset asan
cmake --build --preset asan -j2
ctest --preset asan -j2
# Each libFuzzer target replays its corpus (every past crash), then fuzzes 10 s.
cmake --preset fuzz
cmake --build --preset fuzz -j2
ctest --preset fuzz -j2
