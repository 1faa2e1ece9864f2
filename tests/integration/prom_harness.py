"""What the Python integration tests share: child processes, HTTP, polling, reporting.

A test builds on Harness (a temp folder, the processes it started, the HTTP
target it serves) and run_test (argument parsing, the pass/fail count, logs on
failure, cleanup). For example:

    def run(h, step, args):
        adapter = h.start_adapter("adapter", ADAPTER_CONFIG)
        step(wait_ready, h, adapter + "/-/ready", "adapter")

    if __name__ == "__main__":
        sys.exit(run_test(__doc__, "kad_mytest_", run))

Standard library only. Everything listens on 127.0.0.1; every process started
here is stopped by PID, also on failure.
"""

import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

POLL_SECONDS = 0.5
STOP_SECONDS = 10


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what and why."""


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


def scrape_value(base, name, labels=""):
    """metric_value of a /metrics page, or None while it does not answer 200."""
    try:
        status, body = http_request(f"{base}/metrics")
    except OSError:
        return None
    return metric_value(body.decode(), name, labels) if status == 200 else None


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


class Harness:
    """The temp folder, processes and HTTP target of one test run."""

    def __init__(self, args, prefix):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.processes = []
        self.target_server = None

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def start(self, name, argv):
        self.processes.append(Process(name, argv, self.path(f"{name}.log")))

    def start_adapter(self, name, config, extra_args=()):
        """Starts args.adapter with `config` as its --config.file; returns its URL."""
        port = free_port()
        self.start(name, [
            self.args.adapter, f"--config.file={self.write(f'{name}.yaml', config)}",
            f"--storage.path={self.path(f'{name}-data')}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=debug",
            *extra_args])
        return f"http://127.0.0.1:{port}"

    def start_prometheus(self, config, extra_args=()):
        """Starts args.prometheus with the prometheus.yml text; returns its URL."""
        port = free_port()
        self.start("prometheus", [
            self.args.prometheus,
            f"--config.file={self.write('prometheus.yml', config)}",
            f"--storage.tsdb.path={self.path('prom-data')}",
            f"--web.listen-address=127.0.0.1:{port}", *extra_args])
        return f"http://127.0.0.1:{port}"

    def start_target(self, handler_class):
        """Serves handler_class (a BaseHTTPRequestHandler) on loopback; returns the port."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.target_server = server
        return server.server_address[1]

    def check_alive(self):
        for p in self.processes:
            p.check_alive()

    def wait_until(self, what, probe, deadline):
        """Calls probe() until it returns a true value (returned), while the children run.

        probe may raise CheckFailed or OSError (not there yet); the last answer
        is in the failure message when the deadline passes.
        """
        last = None
        while True:
            self.check_alive()
            try:
                result = probe()
                if result:
                    return result
            except (CheckFailed, OSError) as e:
                last = e
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: not in time; last answer: {last}")
            time.sleep(POLL_SECONDS)

    def wait_ready(self, url, name, deadline):
        self.wait_until(f"{name} ready at {url}",
                        lambda: http_request(url, timeout=2)[0] == 200, deadline)
        return f"{name} {url} answers 200"

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


class Steps:
    """Runs checks one by one, printing ok/FAIL lines and counting them."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, fn, *args):
        """Runs fn(*args); its return value is the ok message. Returns success."""
        try:
            msg = fn(*args)
        except Exception as e:  # Report every failure, including bad JSON.
            self.fail(f"{fn.__name__}: {type(e).__name__}: {e}")
            return False
        self.passed += 1
        print(f"ok: {msg}", flush=True)
        return True

    def fail(self, msg):
        self.failed += 1
        print(f"FAIL: {msg}", flush=True)


def run_test(doc, prefix, run, add_arguments=None):
    """Parses --adapter/--prometheus/--keep (and add_arguments(parser)'s), calls
    run(harness, steps, args), stops everything and returns the exit code."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp folder (logs, data) for debugging")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    for path in (args.adapter, args.prometheus):
        if not os.access(path, os.X_OK):
            print(f"not an executable: {path}")
            return 1

    started = time.monotonic()
    harness = Harness(args, prefix)
    steps = Steps()
    try:
        run(harness, steps, args)
    except BaseException as e:  # Includes Ctrl-C: still stop the children.
        steps.fail(f"{type(e).__name__}: {e}")
    finally:
        harness.stop_all()
        if steps.failed:
            harness.dump_logs()
        if args.keep:
            print(f"files kept in {harness.tmp}")
        else:
            harness.cleanup()
    print(f"{steps.passed} passed, {steps.failed} failed "
          f"({time.monotonic() - started:.1f}s)", flush=True)
    return 1 if steps.failed else 0
