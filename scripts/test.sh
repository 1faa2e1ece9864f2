#!/usr/bin/env bash
# Installs, builds everything (tests and benchmarks) and runs the test suite:
# unit tests, and the integration tests that start the real adapter and
# Debian's prometheus on loopback ports. Benchmarks are built, not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-helm.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-test -j2
ctest --test-dir build-test --label-exclude Benchmark --output-on-failure -j2
