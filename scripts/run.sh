#!/usr/bin/env bash
# Installs, builds and runs the service on :9201 with the example config,
# keeping its RocksDB in ./data. Extra arguments are passed to the service.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKAD_BUILD_TESTS=OFF -DKAD_BUILD_BENCHMARKS=OFF
cmake --build build -j2 --target k8s-anomaly-detector
exec ./build/adapter/k8s-anomaly-detector \
  --config.file=examples/environment.yaml \
  --activities.file=examples/activities.yaml \
  --activities.scripts-dir=examples/scripts \
  --storage.path=data "$@"
