#!/usr/bin/env python3
"""Every PromQL query of the Grafana dashboard returns data from a real Prometheus.

A real Prometheus (Debian's 2.42) scrapes a target and the adapter's /metrics
(forecast gauges dropped, as the chart's ServiceMonitor does), remote-writes to
the adapter, remote-reads from it with read_recent: true, and evaluates the
alert rules file. The target's two series jump far out of their band one after
the other, so anomalies exist and the activity runs twice. Then the dashboard's
variable queries are resolved the way Grafana does, and every panel target is
run (range or instant, as the panel asks) and must return a series with a
finite value. Right after each jump, the rules' anomaly alerts must be pending for it.

Usage: dashboard_test.py --adapter BIN --prometheus BIN --dashboard JSON --rules YAML
"""

import http.server
import json
import math
import os
import re
import sys
import time

from prom_harness import CheckFailed, api_get, run_test, scrape_value

METRIC = "kad_dash_load"
FORECAST = "predicted_dash_load_holt_winters"
PODS = ("p1", "p2")
WARM_UP_SAMPLES = 10  # min_n_samples_seen below: no anomaly before that.
# holt_winters learns samples unclipped for its first 30, so a jump before
# then would be learnt as the new level rather than stand out.
KIND_WARM_UP_SAMPLES = 30
WAIT_SECONDS = 90

ADAPTER_CONFIG = f"""\
version: "v1alpha"
prometheus_metric_list:
  - metric_query: "{METRIC}{{job='target'}}"
    predicted_metric_name: "predicted_dash_load"
    models:
      - kind: holt_winters
        args: {{min_n_samples_seen: {WARM_UP_SAMPLES}}}
activities:
  - name: "{FORECAST}"
    command:
      shell_file: record.sh
      args: ["{{{{ labels.pod }}}}"]
"""

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
scrape_configs:
  - job_name: target
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
  - job_name: k8s-anomaly-detector
    static_configs: [{{targets: ["{adapter_host}"]}}]
    params: {{forecast_gauges: ["false"]}}
remote_write:
  - url: {adapter}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 1s}}
remote_read:
  - url: {adapter}/api/v1/read
    read_recent: true
"""

# Grafana's built-in variables, for a 1 s scrape interval and a 5 minute view.
BUILTINS = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}
RANGE_SECONDS = 300
STEP_SECONDS = 5

# Pods whose value has jumped out of the band (set by the test, read by the target).
spiked = set()


def load_at(pod, t):
    base = 100.0 if pod == "p1" else 200.0
    jump = 1000.0 if pod in spiked else 0.0
    return base + jump + 2.0 * math.sin(2.0 * math.pi * t / 60.0)


class TargetHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t = time.time()
        data = "".join(f'{METRIC}{{pod="{pod}"}} {load_at(pod, t)!r}\n'
                       for pod in PODS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def grafana_query_result_text(sample):
    """One line of Grafana's query_result() variable: name{labels} value time."""
    labels = dict(sample["metric"])
    name = labels.pop("__name__", "")
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    ts, value = sample["value"]
    return f"{name}{{{label_text}}} {value} {int(float(ts) * 1000)}"


def substitute(text, variables):
    for name in sorted(variables, key=len, reverse=True):  # $__range before $__r...
        text = text.replace(name, variables[name])
    return text


def resolve_variables(h, prometheus, dashboard):
    """Runs the dashboard's query variables as Grafana does; returns {"$name": value}."""
    variables = dict(BUILTINS)
    for var in dashboard["templating"]["list"]:
        name = "$" + var["name"]
        if var["type"] == "datasource":
            continue
        if var["type"] == "textbox":
            variables[name] = var["query"]
            continue
        query = var["query"]["query"]
        m = re.fullmatch(r"query_result\((.*)\)", query)
        if not m:
            raise CheckFailed(f"variable {name}: not a query_result(): {query}")
        expr = substitute(m.group(1), variables)
        pattern = re.compile(var["regex"].strip("/"))

        def probe():
            doc = api_get(prometheus, "/api/v1/query", {"query": expr})
            values = sorted({pattern.search(grafana_query_result_text(s)).group(1)
                             for s in doc["data"]["result"]
                             if pattern.search(grafana_query_result_text(s))})
            return values

        values = h.wait_until(f"variable {name} ({expr})", probe,
                              time.monotonic() + 10)
        variables[name] = values[0]
    return variables


