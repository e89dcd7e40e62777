#!/usr/bin/env python3
"""rb-bridge end to end, between two "machines" the test makes itself.

Two network namespaces joined by a veth pair (10.77.1.1 <-> 10.77.1.2),
each side with its own /dev/shm (a tmpfs of its own, bind-mounted over
/dev/shm in a private mount namespace for every command of that side), so
the only way a frame gets across is the network. Where namespaces cannot
be made (not root, no netns support) the sides run on this machine over
loopback, and the test says so on its first line.

Usage: test_bridge.py CASE   (stream, restarts, relay, group, security, pub, lossy)
Everything made (namespaces, veths, mounts, processes, rings) is removed
at the end, pass or fail. Every wait is bounded.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("RB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BRIDGE = os.path.join(BUILD, "bridge", "rb-bridge")
PRODUCER = os.path.join(BUILD, "producer", "rb-producer")
CONSUMER = os.path.join(BUILD, "consumer", "rb-consumer")
CTL = os.path.join(BUILD, "tools", "ctl", "rb-ctl")
TAG = "rbbr%d" % os.getpid()
ENV = dict(os.environ, RB_STATUS="never")


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("  ok: " + what, flush=True)


class Machines:
    """Side "a" (near) and side "b" (far)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="rb-test-bridge-")
        self.procs = []
        self.netns = False
        self.mounts = []
        self.shm = {}
        try:
            self._make_netns()
            self.netns = True
        except (subprocess.CalledProcessError, OSError) as e:
            self._undo_netns()
            print("bridge: network namespaces not available (%s): LOOPBACK, one machine" % e,
                  flush=True)
        if self.netns:
            print("bridge: two network namespaces %s-a, %s-b over a veth pair, "
                  "private /dev/shm each" % (TAG, TAG), flush=True)
            self.addr = {"a": "10.77.1.1", "b": "10.77.1.2"}
        else:
            self.addr = {"a": "127.0.0.1", "b": "127.0.0.1"}

    def _sh(self, *argv):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _make_netns(self):
        if os.geteuid() != 0:
            raise OSError("not root")
        for side in "ab":
            d = os.path.join(self.tmp, "shm-" + side)
            os.mkdir(d)
            self._sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=1777", "tmpfs", d)
            self.mounts.append(d)
            self.shm[side] = d
        self._sh("ip", "netns", "add", TAG + "-a")
        self._sh("ip", "netns", "add", TAG + "-b")
        self._sh("ip", "link", "add", TAG + "a", "type", "veth", "peer", "name", TAG + "b")
        for side, ip in (("a", "10.77.1.1"), ("b", "10.77.1.2")):
            ns = TAG + "-" + side
            self._sh("ip", "link", "set", TAG + side, "netns", ns)
            self._sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", TAG + side)
            self._sh("ip", "-n", ns, "link", "set", TAG + side, "up")
            self._sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _undo_netns(self):
        for side in "ab":
            subprocess.run(["ip", "netns", "del", TAG + "-" + side],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for d in self.mounts:
            subprocess.run(["umount", "-l", d], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.mounts = []

    def argv(self, side, argv):
        if not self.netns:
            return argv
        return ["ip", "netns", "exec", TAG + "-" + side, "unshare", "-m", "sh", "-c",
                'mount --bind "$0" /dev/shm && exec "$@"', self.shm[side]] + argv

    def start(self, side, argv, name):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen(self.argv(side, argv), stdout=out, stderr=err, env=ENV)
        p.name = name
        self.procs.append(p)
        return p

    def run(self, side, argv, timeout=120):
        return subprocess.run(self.argv(side, argv), capture_output=True, text=True,
                              timeout=timeout, env=ENV)

    def link(self, up):
        if self.netns:
            self._sh("ip", "-n", TAG + "-a", "link", "set", TAG + "a", "up" if up else "down")

    def output(self, name):
        with open(os.path.join(self.tmp, name + ".out")) as f:
            return f.read()

    def errors(self, name):
        with open(os.path.join(self.tmp, name + ".err")) as f:
            return f.read()

    def json_of(self, name):
        for line in self.output(name).splitlines():
            if line.startswith("{"):
                return json.loads(line)
        raise Fail("%s: no JSON summary; stderr: %s" % (name, self.errors(name)[-2000:]))

    def wait(self, p, timeout):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("%s did not end within %d s; stderr: %s" %
                       (p.name, timeout, self.errors(p.name)[-2000:]))

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if not self.netns:
            for n in os.listdir("/dev/shm"):
                if TAG in n:
                    os.unlink(os.path.join("/dev/shm", n))
        self._undo_netns()
        shutil.rmtree(self.tmp, ignore_errors=True)


def poll_until(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise Fail("timed out after %d s waiting for %s" % (timeout, what))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ring_info(m, side, ring):
    r = m.run(side, [CTL, "info", "--json", ring], timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 else None


def write_seq(m, side, ring):
    r = m.run(side, [CTL, "stat", ring], timeout=30)
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        if k == "write_seq":
            return int(v)
    return 0


def verify_far(m, ring, frames, name="verify"):
    r = m.run("b", [CONSUMER, "--json", ring, "verify"], timeout=300)
    v = json.loads(r.stdout.splitlines()[0]) if r.stdout.startswith("{") else {}
    check(r.returncode == 0, "%s: rb-consumer verify on the far ring exits 0 (%d; %s)" %
          (name, r.returncode, r.stderr.strip()[-300:]))
    check(v.get("gaps") == 0 and v.get("errors") == 0,
          "%s: 0 gaps, 0 errors (gaps %s, errors %s)" % (name, v.get("gaps"), v.get("errors")))
    check(v.get("frames") == frames and v.get("checked_frames") == frames,
          "%s: exactly %d frames, every byte checked (frames %s, checked %s)" %
          (name, frames, v.get("frames"), v.get("checked_frames")))
    return v


def case_stream(m):
    """(a) 1,000,000 counter frames of 256 B, near -> far, verified."""
    n = 1000000
    port = 5555 if m.netns else free_port()
    near, far = "rb-test-%s-near" % TAG, "rb-test-%s-far" % TAG
    ep = "tcp://%s:%d" % (m.addr["b"], port)
    recv = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--slots", "1048576", ep, far], "recv")
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "65536", "-c", str(n), "-W", "1",
                         "--keep", "--json", near], "producer")
    send = m.start("a", [BRIDGE, "send", "--json", "-w", "30s", near, ep], "send")
    labels = poll_until("the bridge's consumer in rb-ctl info",
                        lambda: [c.get("label") for c in (ring_info(m, "a", near) or {})
                                 .get("consumers", []) if str(c.get("label", "")).startswith("bridge")],
                        60)
    check(labels[0] == "bridge %s:%d" % (m.addr["b"], port),
          "rb-ctl info names the endpoint in the consumer label (%s)" % labels[0])
    for p in (send, prod, recv):
        check(m.wait(p, 600) == 0, "%s exits 0" % p.name)
    s, r = m.json_of("send"), m.json_of("recv")
    check(s["frames"] == n and s["end"] == "eos" and s["lost"] == 0,
          "sender: %d frames acknowledged, end of stream, 0 lost (%s frames, %s retransmits, "
          "%.1f MB/s)" % (n, s["frames"], s["retransmits"], s["bytes_per_second"] / 1e6))
    check(r["frames"] == n and r["duplicates"] == 0 and r["markers"] == 1,
          "receiver: %d frames, 0 duplicates, the end marker" % n)
    verify_far(m, far, n)
    a, b = ring_info(m, "a", near), ring_info(m, "b", far)
    for k in ("frame_bytes", "frame_type", "elem", "shape", "initial_seq"):
        check(a[k] == b[k], "far ring's %s equals the near one's (%s)" % (k, a[k]))
    want = a["stream_header"]["text"] + "bridge_origin=%s:%s\n" % (socket.gethostname(), near)
    check(b["stream_header"]["text"] == want,
          "far stream header = near header + bridge_origin line")


def case_restarts(m):
    """(b) receiver kill -9 + restart, sender kill -9 + restart, link down 2 s."""
    n = 200000
    port = 5556 if m.netns else free_port()
    near, far = "rb-test-%s-near" % TAG, "rb-test-%s-far" % TAG
    ep = "tcp://%s:%d" % (m.addr["b"], port)
    recv_argv = [BRIDGE, "recv", "--attach", "--keep", "--json", "--slots", "262144", ep, far]
    send_argv = [BRIDGE, "send", "--json", "-w", "30s", "--ack-timeout", "500ms", near, ep]
    recv = m.start("b", recv_argv, "recv1")
    # 20 kHz for 10 s; the near ring holds all 200,000 frames, so a killed
    # sender's unacknowledged frames are still there for the next one
    # (docs/BRIDGE.md, "Sender killed").
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "262144", "-c", str(n), "-r", "20kHz",
                         "-W", "1", "--keep", "--json", near], "producer")
    send = m.start("a", send_argv, "send1")
    # The far ring's verify runs all along, slower than the stream (200 us a
    # frame): a consumer attached later would start at the stream the
    # restarted receiver begins, and one that caught up while the far
    # producer was dead would (rightly) stop there.
    verify = m.start("b", [CONSUMER, "--json", "-w", "60s", "--delay-per-frame", "200us", far,
                           "verify"], "verify")

    def progress(k):
        base = write_seq(m, "b", far)
        poll_until("%d more frames on the far ring" % k,
                   lambda: write_seq(m, "b", far) >= base + k, 120)

    progress(20000)
    recv.kill()
    recv.wait(timeout=30)
    print("  killed the receiver (kill -9) at far write_seq %d" % write_seq(m, "b", far), flush=True)
    recv = m.start("b", recv_argv, "recv2")
    progress(20000)
    send.kill()
    send.wait(timeout=30)
    print("  killed the sender (kill -9) at far write_seq %d" % write_seq(m, "b", far), flush=True)
    send = m.start("a", send_argv, "send2")
    progress(20000)
    m.link(False)
    print("  link down at far write_seq %d" % write_seq(m, "b", far), flush=True)
    time.sleep(2.0)  # the outage itself is what is tested: 2 s, as specified
    m.link(True)
    print("  link up at far write_seq %d" % write_seq(m, "b", far), flush=True)
    for p in (send, prod, recv):
        check(m.wait(p, 600) == 0, "%s exits 0" % p.name)
    s2, r2 = m.json_of("send2"), m.json_of("recv2")
    print("  sender 2: %d frames, %d skipped (already there), %d retransmits, %d rewinds; "
          "receiver 2: resumed after %s, %d duplicates, %d chain breaks" %
          (s2["frames"], s2["skipped"], s2["retransmits"], s2["rewinds"], r2["resumed_after"],
           r2["duplicates"], r2["chain_breaks"]), flush=True)
    check(s2["lost"] == 0 and r2["lost"] == 0, "nothing counted lost")
    check(s2["end"] == "eos" and r2["end"] == "eos", "both ended at the end of the stream")
    check(m.wait(verify, 300) == 0, "far verify exits 0")
    v = m.json_of("verify")
    check(v["gaps"] == 0 and v["errors"] == 0, "far verify: 0 gaps, 0 errors")
    check(v["frames"] == n and v["checked_frames"] == n and v["first_seq"] == 0,
          "far verify: exactly %d frames from seq 0, every byte checked (%d)" % (n, v["frames"]))
    check(write_seq(m, "b", far) == n + 1, "far write_seq = %d frames + 1 end marker: "
          "the seqs are the near ones, none twice" % n)


