#!/usr/bin/env python3
"""Scale-out: two adapters, one real Prometheus, the chart's hashmod sharding.

The chart is rendered with the real helm for replicas: 2; its ConfigMap's
prometheus.yml (remote_write with write_relabel_configs per shard, remote_read
of every shard with read_recent) goes into a real Prometheus, with each pod's
DNS name pointed at one of two local adapters. The target serves SERIES series.
Each adapter must model exactly the series Prometheus' hashmod assigns it
(computed here independently: md5 of the hash labels' values joined by ";",
last 8 bytes, modulo 2): two disjoint, non-empty halves. A query_range through
Prometheus must return the forecasts of all series, with future points and
without the shard label.

Usage: scaleout_test.py --adapter BIN --prometheus BIN --helm BIN --chart DIR
"""

import hashlib
import http.server
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helm"))

import yaml  # noqa: E402  (Debian's python3-yaml)

from helm_render import find, render  # noqa: E402
from prom_harness import CheckFailed, api_get, http_request, run_test  # noqa: E402

SHARDS = 2
METRIC = "kad_scale_load"
FORECAST = "predicted_scale_load_combined"  # the default kind
PODS = tuple(f"p{i}" for i in range(8))
WAIT_SECONDS = 45

ADAPTER_CONFIG = f"""\
version: "v1alpha"
prometheus_metric_list:
  - metric_query: "{METRIC}{{job='target'}}"
    predicted_metric_name: "predicted_scale_load"
"""


class TargetHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t = time.time()
        data = "".join(f'{METRIC}{{pod="{pod}"}} {100 * i + t % 7}\n'
                       for i, pod in enumerate(PODS)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def expected_shard(labels, write_config):
    """Prometheus' hashmod of the first relabel rule, computed independently."""
    rule = write_config["write_relabel_configs"][0]
    value = rule.get("separator", ";").join(labels.get(n, "") for n in rule["source_labels"])
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % rule["modulus"]


def check_rendered(remote):
    writes, reads = remote["remote_write"], remote["remote_read"]
    if len(writes) != SHARDS or len(reads) != SHARDS:
        raise CheckFailed(f"want {SHARDS} remote_write and remote_read entries: {remote}")
    for i, (w, r) in enumerate(zip(writes, reads)):
        keep = w["write_relabel_configs"][1]
        pod = f"-{i}.kad-k8s-anomaly-detector-headless."
        if (w["write_relabel_configs"][0]["modulus"] != SHARDS or keep["action"] != "keep"
                or keep["regex"] != str(i) or not r.get("read_recent")
                or pod not in w["url"] or pod not in r["url"]):
            raise CheckFailed(f"shard {i}: unexpected entries {w} {r}")
    return f"chart renders {SHARDS} shards: {[w['url'] for w in writes]}"


def prometheus_config(remote, target_port, adapters):
    """The rendered remote entries, each pod's URL pointed at a local adapter."""
    for i, entry in enumerate(remote["remote_write"]):
        entry["url"] = f"{adapters[i]}/api/v1/write"
        entry["queue_config"] = {"batch_send_deadline": "1s", "min_backoff": "50ms",
                                 "max_backoff": "1s"}
    for i, entry in enumerate(remote["remote_read"]):
        entry["url"] = f"{adapters[i]}/api/v1/read"
    return yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{
            "job_name": "target",
            "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            # A fixed instance label keeps the shard assignment the same every run.
            "relabel_configs": [{"target_label": "instance", "replacement": "target"}],
        }],
        **remote,
    })


def modelled_pods(adapter):
    """Pods of the yhat forecast gauges on an adapter's /metrics."""
    status, body = http_request(f"{adapter}/metrics")
    if status != 200:
        raise CheckFailed(f"{adapter}/metrics: HTTP {status}")
    return {m.group(1) for line in body.decode().splitlines()
            if line.startswith(FORECAST + "{") and 'value_type="yhat"' in line
            for m in [re.search(r'pod="([^"]+)"', line)] if m}


def check_shards(h, adapters, expected, deadline):
    def probe():
        got = [modelled_pods(a) for a in adapters]
        if got != expected:
            raise CheckFailed(f"adapters model {got}, want {expected}")
        return got

    got = h.wait_until("each adapter models its hashmod shard", probe, deadline)
    if set.intersection(*got) or set.union(*got) != set(PODS) or not all(got):
        raise CheckFailed(f"shards not disjoint non-empty halves of {PODS}: {got}")
    return f"adapters model disjoint shards {[sorted(g) for g in got]}"


def check_query_range(h, prometheus, deadline):
    def probe():
        now = time.time()
        doc = api_get(prometheus, "/api/v1/query_range", {
            "query": f'{FORECAST}{{value_type="yhat"}}', "start": f"{now - 120:.3f}",
            "end": f"{now + 3600:.3f}", "step": "15"})
        result = doc["data"]["result"]
        pods = {s["metric"].get("pod") for s in result
                if any(float(ts) > now + 600 for ts, _ in s["values"])}
        if pods != set(PODS) or len(result) != len(PODS):
            raise CheckFailed(f"{len(result)} series, with future points for {sorted(pods)}")
        shard_labels = [s["metric"] for s in result
                        if any(k.startswith("__tmp") for k in s["metric"])]
        if shard_labels:
            raise CheckFailed(f"the shard label reached the adapter: {shard_labels}")
        return len(result)

    n = h.wait_until("query_range through Prometheus returns every series", probe, deadline)
    return f"query_range through Prometheus: {n} forecast series with points after now+600s"


def run(h, step, args):
    deadline = time.monotonic() + WAIT_SECONDS
    docs = render(args.helm, args.chart, "--set", f"replicas={SHARDS}")
    remote = yaml.safe_load(find(docs, "ConfigMap", "-prometheus")["data"]["prometheus.yml"])
    if not step(check_rendered, remote):
        return
    labels = {pod: {"__name__": METRIC, "job": "target", "instance": "target", "pod": pod}
              for pod in PODS}
    expected = [{pod for pod in PODS
                 if expected_shard(labels[pod], remote["remote_write"][0]) == i}
                for i in range(SHARDS)]

    adapters = [h.start_adapter(f"adapter{i}", ADAPTER_CONFIG) for i in range(SHARDS)]
    for i, a in enumerate(adapters):
        if not step(h.wait_ready, f"{a}/-/ready", f"adapter {i}", deadline):
            return
    target_port = h.start_target(TargetHandler)
    prometheus = h.start_prometheus(prometheus_config(remote, target_port, adapters))
    if not step(h.wait_ready, f"{prometheus}/-/ready", "prometheus", deadline):
        return
    step(check_shards, h, adapters, expected, deadline)
    step(check_query_range, h, prometheus, deadline)


def add_arguments(parser):
    parser.add_argument("--helm", required=True)
    parser.add_argument("--chart", required=True)


if __name__ == "__main__":
    sys.exit(run_test(__doc__, "kad_scaleout_", run, add_arguments))
