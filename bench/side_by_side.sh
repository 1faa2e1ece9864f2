#!/usr/bin/env bash
# Ingest side by side on this machine, in one command:
#
#   bash bench/side_by_side.sh                      # 100,000 series, 3 rounds of 30 s
#   bash bench/side_by_side.sh --series 20000 --rounds 2 --duration 10s
#
# Installs (Debian 12, as root, only what is missing) prometheus 2.42 and
# victoria-metrics 1.79, builds the adapter, kad_loadgen and kad_decode_only
# in Release, then for each round starts each receiver in turn on loopback
# with fresh storage (the starting receiver rotates from round to round),
# drives it with the same pre-encoded workload (kad_loadgen: one sample per
# TimeSeries entry, --batch entries per request, snappy), and measures the
# receiver's CPU-seconds (/proc/<pid>/stat utime+stime, from just before the
# load until its CPU use settles after it) and its RSS at the end
# (/proc/<pid>/status VmRSS). The receivers (bench/receivers.sh): decode-only
# (the limit: snappy and decode, then 204), victoria-metrics, prometheus and
# the adapter with every series modelled (combined, the default kind).
# Prints medians over the rounds and the adapter's ratio to each peer, then
# the remote-read latency of Prometheus and the adapter and their ratio (1
# series and 1,000 series over the first hour of the data) after the last
# round.
# Everything it starts it stops, by PID, when it exits.
set -euo pipefail

series=100000
rounds=3
duration=30s
connections=2
batch=2000
labels=6
max_rate=6e6  # samples/s the pre-encoded requests must last --duration for
max_ring_mib=5120
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$repo/build-bench"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  cat <<EOF
Flags: --series N ($series) --rounds N ($rounds) --duration D ($duration)
       --connections N ($connections) --batch N ($batch) --labels N ($labels)
       --max-rate R ($max_rate) --max-ring-mib N ($max_ring_mib) --build-dir DIR ($build_dir)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --labels) labels=$2; shift 2 ;;
    --max-rate) max_rate=$2; shift 2 ;;
    --max-ring-mib) max_ring_mib=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/kad-side-by-side.XXXXXX)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
# shellcheck source=bench/receivers.sh
source "$repo/bench/receivers.sh"
stop_receivers_at_exit
install_and_build_receivers

# CPU ticks (user + system) of a process; fields after the ")" of its name.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Waits until the receiver stops using CPU (work it deferred past its
# replies counts too), at most 10 s; prints its CPU ticks then.
settled_ticks() {
  local pid=$1 before after
  before=$(cpu_ticks "$pid")
  for _ in $(seq 20); do
    sleep 0.5
    after=$(cpu_ticks "$pid")
    [ $((after - before)) -le 2 ] && break
    before=$after
  done
  echo "$after"
}

# --- runs ---------------------------------------------------------------------
hz=$(getconf CLK_TCK)
start_ms=$(( ($(date +%s) - 7 * 24 * 3600) * 1000 ))
mkdir -p "$work/rings"
common=(--series="$series" --labels="$labels" --batch="$batch" --start-ms="$start_ms")
results="$work/results.tsv"
: > "$results"
: > "$work/reads.txt"
receivers=(decode-only victoria prometheus adapter)
reads=""

