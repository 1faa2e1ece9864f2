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

import argparse
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

METRIC = "kad_e2e_load"
FORECAST = "predicted_e2e_load_holt_winters"
VALUE_TYPES = ("yhat", "yhat_lower", "yhat_upper", "anomaly", "anomaly_score")
BAND_TYPES = ("yhat", "yhat_lower", "yhat_upper")
PODS = ("p1", "p2")

POLL_SECONDS = 0.5
# Prometheus needs a few scrapes and a remote-write batch before forecasts
# exist; this bounds the whole wait, not each step.
WAIT_SECONDS = 120
STOP_SECONDS = 10
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
  - url: http://127.0.0.1:{adapter_port}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 1s
remote_read:
  - url: http://127.0.0.1:{adapter_port}/api/v1/read
    read_recent: true
"""


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what and why."""


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


def free_port():
    # The port is free when we close it; the small race until the child binds
    # it is acceptable on loopback in a test.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(url, method="GET", data=None, headers=None, timeout=5):
    """Returns (status, body bytes); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def api_get(base, path, params):
    """GET a Prometheus API path; returns the decoded JSON or raises."""
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    status, body = http_request(url, timeout=10)
    try:
        doc = json.loads(body)
    except ValueError:
        raise CheckFailed(f"GET {url}: HTTP {status}, not JSON: {body[:300]!r}")
    if status != 200 or doc.get("status") != "success":
        raise CheckFailed(f"GET {url}: HTTP {status}: {body[:500]!r}")
    return doc


class Process:
    """A child process whose output goes to a log file in the temp dir."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def check_alive(self):
        code = self.proc.poll()
        if code is not None:
            raise CheckFailed(f"{self.name} exited early with code {code}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"{self.name} ignored SIGTERM for {STOP_SECONDS}s; "
                      f"sending SIGKILL", flush=True)
                self.proc.kill()
                self.proc.wait(timeout=STOP_SECONDS)
        self.log.close()

    def tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError as e:
            return f"(cannot read {self.log_path}: {e})"
        return "\n".join(text.splitlines()[-lines:])


