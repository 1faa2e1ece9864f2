#!/usr/bin/env bash
# A long load with series churn against the adapter, to show its memory
# levels off (not part of CI):
#
#   bash bench/soak.sh                                  # 30 min, 50,000 active series
#   bash bench/soak.sh --duration 5m --series 20000
#
# Builds the adapter, kad_loadgen and kad_soak in Release, starts the adapter
# on loopback with fresh storage, every series modelled (the default kind)
# and series_ttl 5m, and measures its maximum ingest rate for this workload
# (kad_loadgen, --probe at full speed, pre-encoded). Then, on fresh storage
# again, kad_soak sends half that rate for --duration while --churn of the
# active series are replaced every --churn-interval (pods being replaced),
# printing the adapter's RSS every minute. At the end it prints RSS at
# start, middle and end, samples acknowledged, samples modelled, series
# expired and errors. Everything it starts it stops, by PID.
set -euo pipefail

series=50000
duration=30m
probe=20s
churn=0.02
churn_interval=1m
connections=2
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$repo/build-bench"

while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --probe) probe=$2; shift 2 ;;
    --churn) churn=$2; shift 2 ;;
    --churn-interval) churn_interval=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/kad-soak.XXXXXX)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
stop_adapter_at_exit

if [ "$(id -u)" = 0 ]; then bash "$repo/scripts/install-deps.sh"; fi
build_release k8s-anomaly-detector kad_loadgen kad_soak

cat > "$work/environment.yaml" <<'YAML'
version: "v1alpha"
prometheus_metric_list:
  - metric_query: '{__name__=~".+"}'   # every series the load generator sends
    predicted_metric_name: "soak"
series_ttl: 5m                          # churned-away series leave memory and storage
YAML

port=$(free_port)
# Its own metrics only, as the chart scrapes them: the forecast gauges of every series,
# rendered each minute, would add to the RSS this measures.
scrape() { curl -s "http://127.0.0.1:$port/metrics?forecast_gauges=false"; }
metric() { scrape | awk -v m="$1" '$1 == m { print $2 }'; }

log "probing the maximum ingest rate ($series series, $probe)"
mkdir -p "$work/probe"
start_adapter "$work/probe/data" "$work/probe/log" --log.level=warn
"$build_dir/bench/loadgen/kad_loadgen" --address="127.0.0.1:$port" --series="$series" \
  --connections="$connections" --duration="$probe" > "$work/probe.out"
stop_adapter
max_rate=$(awk '/^result / { for (i = 2; i <= NF; ++i) if ($i ~ /^samples_per_s=/) { sub(/.*=/, "", $i); print $i } }' "$work/probe.out")
[ -n "$max_rate" ] || { cat "$work/probe.out" >&2; exit 1; }
rate=$(python3 -c "print(int(float('$max_rate') / 2))")
log "maximum $max_rate samples/s; soaking at $rate samples/s for $duration"

mkdir -p "$work/soak"
start_adapter "$work/soak/data" "$work/soak/log" --log.level=warn
status=0
"$build_dir/bench/loadgen/kad_soak" --address="127.0.0.1:$port" --server-pid="$adapter_pid" \
  --series="$series" --rate="$rate" --churn="$churn" --churn-interval="$churn_interval" \
  --connections="$connections" --duration="$duration" || status=$?
echo "adapter max_rate_samples_per_s=$max_rate soak_rate=$rate" \
  "samples_modelled=$(metric kad_samples_modelled_total)" \
  "series_expired=$(metric kad_series_expired_total)" \
  "active_series=$(metric kad_active_series)" \
  "write_503=$(scrape | awk '/^kad_http_request_duration_seconds_count\{/ && /handler="write"/ && /code="503"/ { s += $2 } END { print s + 0 }')"
stop_adapter
exit "$status"