def case_relay(m):
    """(c) every message delayed 10 ms, the connection cut at random moments."""
    n = 50000
    near, far = "rb-test-%s-near" % TAG, "rb-test-%s-far" % TAG
    up = free_port() if not m.netns else 5560
    lport = free_port() if not m.netns else 6000
    relay = m.start("b", [sys.executable, os.path.join(os.path.dirname(__file__), "relay.py"),
                          "%s:%d" % (m.addr["b"], lport), "127.0.0.1:%d" % up, "0.010", "6",
                          str(os.getpid())], "relay")
    poll_until("the relay", lambda: "relay listening" in m.output("relay"), 60)
    recv = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--slots", "65536",
                         "tcp://127.0.0.1:%d" % up, far], "recv")
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "65536", "-c", str(n), "-r", "10kHz",
                         "-W", "1", "--keep", "--json", near], "producer")
    send = m.start("a", [BRIDGE, "send", "--json", "-w", "30s", "--ack-timeout", "500ms", near,
                         "tcp://%s:%d" % (m.addr["b"], lport)], "send")
    for p in (send, prod, recv):
        check(m.wait(p, 600) == 0, "%s exits 0" % p.name)
    relay.terminate()
    m.wait(relay, 30)
    s, r = m.json_of("send"), m.json_of("recv")
    print("  %s; sender: %.1f kB/s, %d retransmits, %d rewinds, rtt %.1f ms; receiver: "
          "%d duplicates, %d chain breaks, %d sessions" %
          (m.output("relay").splitlines()[-1], s["bytes_per_second"] / 1e3, s["retransmits"],
           s["rewinds"], s["rtt_ms"], r["duplicates"], r["chain_breaks"], r["sessions"]), flush=True)
    check("relay: 0 cuts" not in m.output("relay"), "the relay cut the connection")
    check(s["rtt_min_ms"] >= 20.0, "every round trip took the relay's 2 x 10 ms at least "
          "(min %.1f ms)" % s["rtt_min_ms"])
    check(s["lost"] == 0 and r["lost"] == 0, "nothing counted lost")
    verify_far(m, far, n)
    check(write_seq(m, "b", far) == n + 1, "far write_seq = %d frames + 1 end marker" % n)