log "$series series, $labels labels, batch $batch, $connections connections, $duration x $rounds rounds"
for round in $(seq "$rounds"); do
  for k in 0 1 2 3; do
    name=${receivers[$(( (k + round - 1) % 4 ))]}
    dir="$work/$name-$round"
    port=$(free_port)
    start_receiver "$name" "$dir" "$port"
    t0=$(cpu_ticks "$pid")
    "$loadgen" --address="127.0.0.1:$port" --write-path="$path" "${common[@]}" \
      --connections="$connections" --duration="$duration" --max-rate="$max_rate" \
      --max-ring-mib="$max_ring_mib" --ring-cache="$work/rings" > "$dir/loadgen.out" || true
    t1=$(settled_ticks "$pid")
    rss=$(rss_kib "$pid")
    line=$(grep '^result mode=write' "$dir/loadgen.out" || true)
    if [ -z "$line" ]; then
      echo "the load generator failed against $name:" >&2
      cat "$dir/loadgen.out" >&2
      exit 1
    fi
    sed -n '2,3p;/first failure/p' "$dir/loadgen.out" | sed "s/^/[$name round $round] /" >&2
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$((t1 - t0))" "$rss" "$line" >> "$results"
    if [ "$round" = "$rounds" ] && { [ "$name" = prometheus ] || [ "$name" = adapter ]; }; then
      # The read queries cover the first hour (240 scrapes) of the 1,000 series
      # of one namespace: send those series the scrapes the timed run did not
      # reach, from the first it cut off part way. A sample per request, as
      # some of that scrape (and of the next, on the connection that was
      # ahead) is stored already: Prometheus refuses a whole request for one
      # sample behind its series' newest, so each of those is refused alone.
      next=$(sed -n 's/.*next_round=\([0-9]*\).*/\1/p' "$dir/loadgen.out")
      if [ "$next" -lt 240 ]; then
        "$loadgen" --address="127.0.0.1:$port" --write-path="$path" \
          --series=$((series < 1000 ? series : 1000)) --labels="$labels" --batch=1 \
          --start-ms="$start_ms" --first-round="$next" --rounds=$((240 - next)) \
          --connections=2 --duration=600s --max-rate=1e9 > "$dir/topup.out" || true
        grep -q '^result.* errors=0 ' "$dir/topup.out" ||
          { echo "topping up the read series failed against $name:" >&2; cat "$dir/topup.out" >&2; }
      fi
      forecast=()
      [ "$name" = adapter ] && forecast=(--forecast-name=bench_combined)
      for type in samples streamed; do
        "$loadgen" --mode=read --address="127.0.0.1:$port" "${common[@]}" "${forecast[@]}" \
          --read-type="$type" > "$dir/read-$type.out" || true
        reads+=$(grep -v '^result' "$dir/read-$type.out" | sed "s/^/$name /")
        reads+=$'\n'
        sed -n "s/^result mode=read /$name /p" "$dir/read-$type.out" >> "$work/reads.txt"
      done
    fi
    stop_receiver "$pid"
    rm -rf "$dir/data"
  done
done

# --- table --------------------------------------------------------------------
python3 - "$results" "$hz" "$series" <<'EOF'
import statistics, sys

path, hz, series = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {}
for row in open(path):
    name, _, ticks, rss_kib, line = row.rstrip("\n").split("\t")
    kv = dict(p.split("=", 1) for p in line.split()[1:])
    samples = int(kv["samples"])
    runs.setdefault(name, []).append({
        "rate": float(kv["samples_per_s"]),
        "cpu": int(ticks) / hz / samples * 1e6 if samples else float("nan"),
        "p99": float(kv["p99_ms"]),
        "rss": int(rss_kib) * 1024 / series,
        "bad": int(kv["non2xx"]) + int(kv["errors"]),
        "short": int(kv["exhausted"]),
    })
order = ["decode-only", "victoria", "prometheus", "adapter"]
med = {n: {k: statistics.median(r[k] for r in runs[n]) for k in ("rate", "cpu", "p99", "rss")}
       for n in order if n in runs}
print(f"\nmedians over {len(runs['adapter'])} rounds, {series} active series")
print(f"{'receiver':<12} {'samples/s':>12} {'CPU-s/M samples':>16} {'p99 ms':>8} "
      f"{'RSS B/series':>13} {'failed req':>10}")
for n in order:
    m = med[n]
    bad = sum(r["bad"] for r in runs[n])
    short = " (pre-encoded requests ran out)" if any(r["short"] for r in runs[n]) else ""
    print(f"{n:<12} {m['rate']:>12,.0f} {m['cpu']:>16.3f} {m['p99']:>8.2f} {m['rss']:>13,.0f} "
          f"{bad:>10}{short}")
a = med["adapter"]
print("\nadapter / peer   samples/s   CPU per sample   p99   RSS per series")
for n in order[:-1]:
    m = med[n]
    print(f"{n:<16} {a['rate'] / m['rate']:>9.2f}x {a['cpu'] / m['cpu']:>14.2f}x "
          f"{a['p99'] / m['p99']:>6.2f}x {a['rss'] / m['rss']:>9.2f}x")
EOF
echo
echo "remote read, after the last round (first hour of the data; 240 samples per series is a full hour):"
printf '%s' "$reads"
python3 - "$work/reads.txt" <<'EOF'
import sys

p50 = {}
for row in open(sys.argv[1]):
    name, *fields = row.split()
    kv = dict(f.split("=", 1) for f in fields)
    p50[(name, kv["query"], kv["type"])] = float(kv["p50_ms"])
print("adapter / prometheus, remote read p50:")
for query in ("1x1h", "1000x1h"):
    for kind in ("samples", "streamed"):
        a, p = p50.get(("adapter", query, kind)), p50.get(("prometheus", query, kind))
        if a and p:
            print(f"  {query:<8} {kind:<9} {a:8.2f} ms / {p:8.2f} ms = {a / p:.2f}x")
EOF
