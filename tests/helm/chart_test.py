#!/usr/bin/env python3
"""The Helm chart, linted and rendered by the real helm binary.

For the default values (standalone, one pod), ci/sidecar-values.yaml and
ci/sharded-values.yaml (three shards with the prometheus-operator objects):
`helm lint --strict` passes, and the rendered objects are what Kubernetes and
Prometheus need: the kinds, the probes, the mounts, the configuration files
reaching the container through its flags (each flag one the adapter's --help
lists), the security settings, the remote_write/remote_read entries of every
shard with its hashmod relabelling, and NOTES printing them.

Usage: chart_test.py --helm BIN --chart DIR --adapter BIN
helm comes from scripts/install-helm.sh; without it this test fails.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import unittest

import yaml  # Debian's python3-yaml

from helm_render import RELEASE, RenderFailed, find, render, run_helm

ARGS = None
FULLNAME = f"{RELEASE}-k8s-anomaly-detector"
NAMESPACE = "monitoring"
PORT = 9201


def values_file(name):
    return os.path.join(ARGS.chart, "ci", name)


def read_chart_file(name):
    with open(os.path.join(ARGS.chart, "files", name)) as f:
        return f.read()


def chart_values():
    with open(os.path.join(ARGS.chart, "values.yaml")) as f:
        return yaml.safe_load(f)


def flags(container):
    """{flag name: value} of the container's --name=value arguments."""
    out = {}
    for arg in container["args"]:
        m = re.fullmatch(r"--([a-z.-]+)=(.*)", arg)
        assert m, f"argument {arg!r} is not --flag=value"
        out[m.group(1)] = m.group(2)
    return out


def notes(*args):
    """The NOTES helm install prints (client-side dry run, no cluster)."""
    out = run_helm(ARGS.helm, "install", RELEASE, ARGS.chart, "--namespace", NAMESPACE,
                   "--dry-run=client", *args)
    return out[out.index("NOTES:"):]