def case_security(m):
    """(e) a wrong CURVE key is refused and counted; garbage is counted."""
    port = 5557 if m.netns else free_port()
    near, far = "rb-test-%s-near" % TAG, "rb-test-%s-far" % TAG
    ep = "tcp://%s:%d" % (m.addr["b"], port)
    keys = os.path.join(m.tmp, "keys")
    os.mkdir(keys)
    for who in ("server", "client", "stranger"):
        r = subprocess.run([BRIDGE, "keygen", os.path.join(keys, who)], capture_output=True)
        check(r.returncode == 0, "rb-bridge keygen %s" % who)
    check(os.stat(os.path.join(keys, "server.key")).st_mode & 0o077 == 0, "NAME.key is mode 0600")
    k = lambda n: os.path.join(keys, n)
    recv = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--curve-key", k("server.key"),
                         "--curve-peer", k("client.pub"), ep, far], "recv")
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "4096", "-c", "1000", "-W", "1", "--keep",
                         "--json", near], "producer")
    # Garbage: bytes that are no ZMTP, twice.
    for i in range(2):
        r = m.run("a", [sys.executable, "-c",
                        "import socket,os,time;s=socket.create_connection(('%s',%d));"
                        "s.sendall(os.urandom(4096));time.sleep(0.2);s.close()" %
                        (m.addr["b"], port)], timeout=60)
    bad = m.start("a", [BRIDGE, "send", "--json", "-d", "3s", "--curve-key", k("stranger.key"),
                        "--curve-peer", k("server.pub"), near, ep], "send-stranger")
    check(m.wait(bad, 60) == 0, "a sender with a key not admitted gives up after its duration")
    check(m.json_of("send-stranger")["frames"] == 0, "... having delivered nothing")
    good = m.start("a", [BRIDGE, "send", "--json", "--curve-key", k("client.key"),
                         "--curve-peer", k("server.pub"), near, ep], "send")
    for p in (good, prod, recv):
        check(m.wait(p, 120) == 0, "%s exits 0" % p.name)
    r = m.json_of("recv")
    check(r["refused"] >= 1, "the receiver counted the refused key (refused %d)" % r["refused"])
    check(r["garbage"] >= 2, "the receiver counted the garbage connections (garbage %d)" % r["garbage"])
    check(r["frames"] == 1000, "and still took the admitted sender's 1000 frames")
    verify_far(m, far, 1000)


