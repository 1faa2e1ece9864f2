#!/usr/bin/env python3
"""Auth and TLS through --web.config.file, with a real Prometheus as the client.

The openssl CLI makes a CA, a server certificate for 127.0.0.1 and a client
certificate. Three adapters start, each with a web config:
  tls:    TLS with client certificates required (RequireAndVerifyClientCert)
          and basic_auth_users;
  wrong:  plain HTTP and basic_auth_users; Prometheus sends a wrong password;
  bearer: plain HTTP and bearer_tokens_file.
A real Prometheus (Debian's 2.42) scrapes one target and remote-writes to all
three: with basic_auth, tls_config (ca_file, cert_file, key_file); with a
wrong password; with authorization: {credentials}. It remote-reads the TLS
adapter's forecasts back. Then:
  - tls and bearer model the samples; wrong receives none and Prometheus
    counts failed samples for it (it got 401);
  - callers without credentials get 401 with WWW-Authenticate: Basic on the
    mutating endpoints (DELETE /api/v1/locks, POST /api/v1/retrain,
    POST /-/reload) and on /metrics; a wrong password gets 401;
  - a TLS client without a client certificate, or plain HTTP to the TLS port,
    gets no HTTP answer at all.

Usage: auth_test.py --adapter BIN --prometheus BIN --openssl BIN
"""

import base64
import http.client
import http.server
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

from prom_harness import CheckFailed, api_get, http_request, metric_value, run_test

METRIC = "kad_auth_load"
FORECAST = "predicted_auth_load_combined"  # the default kind
WAIT_SECONDS = 60

USER = "prometheus"
PASSWORD = "remote-write-pass"
# bcrypt (cost 10, $2y$ as htpasswd writes it) of PASSWORD: test data.
PASSWORD_HASH = "$2y$10$agv4CFhnn59Pvmq/WmQASuwHTI/4UdOCHP3SdYUbcPfE6K/hzOZJu"
TOKEN = "kad-test-token-3f9a1c"

ADAPTER_CONFIG = f"""\
version: "v1alpha"
prometheus_metric_list:
  - metric_query: "{METRIC}{{job='target'}}"
    predicted_metric_name: "predicted_auth_load"
"""

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: target
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
remote_write:
  - name: tls
    url: {tls}/api/v1/write
    basic_auth: {{username: {user}, password: {password}}}
    tls_config: {{ca_file: {ca}, cert_file: {client_cert}, key_file: {client_key}}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 1s}}
  - name: wrong
    url: {wrong}/api/v1/write
    basic_auth: {{username: {user}, password: not-the-password}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 1s}}
  - name: bearer
    url: {bearer}/api/v1/write
    authorization: {{credentials: {token}}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 1s}}
remote_read:
  - name: tls
    url: {tls}/api/v1/read
    read_recent: true
    basic_auth: {{username: {user}, password: {password}}}
    tls_config: {{ca_file: {ca}, cert_file: {client_cert}, key_file: {client_key}}}
