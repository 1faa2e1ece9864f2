#!/usr/bin/env python3
"""End-to-end test: a real Prometheus (Debian's 2.42) against the adapter.

Prometheus scrapes a deterministic target every second, remote-writes every
sample to the adapter and remote-reads from it with read_recent: true. The test
then asks Prometheus' HTTP API the questions Grafana asks (query_range with an
end in the future, instant query, series) and checks that the forecast series
come back with the contract's labels, sane values and points after now.

Usage: prometheus_e2e_test.py --adapter BIN --prometheus BIN
Standard library only. Everything listens on 127.0.0.1; every process started
here is stopped by PID, also on failure.
"""

import http.server
import math
import sys
import time
import types

from prom_harness import (CheckFailed, api_get, http_request, metric_value, run_test,
                          scrape_value)

METRIC = "kad_e2e_load"
FORECAST = "predicted_e2e_load_holt_winters"
VALUE_TYPES = ("yhat", "yhat_lower", "yhat_upper", "anomaly", "anomaly_score")
BAND_TYPES = ("yhat", "yhat_lower", "yhat_upper")
PODS = ("p1", "p2")

# Prometheus needs a few scrapes and a remote-write batch before forecasts
# exist; this bounds the whole wait, not each step.
WAIT_SECONDS = 120
# Samples the adapter must have modelled (both pods, one per second each)
# before the range queries, so that stored past points exist next to the
# read-time future ones: about 20 s of scraping.
MIN_MODELLED = 40

ADAPTER_CONFIG = """\
version: "v1alpha"
prometheus_metric_list:
  - metric_query: "kad_e2e_load{job='target'}"
    predicted_metric_name: "predicted_e2e_load"
    models:
      - kind: holt_winters
        args: {season: 1d, band_sigmas: 3}
retrain_scheduling_seconds: "480"
forecast_horizon: 1h
"""

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    cluster: e2e
scrape_configs:
  - job_name: target
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
remote_write:
  - url: {adapter}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 1s
remote_read:
  - url: {adapter}/api/v1/read
    read_recent: true
"""


def load_at(pod, t):
    """The target's value for a pod at wall-clock second t (deterministic)."""
    base = 100.0 if pod == "p1" else 200.0
    return base + 10.0 * math.sin(2.0 * math.pi * t / 600.0)


class TargetHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        t = int(time.time())
        body = "".join(
            f'{METRIC}{{pod="{pod}"}} {load_at(pod, t)!r}\n' for pod in PODS)
        body += "kad_e2e_other 1\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # Keep the test output readable.
        pass


def query_range(env, value_type, now):
    return api_get(env.prometheus, "/api/v1/query_range", {
        "query": f'{FORECAST}{{value_type="{value_type}"}}',
        "start": f"{now - 300:.3f}",
        "end": f"{now + 3600:.3f}",
        "step": "15",
    })


def wait_for_future_points(env, deadline):
    """Polls Grafana's question until a forecast point lies past now+600s."""
    def probe():
        now = time.time()
        result = query_range(env, "yhat", now)["data"]["result"]
        if not any(float(ts) > now + 600 for s in result for ts, _ in s["values"]):
            raise CheckFailed(f"{len(result)} series, none with a point after now+600s")
        return f"query_range yhat has points after now+600s ({len(result)} series)"

    return env.h.wait_until("yhat point after now+600s from Prometheus query_range",
                            probe, deadline)


def wait_for_modelled(env, deadline):
    """Waits until the adapter has modelled MIN_MODELLED samples."""
    def probe():
        modelled = scrape_value(env.adapter, "kad_samples_modelled_total")
        if modelled is None or modelled < MIN_MODELLED:
            raise CheckFailed(f"adapter modelled {modelled} samples")
        return f"adapter modelled {modelled:.0f} samples"

    return env.h.wait_until(f"{MIN_MODELLED} samples modelled (is remote write arriving?)",
                            probe, deadline)


