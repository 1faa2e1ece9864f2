#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets in tests/fuzz/corpus/<target>/.

    python3 tests/fuzz/make_corpus.py

Seeds are small, valid-looking inputs that reach deep into each parser; the
fuzzer mutates from there. Protobuf and snappy are encoded by hand here
(standard library only). Files named crash-* in those folders are inputs
that once failed a target (tests/fuzz/README.md says which and why):
regression tests, kept as found, never written by this script.
"""

import os
import random
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))


def varint(n):
    n &= (1 << 64) - 1  # negative int64 values take ten bytes, as in protobuf
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(field, wire_type):
    return varint(field << 3 | wire_type)


def vint(field, n):
    return tag(field, 0) + varint(n)


def ld(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(field, 2) + varint(len(payload)) + payload


def f64(field, bits):
    return tag(field, 1) + struct.pack("<Q", bits)


def double(field, x):
    return f64(field, struct.unpack("<Q", struct.pack("<d", x))[0])


def snappy_literals(raw):
    """A valid snappy block made of literals only."""
    out = bytearray(varint(len(raw)))
    for i in range(0, len(raw), 60):
        chunk = raw[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


# prometheus.WriteRequest pieces (proto/prometheus/*.proto).
def label(name, value):
    return ld(1, ld(1, name) + ld(2, value))


def sample(value, t):
    return ld(2, double(1, value) + vint(2, t))


STALE_NAN = 0x7FF0000000000002


def write_request_seeds():
    up = ld(1, label("__name__", "up") + label("job", "node") + sample(1.0, 1700000000000))
    many = b"".join(
        ld(1, label("__name__", "node_load1") + label("instance", "10.0.0.%d:9100" % i) +
           sample(0.25 * i, 1700000000000 + 15000 * i) + sample(-0.0, -5000)) for i in range(4))
    odd_values = ld(1, label("__name__", "x") + ld(2, f64(1, STALE_NAN) + vint(2, 1)) +
                    sample(float("-inf"), 2) + sample(float("nan"), 3))
    exemplar = ld(3, ld(1, ld(1, "trace_id") + ld(2, "abc")) + double(2, 1.5) + vint(3, 7))
    histogram = ld(4, vint(1, 10) + double(3, 12.5) + tag(4, 0) + varint(2**64 - 2))
    with_extras = ld(1, label("__name__", "rpc_seconds") + exemplar + histogram)
    metadata = ld(3, vint(1, 2) + ld(2, "node_load1") + ld(4, "Load.") + ld(5, "")) + ld(
        3, vint(1, 42) + ld(2, "future"))
    unknown = (vint(90, 12345678901) + tag(91, 5) + b"\xef\xbe\xad\xde" + f64(92, 1) +
               ld(2, "reserved") + ld(1, label("a", "b") + vint(99, 1) + sample(2.0, 9)))
    v2 = ld(4, "") + ld(4, "__name__") + ld(4, "up") + ld(5, ld(1, b"\x01\x02"))
    return {
        "one_series": up,
        "four_series": many,
        "stale_nan_inf": odd_values,
        "exemplar_histogram": with_extras,
        "metadata": metadata,
        "unknown_fields": unknown,
        "remote_write_2": v2,
    }


# io.prometheus.write.v2.Request pieces (proto/prometheus/write_v2.proto).
def v2_series(refs, samples=b"", extra=b""):
    return ld(5, ld(1, b"".join(varint(r) for r in refs)) + samples + extra)


def v2_sample(value, t):
    return ld(2, double(1, value) + vint(2, t))


def write_request_v2_seeds():
    symbols = b"".join(ld(4, s) for s in ["", "__name__", "up", "job", "node", "http_total"])
    counter = ld(5, vint(1, 1) + vint(3, 0) + vint(4, 0))
    return {
        "one_series": symbols + v2_series([1, 2, 3, 4], v2_sample(1.0, 1700000000000)),
        "counter_metadata": symbols + v2_series(
            [1, 5, 3, 4], v2_sample(3.0, 1700000000000) + v2_sample(4.0, 1700000015000),
            counter + vint(6, 1699999999000)),
        "ref_out_of_range": symbols + v2_series([1, 2, 3, 40], v2_sample(1.0, 1)),
        "odd_refs": symbols + v2_series([1, 2, 3], v2_sample(1.0, 1)),
        "symbols_after_series": v2_series([1, 2], v2_sample(2.0, 5)) + symbols,
    }


def snappy_seeds():
    text = b"http_requests_total{code=\"200\"} " * 3
    copies = (varint(24) + bytes([(6 - 1) << 2]) + b"abcdef" +
              bytes([((11 - 4) << 2) | 1, 6]) +     # copy, 1-byte offset
              bytes([((7 - 1) << 2) | 2, 6, 0]))    # copy, 2-byte offset
    return {
        "literals": snappy_literals(text),
        "copies": copies,
        "empty": varint(0),
        "declares_4gib": varint(2**32) + b"\x00a",
        "plain_text": text,  # raw bytes: round-tripped, refused as snappy
    }


def remote_read_seeds():
    eq = ld(3, vint(1, 0) + ld(2, "__name__") + ld(3, "up"))
    regex = ld(3, vint(1, 2) + ld(2, "job") + ld(3, "node.*"))
    not_regex = ld(3, vint(1, 3) + ld(2, "instance") + ld(3, "10\\..*|[a-z]+:9100"))
    query = ld(1, vint(1, 1700000000000) + vint(2, 1700003600000) + eq + regex)
    series = ld(1, vint(1, 0) + vint(2, 10**13) + eq + not_regex +
                ld(4, vint(1, 15000) + ld(2, "series")))
    streamed = query + ld(2, b"\x01\x00")  # packed [STREAMED_XOR_CHUNKS, SAMPLES]
    return {
        # Posted as is and snappy-compressed by the target.
        "one_query": query,
        "streamed_two_queries": streamed + series,
        "series_hint": series,
        "snappy_one_query": snappy_literals(query),
    }


def config_seeds():
    def read(name):
        with open(os.path.join(REPO, "examples", name), "rb") as f:
            return f.read()

    minimal = b'version: "v1alpha"\nprometheus_metric_list:\n  - metric_query: up\n' \
              b'    predicted_metric_name: predicted_up\n'
    python_activity = (b'activities:\n  - name: predicted_up_holt_winters\n    command:\n'
                       b'      python_file: act.py\n      args: ["{{ labels.pod }}", "{{ value }}"]\n'
                       b'    command.interpreter: python3\n    timeout: 5s\n'
                       b'    lock_scope: activity\n    max_concurrent: 2\n')
    models = (b'prometheus_metric_list:\n'
              b'  - metric_query: "irate(x_total{a!=\'\', b!~\\"c|d\\"}[30s])"\n'
              b'    predicted_metric_name: p\n    forecast_horizon: 90m\n'
              b'    models:\n      - kind: holt_winters\n'
              b'        args: {season: 1h, band_sigmas: 2.5}\n'
              b'forecast_horizon: 2h\nretrain_scheduling_seconds: 60\n')
    return {
        "examples": read("environment.yaml") + b"\0" + read("activities.yaml"),
        "minimal": minimal,
        "python_activity": minimal + b"\0" + python_activity,
        "models_and_rate": models,
        "one_file_both_keys": minimal + python_activity,
    }


def selector_seeds():
    return {
        "name": b"up",
        "matchers": b"http_requests_total{code=~'5..', method!=\"GET\", job=`api`,}",
        "escapes": b'{__name__="x", a="\\"\\\\\\n\\t\\x41\\u00e9"}',
        "rate": b"rate(http_requests_total{code=~'5..'}[5m])",
        "irate": b"irate( node_cpu_seconds_total { mode != 'idle' } [1h30m] )",
        "match_everything": b'{job=~".*"}',
    }


def xor_chunk_seeds():
    # The target reads its choices with FuzzedDataProvider, so random bytes
    # are as good a seed as any; a fixed seed keeps them reproducible.
    rng = random.Random(7)
    seeds = {"zeros_%d" % n: bytes(n) for n in (16, 600)}
    for n in (24, 200, 2000):
        seeds["random_%d" % n] = bytes(rng.randrange(256) for _ in range(n))
    return seeds


def main():
    for target, seeds in [("write_request", write_request_seeds()),
                          ("write_request_v2", write_request_v2_seeds()), ("snappy", snappy_seeds()),
                          ("remote_read", remote_read_seeds()), ("config", config_seeds()),
                          ("selector", selector_seeds()), ("xor_chunk", xor_chunk_seeds())]:
        folder = os.path.join(ROOT, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
