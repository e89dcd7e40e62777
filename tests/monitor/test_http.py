#!/usr/bin/python3
"""rb-ctl serve over HTTP, against a running pipeline: /api/rings and
/api/rings/NAME are what rb-ctl list/info --json say, /metrics is a valid
exposition (promtool check metrics, and a parser of the format) without pid
labels, the newest frame is the ring's, and bad requests (unknown ring,
bad name, wrong method, a huge query string, a flood of connections) get
clear HTTP errors and do not disturb the ring."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monitor_support import Pipeline, Server, ctl_json, wait_for  # noqa: E402

WEB = sys.argv[1]
RING = "mon-http-%d" % os.getpid()
RATE = 200

# The static members of a ring: the same in every snapshot.
GEOMETRY = ["frame_bytes", "frame_type", "elem", "shape", "slot_count", "slot_stride",
            "max_consumers", "max_producers", "segment_bytes", "created_ns"]


def ring_of(listing, name):
    found = [r for r in listing["rings"] if r["name"] == name]
    assert len(found) == 1, listing
    return found[0]


def check_list_and_info(srv):
    before = ring_of(ctl_json("list"), RING)
    served = ring_of(srv.get_json("/api/rings"), RING)
    after = ring_of(ctl_json("list"), RING)
    assert served.keys() == before.keys()
    for k in GEOMETRY:
        assert served[k] == before[k], k
    w = served["producer"]["write_seq"]
    assert before["producer"]["write_seq"] <= w <= after["producer"]["write_seq"]
    assert served["consumers"] == 2

    before = ctl_json("info", RING)
    info = srv.get_json("/api/rings/" + RING)
    after = ctl_json("info", RING)
    assert info.keys() == before.keys()
    for k in GEOMETRY + ["layout", "stream_header"]:
        assert info[k] == before[k], k
    assert before["producer"]["write_seq"] <= info["producer"]["write_seq"] <= \
        after["producer"]["write_seq"]
    got = sorted((c["index"], c["label"], c["mode"], c["pid"]) for c in info["consumers"])
    want = sorted((c["index"], c["label"], c["mode"], c["pid"]) for c in after["consumers"])
    assert got == want, (got, want)


def parse_exposition(text):
    """The text format's rules (HELP/TYPE once per family, before its
    samples; sample lines NAME{LABELS} VALUE): returns {family: samples}."""
    families, current, types = {}, None, {}
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    sample_re = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (\S+)$" % (name_re, label_re, label_re))
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in families, "family twice: " + name
            families[name] = []
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current and kind in ("gauge", "counter"), line
            types[name] = kind
        elif line.startswith("#"):
            continue
        else:
            m = sample_re.match(line)
            assert m, "bad sample line: " + line
            assert m.group(1) == current, "sample outside its family: " + line
            float(m.group(3))
            families[current].append((m.group(2) or "", float(m.group(3))))
    assert types.keys() == families.keys()
    return families


def check_metrics(srv):
    status, headers, body = srv.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    families = parse_exposition(text)
    assert 'pid="' not in text, "a pid label in /metrics without --pid-labels"
    seq = [v for labels, v in families["ringbuf_write_seq"] if labels == '{ring="%s"}' % RING]
    assert len(seq) == 1 and seq[0] > 0
    assert any('ring="%s"' % RING in labels for labels, _ in
               families["ringbuf_consumer_frames_total"])
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    else:
        print("promtool not installed: checked with the format parser only")


def check_frame(srv):
    info = ctl_json("info", RING)
    status, headers, body = srv.get("/api/rings/%s/frame" % RING)
    assert status == 200, body
    assert headers["X-Ring-Elem"] == "i16" and headers["X-Ring-Shape"] == "1024,4"
    assert len(body) == info["frame_bytes"] == int(headers["X-Ring-Length"])
    assert int(headers["X-Ring-Seq"]) >= info["producer"]["write_seq"] - 1
    samples = [int.from_bytes(body[i:i + 2], "little", signed=True)
               for i in range(0, len(body), 2)]
    # The adc source: sines of amplitude 10000 plus a little noise.
    assert 5000 < max(samples) < 12000 and -12000 < min(samples) < -5000
    # The snapshot's lossy consumer is gone once the answer is sent.
    wait_for("the snapshot consumer to detach",
             lambda: len(ctl_json("info", RING)["consumers"]) == 2)
    # Snapshots as fast as they come never hold the producer back.
    start = ctl_json("info", RING)["producer"]["write_seq"]
    t0 = time.monotonic()
    seqs = []
    for _ in range(100):
        status, headers, _ = srv.get("/api/rings/%s/frame" % RING)
        assert status == 200
        seqs.append(int(headers["X-Ring-Seq"]))
    info = ctl_json("info", RING)
    elapsed = time.monotonic() - t0
    assert seqs == sorted(seqs), "the newest frame went back in time"
    assert info["producer"]["write_seq"] - start >= RATE * elapsed * 0.5 - 5
    assert info["producer"]["frames_dropped"] == 0
    assert [c["lost"] for c in info["consumers"] if c["mode"] == "lossless"] == [0]
    wait_for("the snapshot consumers to detach",
             lambda: len(ctl_json("info", RING)["consumers"]) == 2)


def check_bad_requests(srv):
    status, headers, body = srv.get("/api/rings/no-such-ring-%d" % os.getpid())
    assert status == 404 and b"no such ring" in body, (status, body)
    assert headers["Content-Type"] == "application/json"
    for bad in ["/api/rings/..", "/api/rings/a%20b", "/api/rings/" + "x" * 300]:
        status, _, body = srv.get(bad)
        assert status == 400 and b"not a valid ring name" in body, (bad, status, body)
    status, _, body = srv.get("/api/rings/%s/nothing" % RING)
    assert status == 404, status
    status, _, _ = srv.get("/api/rings/no-such-ring/frame")
    assert status == 404
    status, _, _ = srv.get("/nothing-here")
    assert status == 404
    for method in ["POST", "PUT", "DELETE"]:
        status, headers, body = srv.get("/api/rings/" + RING, method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD", (method, status)
    status, headers, body = srv.get("/api/rings/" + RING, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    status, _, _ = srv.get("/api/rings?" + "q" * 200000)
    assert status in (414, 431), status


def check_flood(srv):
    """Many connections at once: each gets an answer (200 or 503 "too many
    connections") or is closed by the server; none hangs, the server goes on
    answering, and the ring goes on at its rate."""
    start = ctl_json("info", RING)["producer"]["write_seq"]
    t0 = time.monotonic()
    socks = []
    for _ in range(150):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
        socks.append(s)
    # Wait until the server holds more than its 48 busy connections (its
    # listening socket and at least 49 accepted ones), so 503 must come.
    def accepted():
        fds = "/proc/%d/fd" % srv.proc.pid
        n = 0
        for fd in os.listdir(fds):
            try:
                n += os.readlink(os.path.join(fds, fd)).startswith("socket:")
            except OSError:
                pass
        return n >= 50
    wait_for("the server to accept 49 connections", accepted, timeout=20)
    answers = {"200": 0, "503": 0, "closed": 0}
    for s in socks:
        try:
            s.sendall(b"GET /api/rings HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
    for s in socks:
        try:
            head = s.recv(64)
        except ConnectionResetError:
            head = b""
        if head.startswith(b"HTTP/1.1 200"):
            answers["200"] += 1
        elif head.startswith(b"HTTP/1.1 503"):
            answers["503"] += 1
        else:
            assert head == b"", head
            answers["closed"] += 1
        s.close()
    print("150 connections at once:", answers)
    assert answers["503"] > 0
    status, _, _ = srv.get("/api/rings")
    assert status == 200
    info = ctl_json("info", RING)
    elapsed = time.monotonic() - t0
    # Paced at RATE; the flood must not have stopped it.
    assert info["producer"]["write_seq"] - start >= RATE * elapsed * 0.5 - 5, (
        info["producer"]["write_seq"] - start, elapsed)
    assert info["producer"]["frames_dropped"] == 0
    for c in info["consumers"]:
        if c["mode"] == "lossless":
            assert c["lost"] == 0


def main():
    pipe = Pipeline()
    srv = None
    try:
        pipe.producer(RING, "--source", "adc", "--rate", str(RATE), "--duration", "120s")
        pipe.consumer(RING, RING, "stats")
        pipe.consumer(RING, "--lossy", RING, "verify", count=2)
        srv = Server(WEB)
        for check in [check_list_and_info, check_metrics, check_frame, check_bad_requests,
                      check_flood]:
            check(srv)
            print("ok:", check.__name__)
    finally:
        if srv:
            srv.stop()
        pipe.stop()


if __name__ == "__main__":
    main()
