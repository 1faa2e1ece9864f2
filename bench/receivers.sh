# The receivers the side-by-side scripts compare, started and stopped by
# PID; sourced after lib.sh, once $repo, $build_dir and $work are set.
#   decode-only  kad_decode_only: snappy + zero-copy decode, answers 204 (the limit)
#   victoria     victoria-metrics, POST /api/v1/write
#   prometheus   prometheus --web.enable-remote-write-receiver
#   adapter      k8s-anomaly-detector, every series modelled (combined, the default kind)

receiver_pids=()
made_policy_rc=0

# Stops every receiver still running and removes $work when the script
# ends, however it ends.
stop_receivers_at_exit() {
  trap 'stop_all_receivers; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
}

stop_all_receivers() {
  local pid
  for pid in "${receiver_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${receiver_pids[@]}"; do
    wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  done
  receiver_pids=()
  if [ "$made_policy_rc" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# install_and_build_receivers: as root, installs (Debian 12, only what is
# missing) prometheus 2.42 and victoria-metrics 1.79 without starting their
# system services; builds the adapter and the bench tools in Release; writes
# the receivers' configs into $work.
install_and_build_receivers() {
  if [ "$(id -u)" = 0 ]; then
    bash "$repo/scripts/install-deps.sh"
    if ! command -v victoria-metrics >/dev/null; then
      log "installing victoria-metrics (no system service is started)"
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy_rc=1
      fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends victoria-metrics
    fi
  fi
  local tool
  for tool in prometheus victoria-metrics cmake python3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run as root to install it" >&2; exit 1; }
  done
  build_release k8s-anomaly-detector kad_loadgen kad_decode_only
  loadgen="$build_dir/bench/loadgen/kad_loadgen"
  cat > "$work/prometheus.yml" <<'EOF'
global: {}
EOF
  cat > "$work/environment.yaml" <<'EOF'
version: "v1alpha"
prometheus_metric_list:
  - metric_query: '{__name__=~".+"}'   # every series the load generator sends
    predicted_metric_name: "bench"      # forecasts: bench_combined{...}
EOF
}

# start_receiver NAME DIR PORT: starts it in the background on the storage
# in DIR/data (kept if there), logging to DIR/log, and waits until it is
# ready; sets $pid, $path (its remote-write path) and $ready_s (seconds from
# start to ready).
start_receiver() {
  local name=$1 dir=$2 port=$3 ready_url started
  mkdir -p "$dir"
  path=/api/v1/write
  started=$(date +%s.%N)
  case "$name" in
    decode-only)
      "$build_dir/bench/loadgen/kad_decode_only" --listen-address="127.0.0.1:$port" \
        2>"$dir/log" &
      ready_url="http://127.0.0.1:$port/" ;;  # any answer (404) means it serves
    victoria)
      victoria-metrics -httpListenAddr="127.0.0.1:$port" -storageDataPath="$dir/data" \
        -loggerLevel=WARN >"$dir/log" 2>&1 &
      ready_url="http://127.0.0.1:$port/health" ;;
    prometheus)
      prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
        --log.level=warn >"$dir/log" 2>&1 &
      ready_url="http://127.0.0.1:$port/-/ready" ;;
    adapter)
      "$build_dir/adapter/k8s-anomaly-detector" --config.file="$work/environment.yaml" \
        --storage.path="$dir/data" --web.listen-address="127.0.0.1:$port" --log.level=warn \
        >"$dir/log" 2>&1 &
      ready_url="http://127.0.0.1:$port/-/ready" ;;
  esac
  pid=$!
  disown "$pid"  # no "Killed" line from bash when a test kills it
  receiver_pids+=("$pid")
  local code
  for _ in $(seq 3000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$ready_url" || true)
    if [ "$code" = 200 ] || { [ "$name" = decode-only ] && [ "$code" != 000 ]; }; then
      ready_s=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" \
        "$started" "$(date +%s.%N)")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not become ready; its log:" >&2
  cat "$dir/log" >&2
  exit 1
}

# wait_gone PID: waits until PID has ended (bash reaps it), at most 30 s.
wait_gone() {
  for _ in $(seq 300); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# stop_receiver PID [SIGNAL]: sends SIGNAL (TERM) and waits for it to end
# (after 30 s, SIGKILL).
stop_receiver() {
  local pid=$1 signal=${2:-TERM}
  kill "-$signal" "$pid" 2>/dev/null || true
  if ! wait_gone "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" || true
  fi
  local keep=() p
  for p in "${receiver_pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  receiver_pids=("${keep[@]}")
}
