# Functions the bench scripts share; sourced after they set $repo,
# $build_dir and $work (a scratch folder the script removes at exit).

log() { printf '== %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# build_release TARGET...: builds them in Release into $build_dir, or shows
# the end of the build log and exits.
build_release() {
  log "building (Release) in $build_dir"
  if ! { cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DKAD_BUILD_TESTS=OFF &&
         cmake --build "$build_dir" -j"$(nproc)" --target "$@"; } > "$work/build.log" 2>&1; then
    tail -30 "$work/build.log" >&2
    exit 1
  fi
}

# ready_status PORT: the HTTP status of GET /-/ready on 127.0.0.1:PORT, or
# nothing if it does not answer. Bash's own /dev/tcp, not curl: a curl
# process every poll took a tenth of a core from the restart it timed.
ready_status() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf 'GET /-/ready HTTP/1.0\r\n\r\n' >&3
  read -r -t 5 line <&3 || true
  exec 3<&-
  line=${line#* }
  echo "${line%% *}"
}

# wait_ready PID PORT LOG: polls /-/ready on PORT until it answers 200 (at
# most 300 s); exits showing LOG if PID ends first or it never does.
wait_ready() {
  local pid=$1 port=$2 log_file=$3
  for _ in $(seq 6000); do
    [ "$(ready_status "$port")" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "not ready on port $port; its log:" >&2
  cat "$log_file" >&2
  exit 1
}

# For the scripts that run one adapter on $port with $work/environment.yaml:
# start_adapter DATA_DIR LOG_FILE [FLAG...] starts it and waits until it is
# ready, setting $adapter_pid; stop_adapter sends SIGTERM and waits.
adapter_pid=""
start_adapter() {
  local data=$1 log_file=$2
  shift 2
  "$build_dir/adapter/k8s-anomaly-detector" --config.file="$work/environment.yaml" \
    --storage.path="$data" --web.listen-address="127.0.0.1:$port" "$@" > "$log_file" 2>&1 &
  adapter_pid=$!
  wait_ready "$adapter_pid" "$port" "$log_file"
}

stop_adapter() {
  if [ -n "$adapter_pid" ]; then
    kill -TERM "$adapter_pid" 2>/dev/null || true
    wait "$adapter_pid" 2>/dev/null || true
  fi
  adapter_pid=""
}

# Stops the adapter and removes $work when the script ends, however it ends.
stop_adapter_at_exit() {
  trap 'stop_adapter; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
}