def case_group(m):
    """(d) two members of one group, each to its own far ring: each frame on exactly one."""
    n = 100000
    near = "rb-test-%s-near" % TAG
    p1, p2 = (5558, 5559) if m.netns else (free_port(), free_port())
    e1, e2 = "tcp://%s:%d" % (m.addr["b"], p1), "tcp://%s:%d" % (m.addr["b"], p2)
    f1, f2 = "rb-test-%s-far1" % TAG, "rb-test-%s-far2" % TAG
    r1 = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--slots", "131072", e1, f1], "recv1")
    r2 = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--slots", "131072", e2, f2], "recv2")
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "8192", "-c", str(n), "-W", "2", "--keep",
                         "--json", near], "producer")
    s1 = m.start("a", [BRIDGE, "send", "--json", "-g", "share", "-w", "30s", near, e1], "send1")
    s2 = m.start("a", [BRIDGE, "send", "--json", "-g", "share", "-w", "30s", near, e2], "send2")
    check(m.wait(prod, 300) == 0, "producer exits 0")
    for p in (s1, s2, r1, r2):
        check(m.wait(p, 300) == 0, "%s exits 0" % p.name)
    seqs = []
    for f in (f1, f2):
        r = subprocess.run(m.argv("b", [CONSUMER, f, "stdout"]), capture_output=True,
                           timeout=300, env=ENV)
        data = r.stdout
        check(len(data) % 256 == 0, "%s: whole 256-byte frames" % f)
        inv = pow(0x9E3779B97F4A7C15, -1, 1 << 64)
        got = set()
        for off in range(0, len(data), 256):
            w0 = int.from_bytes(data[off:off + 8], "little")
            got.add((w0 * inv) % (1 << 64))
        seqs.append(got)
    a, b = seqs
    print("  far rings: %d and %d frames" % (len(a), len(b)), flush=True)
    check(not (a & b), "no frame on both far rings")
    check(a | b == set(range(n)), "every one of the %d frames on one of them" % n)


