"""Renders the chart with the real helm binary and finds objects in the output.

    docs = render(helm, chart, "--set", "replicas=2")
    cm = find(docs, "ConfigMap", "-prometheus")
    remote = yaml.safe_load(cm["data"]["prometheus.yml"])

Needs Debian's python3-yaml (helm speaks YAML only).
"""

import subprocess

import yaml

RELEASE = "kad"


class RenderFailed(Exception):
    """helm exited non-zero; the message holds its output."""


def run_helm(helm, *args):
    """Runs helm; returns its stdout or raises RenderFailed."""
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RenderFailed(f"helm {' '.join(args)}: exit {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def render(helm, chart, *args):
    """`helm template` of the chart as release RELEASE; returns the objects."""
    out = run_helm(helm, "template", RELEASE, chart, "--namespace", "monitoring", *args)
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs, kind, name_suffix=""):
    """The one object of this kind whose name ends with name_suffix."""
    found = [d for d in docs if d["kind"] == kind
             and d["metadata"]["name"].endswith(name_suffix)]
    if len(found) != 1:
        names = [(d["kind"], d["metadata"]["name"]) for d in docs]
        raise AssertionError(f"want one {kind} named *{name_suffix}, rendered {names}")
    return found[0]