"""


class TargetHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = f'{METRIC}{{pod="p1"}} {100 + time.time() % 7}\n'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def make_certificates(h, openssl):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (EC P-256)."""
    def run(*argv):
        subprocess.run([openssl, *argv], check=True, capture_output=True, timeout=30)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-days", "2", "-subj", "/CN=kad-test-ca",
        "-keyout", h.path("ca.key"), "-out", h.path("ca.crt"))
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        run("req", *key, "-subj", f"/CN=kad-test-{name}", "-keyout", h.path(f"{name}.key"),
            "-out", h.path(f"{name}.csr"))
        run("x509", "-req", "-in", h.path(f"{name}.csr"), "-CA", h.path("ca.crt"),
            "-CAkey", h.path("ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", h.write(f"{name}.ext", ext), "-out", h.path(f"{name}.crt"))
    return "CA, server and client certificates made by openssl"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def tls_context(h, client_cert=True):
    ctx = ssl.create_default_context(cafile=h.path("ca.crt"))
    if client_cert:
        ctx.load_cert_chain(h.path("client.crt"), h.path("client.key"))
    return ctx


def call(url, method="GET", headers=None, context=None):
    """(status, headers, body) of one request; https when context is given."""
    parts = urllib.parse.urlsplit(url)
    if context is not None:
        conn = http.client.HTTPSConnection(parts.netloc, timeout=5, context=context)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=5)
    try:
        conn.request(method, parts.path or "/", headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("WWW-Authenticate"), resp.read().decode()
    finally:
        conn.close()


def wait_authorised_ready(h, url, name, headers, context, deadline):
    h.wait_until(f"{name} ready at {url}",
                 lambda: call(f"{url}/-/ready", headers=headers, context=context)[0] == 200,
                 deadline)
    return f"{name} answers 200 on /-/ready with credentials"


def metric(url, name, headers, context=None):
    status, _, body = call(f"{url}/metrics", headers=headers, context=context)
    if status != 200:
        raise CheckFailed(f"{url}/metrics: HTTP {status}: {body.strip()}")
    return metric_value(body, name)


def check_modelled(h, name, url, headers, context, deadline):
    def probe():
        n = metric(url, "kad_samples_modelled_total", headers, context)
        if not n:
            raise CheckFailed(f"kad_samples_modelled_total is {n}")
        return n

    n = h.wait_until(f"{name} adapter models samples", probe, deadline)
    return f"{name}: Prometheus' remote write got in; {n:.0f} samples modelled"


def check_wrong_password_refused(h, prometheus, wrong, deadline):
    def failed():
        _, body = http_request(f"{prometheus}/metrics")
        for line in body.decode().splitlines():
            if (line.startswith("prometheus_remote_storage_samples_failed_total{")
                    and 'remote_name="wrong"' in line and float(line.rsplit(" ", 1)[1]) > 0):
                return float(line.rsplit(" ", 1)[1])
        return None

    n = h.wait_until("Prometheus counts failed samples for the wrong password", failed, deadline)
    received = metric(wrong, "kad_samples_received_total", {"Authorization": basic(USER, PASSWORD)})
    if received != 0:
        raise CheckFailed(f"the wrong-password adapter received {received} samples")
    return f"wrong password: Prometheus failed {n:.0f} samples (401), adapter received 0"


def check_anonymous_refused(urls, context):
    tried = []
    for url, ctx in ((urls["tls"], context), (urls["wrong"], None)):
        for method, path in (("DELETE", "/api/v1/locks"), ("POST", "/api/v1/retrain"),
                             ("POST", "/-/reload"), ("GET", "/metrics")):
            status, challenge, body = call(url + path, method, context=ctx)
            if status != 401 or not (challenge or "").startswith("Basic") or not body.strip():
                raise CheckFailed(f"anonymous {method} {url}{path}: HTTP {status} "
                                  f"WWW-Authenticate {challenge!r}, body {body!r}")
            tried.append(f"{method} {path}")
        status, _, body = call(url + "/api/v1/retrain", "POST", context=ctx,
                               headers={"Authorization": basic(USER, "guess")})
        if status != 401 or body.strip() != "wrong user name or password":
            raise CheckFailed(f"wrong password on {url}: HTTP {status} {body!r}")
    status, _, _ = call(urls["tls"] + "/api/v1/locks", "DELETE", context=context,
                        headers={"Authorization": basic(USER, PASSWORD)})
    if status == 401:
        raise CheckFailed("DELETE /api/v1/locks with the right password: 401")
    return f"anonymous callers get 401 on {len(tried)} requests; a wrong password gets 401"


def check_tls_refusals(h, tls_url):
    parts = urllib.parse.urlsplit(tls_url)
    refusals = []
    try:  # A TLS 1.3 server reports a missing client certificate after the handshake.
        status = call(f"{tls_url}/-/healthy", context=tls_context(h, client_cert=False),
                      headers={"Authorization": basic(USER, PASSWORD)})[0]
        raise CheckFailed(f"a TLS client without a certificate got HTTP {status}")
    except (ssl.SSLError, ConnectionError, http.client.HTTPException) as e:
        refusals.append(f"no client certificate: {type(e).__name__}")
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = s.recv(100)
        except ConnectionError:
            answer = b""
    if answer.startswith(b"HTTP/"):
        raise CheckFailed(f"plain HTTP to the TLS port got an HTTP answer: {answer!r}")
    refusals.append("plain HTTP: no HTTP answer")
    return "; ".join(refusals)


def check_read_back(h, prometheus, deadline):
    def probe():
        now = time.time()
        doc = api_get(prometheus, "/api/v1/query_range", {
            "query": f'{FORECAST}{{value_type="yhat"}}', "start": f"{now - 60:.3f}",
            "end": f"{now + 1200:.3f}", "step": "15"})
        return sum(1 for s in doc["data"]["result"] for ts, _ in s["values"] if float(ts) > now)

    n = h.wait_until("forecasts read back over TLS with basic auth", probe, deadline)
    return f"remote read over TLS with basic auth: {n} future forecast points"


def run(h, step, args):
    deadline = time.monotonic() + WAIT_SECONDS
    if not step(make_certificates, h, args.openssl):
        return
    users = f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n"
    h.write("tokens", f"# one token a line\n{TOKEN}\n")
    configs = {
        "tls": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
               "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
               + users,
        "wrong": users,
        "bearer": "bearer_tokens_file: tokens\n",
    }
    urls = {}
    for name, web_config in configs.items():
        url = h.start_adapter(name, ADAPTER_CONFIG,
                              [f"--web.config.file={h.write(f'{name}-web.yml', web_config)}"])
        urls[name] = url.replace("http://", "https://") if name == "tls" else url
    ctx = tls_context(h)
    auth = {"tls": {"Authorization": basic(USER, PASSWORD)},
            "wrong": {"Authorization": basic(USER, PASSWORD)},
            "bearer": {"Authorization": f"Bearer {TOKEN}"}}
    for name, url in urls.items():
        if not step(wait_authorised_ready, h, url, name, auth[name],
                    ctx if name == "tls" else None, deadline):
            return
    target_port = h.start_target(TargetHandler)
    prometheus = h.start_prometheus(PROMETHEUS_CONFIG.format(
        target_port=target_port, user=USER, password=PASSWORD, token=TOKEN,
        ca=h.path("ca.crt"), client_cert=h.path("client.crt"), client_key=h.path("client.key"),
        **urls))
    if not step(h.wait_ready, f"{prometheus}/-/ready", "prometheus", deadline):
        return
    step(check_modelled, h, "tls", urls["tls"], auth["tls"], ctx, deadline)
    step(check_modelled, h, "bearer", urls["bearer"], auth["bearer"], None, deadline)
    step(check_wrong_password_refused, h, prometheus, urls["wrong"], deadline)
    step(check_read_back, h, prometheus, deadline)
    step(check_anonymous_refused, urls, ctx)
    step(check_tls_refusals, h, urls["tls"])


def add_arguments(parser):
    parser.add_argument("--openssl", required=True)


if __name__ == "__main__":
    sys.exit(run_test(__doc__, "kad_auth_", run, add_arguments))