def points_by_pod(doc, value_type):
    """Checks labels of a query_range result; returns {pod: {ts: value}}."""
    result = doc["data"]["result"]
    if len(result) != len(PODS):
        raise CheckFailed(f"{value_type}: want {len(PODS)} series, got "
                          f"{[s['metric'] for s in result]}")
    out = {}
    for series in result:
        labels = series["metric"]
        want = {"__name__": FORECAST, "source_metric": METRIC,
                "value_type": value_type, "job": "target"}
        for name, value in want.items():
            if labels.get(name) != value:
                raise CheckFailed(f"{value_type}: label {name}={labels.get(name)!r}"
                                  f", want {value!r} in {labels}")
        pod = labels.get("pod")
        if pod not in PODS or pod in out:
            raise CheckFailed(f"{value_type}: unexpected or repeated pod in {labels}")
        if not series["values"]:
            raise CheckFailed(f"{value_type}: series {labels} has no points")
        out[pod] = {float(ts): float(v) for ts, v in series["values"]}
    return out


def check_value_type(env, value_type, now, band):
    doc = query_range(env, value_type, now)
    points = points_by_pod(doc, value_type)
    for pod, pts in points.items():
        values = list(pts.values())
        if any(math.isnan(v) or math.isinf(v) for v in values):
            raise CheckFailed(f"{value_type}{{pod={pod}}}: non-finite values "
                              f"{[v for v in values if not math.isfinite(v)][:5]}")
        latest = max(pts)
        past = [v for ts, v in pts.items() if ts <= now]
        if not past:
            raise CheckFailed(f"{value_type}{{pod={pod}}}: no stored point at or "
                              f"before now; first at now{min(pts) - now:+.0f}s")
        if value_type == "yhat":
            # The target moves within base +-10; a one-step forecast of it
            # must stay near, which also catches pods swapped or mixed.
            base = load_at(pod, 150)  # sin(pi/2) = 1: base + 10.
            far = [v for v in past if abs(v - (base - 10)) > 50]
            if far:
                raise CheckFailed(f"yhat{{pod={pod}}}: past values {far[:5]} "
                                  f"are far from the target's {base - 10}+-10")
        if value_type in BAND_TYPES:
            if latest < now + 1800:
                raise CheckFailed(
                    f"{value_type}{{pod={pod}}}: latest point at now"
                    f"{latest - now:+.0f}s, want one at now+1800s or later")
            band.setdefault(pod, {})[value_type] = pts
        elif value_type == "anomaly":
            bad = [v for v in values if v not in (0.0, 1.0)]
            if bad:
                raise CheckFailed(f"anomaly{{pod={pod}}}: values not 0/1: {bad[:5]}")
        elif value_type == "anomaly_score":
            bad = [v for v in values if v < 0]
            if bad:
                raise CheckFailed(f"anomaly_score{{pod={pod}}}: negative: {bad[:5]}")
    counts = {pod: (sum(ts <= now for ts in pts), sum(ts > now for ts in pts))
              for pod, pts in points.items()}
    return (f"query_range {value_type}: 2 series with source_metric and pod; "
            f"(past, future) points per pod {counts}")


def check_band_order(band, now):
    checked = 0
    future = 0
    for pod, by_type in band.items():
        common = set.intersection(*(set(by_type[t]) for t in BAND_TYPES))
        if not common:
            raise CheckFailed(f"pod {pod}: yhat, yhat_lower, yhat_upper share no timestamp")
        for ts in sorted(common):
            lo, y, hi = (by_type[t][ts] for t in ("yhat_lower", "yhat", "yhat_upper"))
            if not lo <= y <= hi:
                raise CheckFailed(f"pod {pod} at now{ts - now:+.0f}s: "
                                  f"yhat_lower {lo} <= yhat {y} <= yhat_upper {hi} "
                                  f"does not hold")
            checked += 1
            future += ts > now
    return (f"yhat_lower <= yhat <= yhat_upper at {checked} shared timestamps "
            f"({future} in the future)")


def check_instant_query(env):
    doc = api_get(env.prometheus, "/api/v1/query",
                  {"query": f'{FORECAST}{{value_type="yhat"}}'})
    result = doc["data"]["result"]
    pods = sorted(s["metric"].get("pod", "") for s in result)
    if pods != list(PODS):
        raise CheckFailed(f"instant query: want pods {list(PODS)}, got {result}")
    return f"instant query of yhat: 2 series, values {[s['value'][1] for s in result]}"


