#!/usr/bin/env bash
# How long the adapter takes to be ready again with many series in storage,
# in one command:
#
#   bash bench/restart.sh                          # 1,000,000 series, 60 scrapes each
#   bash bench/restart.sh --series 100000 --rounds 10 --restarts 5
#
# 60 scrapes fill the storage as a running adapter's is: every series has
# sealed blocks, and the log of open ones is at its cap. After 5, no block
# is sealed yet and a restart has less to read.
#
# Builds the adapter and kad_loadgen in Release, starts the adapter on
# loopback with every series modelled (combined, the default kind) and fresh
# storage, remote-writes --rounds scrapes of --series series (kad_loadgen),
# waits for a checkpoint that starts after the load to finish (the adapter's
# kad_checkpoint_last_complete_timestamp_seconds; at most --settle seconds),
# writes --unsaved scrapes more (a crash comes between checkpoints: 4 is a
# minute of 15 s scrapes, the default --storage.checkpoint-interval), then
#   1. kills it with SIGKILL and starts it again, --restarts times (the
#      same storage each time: nothing is written in between): the crash
#      restarts, each replaying the --unsaved scrapes of every series;
#   2. stops it with SIGTERM (timed: Kubernetes kills after the pod's grace
#      period, 60 s in the chart) and starts it again: the clean restart;
# and prints, for each, the time from the new process' start to /-/ready
# answering 200, split into opening storage (until the "starting" log line),
# loading the series (until "loaded stored state") and the rest, and the
# points replayed (written after the series' checkpoints), then the
# median and the longest of the crash restarts, plus the RSS per series
# before the first kill. One restart says little on a shared machine: the
# time varies from one start to the next by a third or more. Everything it
# starts it stops, by PID, when it exits.
set -euo pipefail

series=1000000
rounds=60
settle=300
restarts=3
unsaved=4
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$repo/build-bench"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  echo "Flags: --series N ($series) --rounds N ($rounds) --settle S ($settle)" \
    "--unsaved N ($unsaved) --restarts N ($restarts) --build-dir DIR ($build_dir)"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --unsaved) unsaved=$2; shift 2 ;;
    --restarts) restarts=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/kad-restart.XXXXXX)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
stop_adapter_at_exit

[ "$(id -u)" = 0 ] && bash "$repo/scripts/install-deps.sh"
build_release k8s-anomaly-detector kad_loadgen

cat > "$work/environment.yaml" <<'EOF'
version: "v1alpha"
prometheus_metric_list:
  - metric_query: '{__name__=~".+"}'   # every series the load generator sends
    predicted_metric_name: "bench"
EOF
port=$(free_port)

# timed_start NAME: starts the adapter on the same folder and prints
# "NAME ready_s open_s load_s rest_s replayed peak_mb", from its start, its
# log lines (replayed: the points written after the series' checkpoints) and
# its peak RSS until ready (VmHWM).
timed_start() {
  local name=$1 t0 t1 peak_kib
  t0=$(date +%s%3N)
  start_adapter "$work/data" "$work/$name.log"
  t1=$(date +%s%3N)
  peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$adapter_pid/status")
  python3 - "$name" "$t0" "$t1" "$work/$name.log" "$peak_kib" <<'EOF'
import datetime, re, sys
name, t0, t1, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
peak_mb = int(sys.argv[5]) * 1024 // 10**6
at = {}
replayed = "?"
for line in open(path):
    m = re.search(r'ts=(\S+).*msg="?(starting k8s-anomaly-detector|loaded stored state)', line)
    if m:
        ts = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() * 1000
        at.setdefault(m.group(2), ts)
    m = re.search(r'replayed_points=(\d+)', line)
    if m:
        replayed = m.group(1)
opened = at.get("starting k8s-anomaly-detector", t0)
loaded = at.get("loaded stored state", opened)
print(f"{name:<8} {(t1 - t0) / 1e3:>8.1f} {(opened - t0) / 1e3:>10.1f} "
      f"{(loaded - opened) / 1e3:>9.1f} {(t1 - loaded) / 1e3:>7.1f} {replayed:>9} {peak_mb:>8}")
EOF
}

start_adapter "$work/data" "$work/first.log"
log "writing $rounds scrapes of $series series"
"$build_dir/bench/loadgen/kad_loadgen" --address="127.0.0.1:$port" --series="$series" \
  --rounds="$rounds" --connections=2 --duration=600s --max-rate=1e9 > "$work/loadgen.out"
grep '^result' "$work/loadgen.out" >&2
grep -q '^result.* non2xx=0 errors=0 ' "$work/loadgen.out" ||
  { echo "the load was not all acknowledged" >&2; exit 1; }
log "waiting for a checkpoint after the load (at most ${settle}s)"
# In whole seconds: a checkpoint counts if it started in a later second.
loaded_at=$(date +%s)
checkpointed_at=0
for _ in $(seq "$settle"); do
  sleep 1
  checkpointed_at=$(curl -s "http://127.0.0.1:$port/metrics?forecast_gauges=false" |
    awk '$1 == "kad_checkpoint_last_complete_timestamp_seconds" { print int($2) }')
  [ "${checkpointed_at:-0}" -gt "$loaded_at" ] && break
done
[ "${checkpointed_at:-0}" -gt "$loaded_at" ] ||
  { echo "no checkpoint after the load finished within ${settle}s" >&2; exit 1; }
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$adapter_pid/status")
active=$(curl -s "http://127.0.0.1:$port/metrics?forecast_gauges=false" |
  awk '$1 == "kad_active_series" { print $2 }')

if [ "$unsaved" -gt 0 ]; then
  log "writing $unsaved scrapes more, not checkpointed when it is killed"
  "$build_dir/bench/loadgen/kad_loadgen" --address="127.0.0.1:$port" --series="$series" \
    --first-round="$rounds" --rounds="$unsaved" --connections=2 --duration=600s \
    --max-rate=1e9 > "$work/unsaved.out"
  grep -q '^result.* non2xx=0 errors=0 ' "$work/unsaved.out" ||
    { echo "the scrapes after the checkpoints were not all acknowledged" >&2; exit 1; }
fi

echo "series in storage: ${active:-?}, RSS before the kill: $((rss_kib * 1024 / series)) B/series"
printf '%-8s %8s %10s %9s %7s %9s %8s\n' restart ready_s open_s load_s rest_s replayed peak_mb
for i in $(seq "$restarts"); do
  kill -KILL "$adapter_pid"
  wait "$adapter_pid" 2>/dev/null || true
  # Not through a pipe: timed_start sets adapter_pid in this shell.
  timed_start "crash-$i" > "$work/crash-$i.line"
  cat "$work/crash-$i.line"
done
stop_started=$(date +%s%3N)
stop_adapter
awk -v ms=$(($(date +%s%3N) - stop_started)) 'BEGIN { printf "SIGTERM to exit: %.1f s\n", ms / 1e3 }'
timed_start clean
sort -n -k2 "$work"/crash-*.line | awk '{ t[NR] = $2 } END {
  m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "after kill -9, %d restarts: median %.1f s, longest %.1f s\n", NR, m, t[NR] }'
