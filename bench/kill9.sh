#!/usr/bin/env bash
# What each receiver keeps of the samples it acknowledged when it is killed
# (SIGKILL) right after the last one, side by side, in one command:
#
#   bash bench/kill9.sh                          # 20,000 series x 500 scrapes, 3 rounds
#   bash bench/kill9.sh --series 5000 --scrapes 40 --rounds 1
#   bash bench/kill9.sh --signal TERM            # the control: a clean stop keeps all
#
# Installs and builds as side_by_side.sh does. Then for each round, for
# victoria-metrics, prometheus and the adapter in turn (the first rotates
# from round to round), on loopback with fresh storage: kad_loadgen
# remote-writes --scrapes scrapes of --series series, pre-encoded, as fast
# as the receiver takes them; the receiver gets --signal (SIGKILL) as soon
# as the last request is acknowledged, is started again on the same storage,
# and the samples it then holds for those scrapes are counted: by remote read
# (prometheus; the adapter's forecasts, one point per sample written) or
# /api/v1/export (victoria-metrics has no remote read).
# Prints, per receiver, the samples acknowledged and lost (medians over the
# rounds), how long the write took, and how long the restart took to be
# ready. Everything it starts it stops, by PID, when it exits.
set -euo pipefail

series=20000
scrapes=500
rounds=3
signal=KILL
batch=2000
labels=6
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$repo/build-bench"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  cat <<EOF
Flags: --series N ($series) --scrapes N ($scrapes) --rounds N ($rounds)
       --signal NAME ($signal) --batch N ($batch) --labels N ($labels) --build-dir DIR ($build_dir)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --scrapes) scrapes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --signal) signal=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --labels) labels=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/kad-kill9.XXXXXX)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
# shellcheck source=bench/receivers.sh
source "$repo/bench/receivers.sh"
stop_receivers_at_exit
install_and_build_receivers

interval_ms=15000
start_ms=$(( ($(date +%s) - 7 * 24 * 3600) * 1000 ))
end_ms=$(( start_ms + scrapes * interval_ms - 1 ))
workload=(--series="$series" --labels="$labels" --batch="$batch" --start-ms="$start_ms"
          --rounds="$scrapes" --scrape-interval="${interval_ms}ms")

# count NAME PORT: the samples the receiver holds over the written scrapes.
count() {
  local name=$1 port=$2
  case "$name" in
    victoria)
      curl -sf "http://127.0.0.1:$port/api/v1/export" --data-urlencode 'match[]={__name__=~".+"}' \
        -d start="$((start_ms / 1000))" -d end="$(((end_ms + 999) / 1000))" |
        python3 -c 'import json, sys; print(sum(len(json.loads(l)["timestamps"]) for l in sys.stdin if l.strip()))' ;;
    prometheus | adapter)
      local forecast=()
      [ "$name" = adapter ] && forecast=(--forecast-name=bench_combined)
      "$loadgen" --mode=count --address="127.0.0.1:$port" "${workload[@]}" "${forecast[@]}" |
        sed -n 's/^result mode=count .*samples=\([0-9]*\).*/\1/p' ;;
  esac
}

results="$work/results.tsv"
: > "$results"
receivers=(victoria prometheus adapter)
log "$series series x $scrapes scrapes, $labels labels, batch $batch, $rounds rounds"
for round in $(seq "$rounds"); do
  for k in 0 1 2; do
    name=${receivers[$(( (k + round - 1) % 3 ))]}
    dir="$work/$name-$round"
    port=$(free_port)
    start_receiver "$name" "$dir" "$port"
    "$loadgen" --address="127.0.0.1:$port" --write-path="$path" "${workload[@]}" \
      --connections=2 --duration=600s --max-rate=1e9 > "$dir/loadgen.out" || true
    stop_receiver "$pid" "$signal"
    line=$(grep '^result mode=write' "$dir/loadgen.out" || true)
    if [ -z "$line" ]; then
      echo "the load generator failed against $name:" >&2
      cat "$dir/loadgen.out" >&2
      exit 1
    fi
    start_receiver "$name" "$dir" "$port"
    kept=$(count "$name" "$port" || true)
    if [ -z "$kept" ]; then
      echo "counting what $name kept failed; its log:" >&2
      cat "$dir/log" >&2
      exit 1
    fi
    stop_receiver "$pid"
    acked=$(sed -n 's/.* samples=\([0-9]*\).*/\1/p' <<< "$line")
    elapsed=$(sed -n 's/.* elapsed_s=\([0-9.]*\).*/\1/p' <<< "$line")
    log "[$name round $round] acknowledged $acked in $elapsed s, kept $kept after SIG$signal; ready again in $ready_s s"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$acked" "$kept" "$elapsed" "$ready_s" >> "$results"
    rm -rf "$dir/data"
  done
done

python3 - "$results" "$series" "$scrapes" "$signal" <<'EOF'
import statistics, sys

path, series, scrapes, signal = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = {}
for row in open(path):
    name, acked, kept, elapsed, ready = row.split()
    runs.setdefault(name, []).append((int(acked), int(kept), float(elapsed), float(ready)))
print(f"\nSIG{signal} right after the last acknowledged write, medians over "
      f"{len(runs['adapter'])} rounds ({series} series x {scrapes} scrapes)")
print(f"{'receiver':<12} {'acknowledged':>13} {'lost':>10} {'lost %':>8} {'write s':>8} "
      f"{'lost, s of writes':>18} {'ready again s':>14}")
for name in ("victoria", "prometheus", "adapter"):
    r = runs[name]
    acked = statistics.median(a for a, _, _, _ in r)
    lost = statistics.median(max(a - k, 0) for a, k, _, _ in r)
    elapsed = statistics.median(e for _, _, e, _ in r)
    ready = statistics.median(x for _, _, _, x in r)
    rate = acked / elapsed if elapsed else float("nan")
    print(f"{name:<12} {acked:>13,.0f} {lost:>10,.0f} {100 * lost / acked:>7.1f}% {elapsed:>8.2f} "
          f"{lost / rate:>18.2f} {ready:>14.2f}")
    extra = [k - a for a, k, _, _ in r if k > a]
    if extra:
        print(f"  ({name} held more samples than it acknowledged in {len(extra)} rounds)")
EOF