def case_pub(m):
    """(f) --pub to three --sub, one of them late: each far ring verified
    whole, and for each subscriber frames + lost == published, exactly."""
    n = 100000
    port = 5561 if m.netns else free_port()
    near = "rb-test-%s-near" % TAG
    ep = "tcp://%s:%d" % (m.addr["a"], port)
    fars = ["rb-test-%s-sub%d" % (TAG, i) for i in (1, 2, 3)]
    # A queue (--hwm) for every frame of the run: once connected, nothing
    # is dropped however loaded the machine is, so the far seqs stay the
    # near ones and rb-consumer verify checks every byte (a loss in the
    # middle would shift them: docs/BRIDGE.md, "Fan-out").
    hwm = ["--hwm", str(2 * n)]
    sub_argv = lambda far: [BRIDGE, "recv", "--sub", "--keep", "--json", "-d", "120s",
                            "--slots", "131072"] + hwm + [ep, far]
    subs = [m.start("b", sub_argv(f), "sub%d" % (i + 1)) for i, f in enumerate(fars[:2])]
    pub = m.start("a", [BRIDGE, "send", "--pub", "--json", "-w", "30s"] + hwm + [near, ep], "pub")
    # 20 kHz for 5 s: the early subscribers keep up; the late one joins
    # after 20,000 frames at least, so it misses those.
    prod = m.start("a", [PRODUCER, "-f", "256", "-n", "65536", "-c", str(n), "-r", "20kHz",
                         "-W", "1", "--keep", "--json", near], "producer")
    poll_until("20,000 frames on the near ring", lambda: write_seq(m, "a", near) >= 20000, 120)
    subs.append(m.start("b", sub_argv(fars[2]), "sub3"))
    for p in [prod, pub] + subs:
        check(m.wait(p, 300) == 0, "%s exits 0" % p.name)
    pj = m.json_of("pub")
    check(pj["published"] == n and pj["lost"] == 0 and pj["torn"] == 0 and pj["end"] == "eos",
          "publisher: %d frames published, 0 lost, 0 torn, end of stream (%s)" %
          (n, pj["published"]))
    check(pj["subscriptions"] >= 3, "publisher: saw the 3 subscriptions (%d)" % pj["subscriptions"])
    for i, far in enumerate(fars):
        name = "sub%d" % (i + 1)
        r = m.json_of(name)
        print("  %s: %d frames, %d lost (%d waiting for the header), %d bad" %
              (name, r["frames"], r["lost"], r["waiting_for_header"], r["bad_messages"]), flush=True)
        check(r["end"] == "eos" and r["markers"] == 1, "%s: saw the end of the stream" % name)
        check(r["published"] == n and r["frames"] + r["lost"] == n,
              "%s: frames + lost = %d published, exactly (%d + %d)" %
              (name, n, r["frames"], r["lost"]))
        check(r["upstream_lost"] == 0 and r["bad_messages"] == 0,
              "%s: nothing lost at the publisher, no bad message" % name)
        v = verify_far(m, far, r["frames"], name)
        check(v["dropped_at_producer"] == r["lost"],
              "%s: the far ring's consumers see the %d lost as dropped_at_producer (%d)" %
              (name, r["lost"], v["dropped_at_producer"]))
        check(v["first_seq"] + r["frames"] == n, "%s: the far seqs are the near ones (%d .. %d)" %
              (name, v["first_seq"], v["last_seq"]))
    late = m.json_of("sub3")
    check(late["lost"] >= 20000, "the late subscriber lost the frames before it joined (%d)" %
          late["lost"])