def check_series_api(env, now):
    doc = api_get(env.prometheus, "/api/v1/series", {
        "match[]": FORECAST, "start": f"{now - 300:.3f}", "end": f"{now:.3f}"})
    seen = {(s.get("pod"), s.get("value_type")) for s in doc["data"]}
    want = {(pod, vt) for pod in PODS for vt in VALUE_TYPES}
    if not want <= seen:
        raise CheckFailed(f"series API: missing {sorted(want - seen)}; "
                          f"got {doc['data']}")
    return f"series API lists all {len(want)} forecast series"


def check_adapter_metrics(env):
    status, body = http_request(f"{env.adapter}/metrics")
    if status != 200:
        raise CheckFailed(f"adapter /metrics: HTTP {status}")
    text = body.decode()
    modelled = metric_value(text, "kad_samples_modelled_total")
    received = metric_value(text, "kad_samples_received_total")
    rejected = metric_value(text, "kad_samples_rejected_total",
                            'reason="not_selected"')
    if not modelled or modelled <= 0:
        raise CheckFailed(f"adapter /metrics: kad_samples_modelled_total={modelled}")
    if not received or received < modelled:
        raise CheckFailed(f"adapter /metrics: kad_samples_received_total={received}"
                          f" < modelled {modelled}")
    if not rejected or rejected <= 0:
        raise CheckFailed("adapter /metrics: kad_samples_rejected_total"
                          f'{{reason="not_selected"}}={rejected}; '
                          "kad_e2e_other and Prometheus' own series must count")
    gauges = [l for l in text.splitlines() if l.startswith(FORECAST + "{")]
    if not gauges:
        raise CheckFailed(f"adapter /metrics: no {FORECAST}{{ gauge line")
    if not any('pod="p1"' in l and 'value_type="yhat"' in l for l in gauges):
        raise CheckFailed(f"adapter /metrics: no yhat gauge for pod p1 in {gauges}")
    return (f"adapter /metrics: received {received:.0f}, modelled {modelled:.0f}, "
            f"not_selected {rejected:.0f}, {len(gauges)} forecast gauge lines")


def check_write_unknown_message_rejected(env):
    status, body = http_request(
        f"{env.adapter}/api/v1/write", method="POST", data=b"\x00\x01garbage",
        headers={"Content-Type":
                 "application/x-protobuf;proto=io.prometheus.write.v3.Request",
                 "Content-Encoding": "snappy",
                 "X-Prometheus-Remote-Write-Version": "3.0.0"})
    if status != 415:
        raise CheckFailed(f"unknown remote-write message: HTTP {status} ({body[:200]!r}), want 415")
    return f"unknown remote-write message answered 415: {body.decode(errors='replace').strip()}"


def check_processes_alive(env):
    env.h.check_alive()
    return "adapter and prometheus still running"


def run(h, step, args):
    deadline = time.monotonic() + WAIT_SECONDS
    adapter = h.start_adapter("adapter", ADAPTER_CONFIG)
    env = types.SimpleNamespace(h=h, adapter=adapter, prometheus=None)
    if not step(h.wait_ready, f"{adapter}/-/ready", "adapter", deadline):
        return
    target_port = h.start_target(TargetHandler)
    env.prometheus = h.start_prometheus(
        PROMETHEUS_CONFIG.replace("{target_port}", str(target_port))
        .replace("{adapter}", adapter))
    if not step(h.wait_ready, f"{env.prometheus}/-/ready", "prometheus", deadline):
        return
    step(check_write_unknown_message_rejected, env)
    if not step(wait_for_future_points, env, deadline):
        return
    if not step(wait_for_modelled, env, deadline):
        return

    now = time.time()
    band = {}
    for value_type in VALUE_TYPES:
        step(check_value_type, env, value_type, now, band)
    if all(len(by_type) == len(BAND_TYPES) for by_type in band.values()) \
            and len(band) == len(PODS):
        step(check_band_order, band, now)
    else:
        step.fail("check_band_order: band series missing (see above)")
    step(check_instant_query, env)
    step(check_series_api, env, now)
    step(check_adapter_metrics, env)
    step(check_processes_alive, env)


if __name__ == "__main__":
    sys.exit(run_test(__doc__, "kad_prom_e2e_", run))