def panel_targets(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def check_target(h, prometheus, panel, target, variables, deadline):
    expr = substitute(target["expr"], variables)
    if "$" in expr.replace("$1", ""):
        raise CheckFailed(f"{panel['title']}: unsubstituted variable in {expr}")
    instant = target.get("instant", False) and not target.get("range", True)

    def probe():
        now = time.time()
        if instant:
            doc = api_get(prometheus, "/api/v1/query", {"query": expr})
            values = [[s["value"]] for s in doc["data"]["result"]]
        else:
            doc = api_get(prometheus, "/api/v1/query_range", {
                "query": expr, "start": f"{now - RANGE_SECONDS:.3f}",
                "end": f"{now + 600:.3f}", "step": str(STEP_SECONDS)})
            values = [s["values"] for s in doc["data"]["result"]]
        finite = sum(math.isfinite(float(v)) for vs in values for _, v in vs)
        return finite and (len(values), finite)

    series, finite = h.wait_until(f"{panel['title']} [{target['refId']}]: {expr}",
                                  probe, deadline)
    kind = "instant" if instant else "range"
    return (f"{panel['title']} [{target['refId']}] ({kind}): {series} series, "
            f"{finite} finite points")


def check_alerts_pending(prometheus, pod):
    doc = api_get(prometheus, "/api/v1/alerts", {})
    found = {(a["labels"]["alertname"], a["labels"].get("forecast"),
              a["labels"].get("pod")) for a in doc["data"]["alerts"]}
    want = {(alert, FORECAST, pod) for alert in ("SeriesAnomalous", "SeriesFarOutsideBand")}
    if not want <= found:
        raise CheckFailed(f"alerts: want {sorted(want)} among {sorted(found)}")
    names = {a["labels"].get("source_metric") for a in doc["data"]["alerts"]
             if a["labels"]["alertname"].startswith("Series")}
    if names != {METRIC}:
        raise CheckFailed(f"anomaly alerts fire for source_metric {names}, want {METRIC}")
    return f"rules file: anomaly alerts active for {pod} ({len(found)} alerts)"


def run(h, step, args):
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    deadline = time.monotonic() + WAIT_SECONDS
    scripts = h.path("scripts")
    os.mkdir(scripts)
    with open(os.path.join(scripts, "record.sh"), "w") as f:
        f.write('#!/bin/sh\necho "anomaly on $1 score=$KAD_ANOMALY_SCORE"\n')
    adapter = h.start_adapter("adapter", ADAPTER_CONFIG,
                              [f"--activities.scripts-dir={scripts}"])
    if not step(h.wait_ready, f"{adapter}/-/ready", "adapter", deadline):
        return
    target_port = h.start_target(TargetHandler)
    prometheus = h.start_prometheus(
        PROMETHEUS_CONFIG.format(rules=args.rules, target_port=target_port,
                                 adapter=adapter, adapter_host=adapter[len("http://"):]))
    if not step(h.wait_ready, f"{prometheus}/-/ready", "prometheus", deadline):
        return

    # Past the warm-up, one pod jumps; once Prometheus has scraped the run it
    # caused, the other does, so the run counters and histogram have a rate.
    def modelled_past_warm_up():
        n = scrape_value(adapter, "kad_samples_modelled_total")
        return n is not None and n >= len(PODS) * (KIND_WARM_UP_SAMPLES + 2) and n

    def runs_scraped(n):
        def probe():
            doc = api_get(prometheus, "/api/v1/query", {
                "query": f'sum(kad_activity_run_duration_seconds_count) >= {n}'})
            return bool(doc["data"]["result"])
        return probe

    def spike(pod, runs_before):
        h.wait_until("modelled samples past the warm-up", modelled_past_warm_up, deadline)
        spiked.add(pod)
        h.wait_until(f"{runs_before + 1} activity run(s) scraped by Prometheus",
                     runs_scraped(runs_before + 1), deadline)
        # While the jump is news (the model accepts a lasting jump as the
        # new normal after a while), both anomaly alerts are pending.
        h.wait_until(f"anomaly alerts pending for {pod}",
                     lambda: check_alerts_pending(prometheus, pod), deadline)
        return f"{pod} jumped out of its band; Prometheus scraped run {runs_before + 1}"

    if not (step(spike, PODS[0], 0) and step(spike, PODS[1], 1)):
        return

    variables = resolve_variables(h, prometheus, dashboard)
    print(f"variables: {variables}", flush=True)
    if variables.get("$forecast") != FORECAST or variables.get("$source") != METRIC:
        step.fail(f"variables resolve to {variables}, want forecast {FORECAST}, "
                  f"source {METRIC}")
    for panel, target in panel_targets(dashboard):
        step(check_target, h, prometheus, panel, target, variables, deadline)
    # A non-empty label filter must still parse and select.
    filtered = dict(variables, **{"$filter": 'pod="p1"'})
    for panel, target in panel_targets(dashboard):
        if "$filter" in target["expr"]:
            step(check_target, h, prometheus, panel, target, filtered, deadline)


def add_arguments(parser):
    parser.add_argument("--dashboard", required=True)
    parser.add_argument("--rules", required=True)


if __name__ == "__main__":
    sys.exit(run_test(__doc__, "kad_dashboard_", run, add_arguments))