class ChartTest(unittest.TestCase):
    maxDiff = None

    def check_container(self, container, configmaps, volumes):
        """Probes, security, and every configuration file reaching the container."""
        self.assertEqual(container["ports"], [{"name": "http", "containerPort": PORT,
                                               "protocol": "TCP"}])
        self.assertEqual(container["livenessProbe"]["httpGet"], {"path": "/-/healthy",
                                                                  "port": PORT})
        if "readinessProbe" in container:  # Not in sidecar mode.
            self.assertEqual(container["readinessProbe"]["httpGet"],
                             {"path": "/-/ready", "port": PORT})
        sc = container["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertTrue(sc["runAsNonRoot"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertIn("memory", container["resources"]["limits"])
        self.assertIn("cpu", container["resources"]["requests"])

        f = flags(container)
        self.assertEqual(f["web.listen-address"], f":{PORT}")
        help_text = subprocess.run([ARGS.adapter, "--help"], capture_output=True,
                                   text=True, timeout=10)
        for name in f:
            self.assertIn(f"--{name}", help_text.stdout + help_text.stderr,
                          f"--{name} is not a flag of the adapter")

        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in volumes}

        def file_content(path):
            """Content of `path` inside the container, read from its ConfigMap."""
            directory, name = os.path.split(path)
            self.assertIn(directory, mounts, f"{path}: no volume mounted at {directory}")
            volume = volumes[mounts[directory]["name"]]
            return configmaps[volume["configMap"]["name"]]["data"][name]

        values = chart_values()
        self.assertEqual(file_content(f["config.file"]), values["config"]["environment"])
        self.assertEqual(file_content(f["activities.file"]), values["config"]["activities"])
        for script, content in values["scripts"].items():
            self.assertEqual(file_content(os.path.join(f["activities.scripts-dir"], script)),
                             content)
        activities = yaml.safe_load(values["config"]["activities"])["activities"]
        for activity in activities:
            self.assertIn(activity["command"]["shell_file"], values["scripts"])
        # Writable: the data folder and /tmp; everything else is read-only.
        self.assertIn(f["storage.path"], mounts)
        self.assertIn("/tmp", mounts)
        for path, mount in mounts.items():
            if path not in (f["storage.path"], "/tmp"):
                self.assertTrue(mount.get("readOnly"), f"{path} is mounted writable")
        return mounts[f["storage.path"]]

    def check_remote(self, remote, urls, camel):
        """remote_write/remote_read entries: one per base URL, hashmod when several."""
        k = (lambda c, s: c) if camel else (lambda c, s: s)
        writes, reads = remote[k("remoteWrite", "remote_write")], \
            remote[k("remoteRead", "remote_read")]
        self.assertEqual([w["url"] for w in writes], [u + "/api/v1/write" for u in urls])
        self.assertEqual([r["url"] for r in reads], [u + "/api/v1/read" for u in urls])
        for r in reads:
            self.assertIs(r[k("readRecent", "read_recent")], True)
        hash_labels = chart_values()["sharding"]["hashLabels"]
        for i, w in enumerate(writes):
            relabel = w.get(k("writeRelabelConfigs", "write_relabel_configs"))
            if len(urls) == 1:
                self.assertIsNone(relabel)
                continue
            self.assertEqual(relabel, [
                {"action": "hashmod", "modulus": len(urls),
                 k("sourceLabels", "source_labels"): hash_labels,
                 k("targetLabel", "target_label"): "__tmp_kad_shard"},
                {"action": "keep", "regex": str(i),
                 k("sourceLabels", "source_labels"): ["__tmp_kad_shard"]},
                {"action": "labeldrop", "regex": "__tmp_kad_shard"}])

    def configmaps(self, docs):
        return {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}

    def test_lint_strict(self):
        for args in ([], ["-f", values_file("sidecar-values.yaml")],
                     ["-f", values_file("sharded-values.yaml")]):
            with self.subTest(args=args):
                out = run_helm(ARGS.helm, "lint", "--strict", ARGS.chart, *args)
                self.assertIn("0 chart(s) failed", out)

    def check_standalone(self, args, replicas):
        docs = render(ARGS.helm, ARGS.chart, *args)
        kinds = sorted(d["kind"] for d in docs)
        sts = find(docs, "StatefulSet")
        self.assertEqual(sts["spec"]["replicas"], replicas)
        pod = sts["spec"]["template"]
        self.assertEqual(pod["metadata"]["labels"], sts["spec"]["selector"]["matchLabels"])
        self.assertIn("checksum/config", pod["metadata"]["annotations"])
        self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["spec"]["securityContext"]["runAsUser"], 0)

        headless = find(docs, "Service", "-headless")
        self.assertEqual(sts["spec"]["serviceName"], headless["metadata"]["name"])
        self.assertEqual(headless["spec"]["clusterIP"], "None")
        for svc in (headless, find(docs, "Service", "k8s-anomaly-detector")):
            self.assertEqual(svc["spec"]["selector"], pod["metadata"]["labels"])
            self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "http")

        (container,) = pod["spec"]["containers"]
        data_mount = self.check_container(container, self.configmaps(docs),
                                          pod["spec"]["volumes"])
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        self.assertEqual(data_mount["name"], claim["metadata"]["name"])
        self.assertEqual(claim["spec"]["resources"]["requests"]["storage"], "10Gi")

        dashboard = find(docs, "ConfigMap", "-dashboard")
        self.assertEqual(dashboard["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(json.loads(dashboard["data"]["k8s-anomaly-detector.json"]),
                         json.loads(read_chart_file("grafana-dashboard.json")))

        cm = find(docs, "ConfigMap", "-prometheus")["data"]
        urls = [f"http://{FULLNAME}-{i}.{FULLNAME}-headless.{NAMESPACE}.svc.cluster.local:{PORT}"
                for i in range(replicas)]
        self.check_remote(yaml.safe_load(cm["prometheus.yml"]), urls, camel=False)
        stack = yaml.safe_load(cm["kube-prometheus-stack-values.yaml"])
        self.check_remote(stack["prometheus"]["prometheusSpec"], urls, camel=True)
        self.assertNotIn("containers", stack["prometheus"]["prometheusSpec"])
        note = notes(*args)
        self.assertIn(cm["prometheus.yml"].strip(), note)
        self.assertIn(cm["kube-prometheus-stack-values.yaml"].strip(), note)
        return docs, kinds

    def test_default_values(self):
        _, kinds = self.check_standalone([], 1)
        self.assertEqual(kinds, ["ConfigMap"] * 4 + ["Service"] * 2 + ["StatefulSet"])

    def test_sharded_values(self):
        docs, kinds = self.check_standalone(["-f", values_file("sharded-values.yaml")], 3)
        self.assertEqual(kinds, ["ConfigMap"] * 4 + ["PodDisruptionBudget", "PrometheusRule",
                                                     "Service", "Service", "ServiceMonitor",
                                                     "StatefulSet"])
        rule = find(docs, "PrometheusRule")
        self.assertEqual(rule["spec"], yaml.safe_load(read_chart_file("prometheus-rules.yaml")))
        self.assertEqual(rule["metadata"]["labels"]["release"], "kube-prometheus-stack")
        monitor = find(docs, "ServiceMonitor")
        selector = monitor["spec"]["selector"]["matchLabels"].items()
        scraped = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"
                   and selector <= d["metadata"]["labels"].items()]
        self.assertEqual(scraped, [f"{FULLNAME}-headless"])  # each pod once
        (endpoint,) = monitor["spec"]["endpoints"]
        self.assertEqual((endpoint["port"], endpoint["path"]), ("http", "/metrics"))
        self.assertEqual(endpoint["params"], {"forecast_gauges": ["false"]})
        self.assertNotIn("metricRelabelings", endpoint)
        self.assertEqual(find(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"], 1)

    def test_sidecar_values(self):
        docs = render(ARGS.helm, ARGS.chart, "-f", values_file("sidecar-values.yaml"))
        self.assertEqual(sorted(d["kind"] for d in docs), ["ConfigMap"] * 4)
        configmaps = self.configmaps(docs)
        cm = find(docs, "ConfigMap", "-prometheus")["data"]
        self.check_remote(yaml.safe_load(cm["prometheus.yml"]), [f"http://localhost:{PORT}"],
                          camel=False)
        spec = yaml.safe_load(cm["kube-prometheus-stack-values.yaml"])["prometheus"][
            "prometheusSpec"]
        self.check_remote(spec, [f"http://localhost:{PORT}"], camel=True)
        (container,) = spec["containers"]
        data_mount = self.check_container(container, configmaps, spec["volumes"])
        sidecar = chart_values()["sidecar"]
        self.assertEqual((data_mount["name"], data_mount["subPath"]),
                         (sidecar["dataVolume"], sidecar["subPath"]))
        self.assertIn(cm["kube-prometheus-stack-values.yaml"].strip(),
                      notes("-f", values_file("sidecar-values.yaml")))

        # The same container as in standalone mode, but for its data volume, and without
        # a readiness probe (the adapter must not take Prometheus' pod out of service).
        standalone = find(render(ARGS.helm, ARGS.chart), "StatefulSet")
        (expected,) = standalone["spec"]["template"]["spec"]["containers"]
        self.assertIn("readinessProbe", expected)
        expected = {k: v for k, v in expected.items() if k != "readinessProbe"}
        strip = lambda c: dict(c, volumeMounts=c["volumeMounts"][:-1])  # noqa: E731
        self.assertEqual(strip(container), strip(expected))

    def test_invalid_values_are_refused(self):
        for args, message in ((["--set", "mode=daemonset"], "mode must be"),
                              (["--set", "mode=sidecar,replicas=2"], "replicas > 1"),
                              (["--set", "replicas=0"], "replicas must be")):
            with self.subTest(args=args):
                with self.assertRaisesRegex(RenderFailed, message):
                    render(ARGS.helm, ARGS.chart, *args)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--helm", required=True)
    parser.add_argument("--chart", required=True)
    parser.add_argument("--adapter", required=True)
    ARGS = parser.parse_args()
    if not (os.path.isfile(ARGS.helm) and os.access(ARGS.helm, os.X_OK)):
        print(f"helm not found ({ARGS.helm!r}): run `bash scripts/install-helm.sh`, "
              f"then configure again (cmake)")
        return 1
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