def counter_frames(data, size):
    """The near seq of each counter frame in data (frames of `size` bytes),
    and how many frames are not wholly one seq's counter pattern (torn):
    word w of seq s's frame is s * 0x9E3779B97F4A7C15 + w."""
    import struct
    mask, inv = (1 << 64) - 1, pow(0x9E3779B97F4A7C15, -1, 1 << 64)
    fmt, seqs, torn, want = "<%dQ" % (size // 8), [], 0, list(range(size // 8))
    for off in range(0, len(data), size):
        words = struct.unpack_from(fmt, data, off)
        w0 = words[0]
        seqs.append((w0 * inv) & mask)
        if [(x - w0) & mask for x in words] != want:
            torn += 1
    return seqs, torn


def case_lossy(m):
    """(g) a producer far faster than a lossy sender laps it all the time:
    no torn frame reaches the far ring, and frames + lost add up."""
    n, size = 200000, 1024
    port = 5562 if m.netns else free_port()
    near, far = "rb-test-%s-near" % TAG, "rb-test-%s-far" % TAG
    ep = "tcp://%s:%d" % (m.addr["b"], port)
    recv = m.start("b", [BRIDGE, "recv", "--keep", "--json", "--slots", "262144", ep, far], "recv")
    # 16 slots at 50 kHz: each slot is overwritten every 320 us, while the
    # sender and ZeroMQ's I/O thread still handle it.
    prod = m.start("a", [PRODUCER, "-f", str(size), "-n", "16", "-c", str(n), "-r", "50kHz",
                         "-W", "1",
                         "--keep", "--json", near], "producer")
    send = m.start("a", [BRIDGE, "send", "--lossy", "--json", "-w", "30s", near, ep], "send")
    for p in (prod, send, recv):
        check(m.wait(p, 300) == 0, "%s exits 0" % p.name)
    s, r = m.json_of("send"), m.json_of("recv")
    out = subprocess.run(m.argv("b", [CONSUMER, far, "stdout"]), capture_output=True,
                         timeout=300, env=ENV).stdout
    check(len(out) == r["frames"] * size, "the far ring holds the %d frames received" % r["frames"])
    seqs, torn = counter_frames(out, size)
    print("  sender: %d sent, %d lost, %d torn (not sent); receiver: %d frames, %d lost; "
          "far: near seqs %d .. %d" % (s["sent"], s["lost"], s.get("torn", -1), r["frames"],
                                       r["lost"], seqs[0], seqs[-1]), flush=True)
    check(torn == 0, "no torn frame on the far ring (%d frames not wholly one seq's)" % torn)
    check(all(a < b for a, b in zip(seqs, seqs[1:])), "the far frames' near seqs go up")
    check(r["lost"] > 0, "the producer lapped the sender (%d lost)" % r["lost"])
    check(r["frames"] + r["lost"] == n - seqs[0],
          "far frames + lost = near frames from the first one sent (%d + %d = %d - %d)" %
          (r["frames"], r["lost"], n, seqs[0]))


CASES = {"lossy": case_lossy, "stream": case_stream, "restarts": case_restarts, "relay": case_relay, "security": case_security,
         "group": case_group, "pub": case_pub}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_bridge.py " + "|".join(CASES), file=sys.stderr)
        return 2
    m = Machines()
    t0 = time.monotonic()
    try:
        CASES[sys.argv[1]](m)
        print("bridge %s: PASS in %.1f s" % (sys.argv[1], time.monotonic() - t0))
        return 0
    except Fail as e:
        print("bridge %s: FAIL: %s" % (sys.argv[1], e))
        for p in m.procs:
            print("---- %s stderr:\n%s" % (p.name, m.errors(p.name)[-1500:]))
        return 1
    finally:
        m.cleanup()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