class Env:
    """Ports, folders and processes of one test run."""

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="kad_prom_e2e_")
        self.processes = []
        self.target_server = None
        self.adapter_port = free_port()
        self.prometheus_port = free_port()
        self.adapter = f"http://127.0.0.1:{self.adapter_port}"
        self.prometheus = f"http://127.0.0.1:{self.prometheus_port}"

    def start_target(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 TargetHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.target_server = server
        return server.server_address[1]

    def start_adapter(self):
        config = os.path.join(self.tmp, "environment.yaml")
        with open(config, "w") as f:
            f.write(ADAPTER_CONFIG)
        storage = os.path.join(self.tmp, "adapter-data")
        argv = [self.args.adapter, f"--config.file={config}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.adapter_port}",
                "--log.level=debug"]
        self.processes.append(
            Process("adapter", argv, os.path.join(self.tmp, "adapter.log")))

    def start_prometheus(self, target_port):
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(PROMETHEUS_CONFIG.replace("{target_port}", str(target_port))
                    .replace("{adapter_port}", str(self.adapter_port)))
        argv = [self.args.prometheus, f"--config.file={config}",
                f"--storage.tsdb.path={os.path.join(self.tmp, 'prom-data')}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}"]
        self.processes.append(
            Process("prometheus", argv, os.path.join(self.tmp, "prometheus.log")))

    def check_alive(self):
        for p in self.processes:
            p.check_alive()

    def wait_ready(self, url, name, deadline):
        while True:
            self.check_alive()
            try:
                status, _ = http_request(url, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass  # Not listening yet.
            if time.monotonic() > deadline:
                raise CheckFailed(f"{name} not ready at {url} in time")
            time.sleep(POLL_SECONDS)

    def stop_all(self):
        for p in reversed(self.processes):
            try:
                p.stop()
            except Exception as e:  # Keep stopping the others.
                print(f"stopping {p.name}: {e}", flush=True)
        if self.target_server is not None:
            self.target_server.shutdown()
            self.target_server.server_close()

    def dump_logs(self):
        for p in self.processes:
            print(f"----- last lines of {p.name} log ({p.log_path}) -----")
            print(p.tail())
        print("-----", flush=True)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def query_range(env, value_type, now):
    return api_get(env.prometheus, "/api/v1/query_range", {
        "query": f'{FORECAST}{{value_type="{value_type}"}}',
        "start": f"{now - 300:.3f}",
        "end": f"{now + 3600:.3f}",
        "step": "15",
    })


def wait_for_future_points(env, deadline):
    """Polls Grafana's question until a forecast point lies past now+600s."""
    last = None
    while True:
        env.check_alive()
        now = time.time()
        try:
            doc = query_range(env, "yhat", now)
            result = doc["data"]["result"]
            last = f"{len(result)} series"
            for series in result:
                if any(float(ts) > now + 600 for ts, _ in series["values"]):
                    return f"query_range yhat has points after now+600s ({last})"
        except (CheckFailed, OSError) as e:
            last = str(e)
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"no yhat point after now+600s from Prometheus query_range "
                f"in time; last answer: {last}")
        time.sleep(POLL_SECONDS)


def wait_for_modelled(env, deadline):
    """Waits until the adapter has modelled MIN_MODELLED samples."""
    modelled = None
    while True:
        env.check_alive()
        try:
            status, body = http_request(f"{env.adapter}/metrics")
            if status == 200:
                modelled = metric_value(body.decode(), "kad_samples_modelled_total")
                if modelled is not None and modelled >= MIN_MODELLED:
                    return f"adapter modelled {modelled:.0f} samples"
        except OSError as e:
            modelled = str(e)
        if time.monotonic() > deadline:
            raise CheckFailed(f"adapter modelled {modelled} samples in time, "
                              f"want {MIN_MODELLED}: is remote write arriving?")
        time.sleep(POLL_SECONDS)


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


def metric_value(text, name, labels=""):
    """The value of the sample line `name{labels} v` (labels exact), or None."""
    prefix = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[0] == prefix:
            return float(parts[1])
    return None


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


def check_write_v2_rejected(env):
    status, body = http_request(
        f"{env.adapter}/api/v1/write", method="POST", data=b"\x00\x01garbage",
        headers={"Content-Type":
                 "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                 "Content-Encoding": "snappy",
                 "X-Prometheus-Remote-Write-Version": "2.0.0"})
    if status != 415:
        raise CheckFailed(f"remote write 2.0 body: HTTP {status} ({body[:200]!r}), want 415")
    return f"remote write 2.0 content type answered 415: {body.decode(errors='replace').strip()}"


def wait_adapter_ready(env, deadline):
    env.wait_ready(f"{env.adapter}/-/ready", "adapter", deadline)
    return "adapter /-/ready answers 200"


def wait_prometheus_ready(env, deadline):
    env.wait_ready(f"{env.prometheus}/-/ready", "prometheus", deadline)
    return "prometheus /-/ready answers 200"


def check_processes_alive(env):
    env.check_alive()
    return "adapter and prometheus still running"


def run(env):
    """Runs every check; returns (passed, failed)."""
    passed = failed = 0
    deadline = time.monotonic() + WAIT_SECONDS

    def step(fn, *a):
        nonlocal passed, failed
        try:
            msg = fn(*a)
        except Exception as e:  # Report every failure, including bad JSON.
            failed += 1
            print(f"FAIL: {fn.__name__}: {type(e).__name__}: {e}", flush=True)
            return False
        passed += 1
        print(f"ok: {msg}", flush=True)
        return True

    env.start_adapter()
    if not step(wait_adapter_ready, env, deadline):
        return passed, failed
    target_port = env.start_target()
    env.start_prometheus(target_port)
    if not step(wait_prometheus_ready, env, deadline):
        return passed, failed
    step(check_write_v2_rejected, env)
    if not step(wait_for_future_points, env, deadline):
        return passed, failed
    if not step(wait_for_modelled, env, deadline):
        return passed, failed

    now = time.time()
    band = {}
    for value_type in VALUE_TYPES:
        step(check_value_type, env, value_type, now, band)
    if all(len(by_type) == len(BAND_TYPES) for by_type in band.values()) \
            and len(band) == len(PODS):
        step(check_band_order, band, now)
    else:
        failed += 1
        print("FAIL: check_band_order: band series missing (see above)")
    step(check_instant_query, env)
    step(check_series_api, env, now)
    step(check_adapter_metrics, env)
    step(check_processes_alive, env)
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp folder (logs, data) for debugging")
    args = parser.parse_args()
    for path in (args.adapter, args.prometheus):
        if not os.access(path, os.X_OK):
            print(f"not an executable: {path}")
            return 1

    started = time.monotonic()
    env = Env(args)
    passed = failed = 0
    try:
        passed, failed = run(env)
    except BaseException as e:  # Includes Ctrl-C: still stop the children.
        failed += 1
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
    finally:
        env.stop_all()
        if failed:
            env.dump_logs()
        if args.keep:
            print(f"files kept in {env.tmp}")
        else:
            env.cleanup()
    print(f"{passed} passed, {failed} failed "
          f"({time.monotonic() - started:.1f}s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
