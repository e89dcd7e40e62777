"""What the monitor tests share: a pipeline of the real programs, rb-ctl
serve on a free loopback port, HTTP requests, and a bounded wait."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("RB_BUILD_DIR", "build")
PRODUCER = os.path.join(BUILD, "producer", "rb-producer")
CONSUMER = os.path.join(BUILD, "consumer", "rb-consumer")
CTL = os.path.join(BUILD, "tools", "ctl", "rb-ctl")


def wait_for(what, check, timeout=20.0, step=0.05):
    """Polls check() until it returns something true; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


def ctl_json(*args):
    out = subprocess.run([CTL, *args, "--json"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    return json.loads(out)


class Pipeline:
    """Producers and consumers as real processes; stopped with SIGINT (the
    producers then remove their rings) and killed if that does not work."""

    def __init__(self):
        self.procs = []
        self.rings = []

    def start(self, args):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def producer(self, ring, *args):
        self.rings.append(ring)
        p = self.start([PRODUCER, *args, ring])
        wait_for("ring " + ring, lambda: os.path.exists("/dev/shm/rb-" + ring) or p.poll() is not None)
        assert p.poll() is None, p.stderr.read().decode()
        return p

    def consumer(self, ring, *args, count=None):
        p = self.start([CONSUMER, *args])
        if count is not None:
            wait_for("%d consumers on %s" % (count, ring),
                     lambda: len(ctl_json("info", ring)["consumers"]) >= count)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stderr:
                p.stderr.close()
        for ring in self.rings:
            if os.path.exists("/dev/shm/rb-" + ring):
                subprocess.run([CTL, "rm", "--force", ring], capture_output=True, timeout=30)
            assert not os.path.exists("/dev/shm/rb-" + ring), ring + " left behind"


class Server:
    """rb-ctl serve on 127.0.0.1, a port the kernel picks."""

    def __init__(self, web_dir, *args):
        self.proc = subprocess.Popen([CTL, "serve", "--listen", "127.0.0.1:0",
                                      "--web-dir", web_dir, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        said = ""
        m = None
        try:
            while m is None:  # ends at EOF: serve exited
                line = self.proc.stderr.readline()
                assert line != "", "rb-ctl serve did not start: " + said
                said += line
                m = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
        except BaseException:
            # Nobody will call stop(): leave no server behind.
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
            raise
        self.port = int(m.group(1))
        # Keep reading what it says, so a full pipe never stalls it.
        self.log = []
        self.reader = threading.Thread(target=lambda: self.log.extend(self.proc.stderr),
                                       daemon=True)
        self.reader.start()
        self.base = "http://127.0.0.1:%d" % self.port

    def get(self, path, method="GET", timeout=10):
        """(status, headers, body bytes), for errors too."""
        req = urllib.request.Request(self.base + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get_json(self, path):
        status, headers, body = self.get(path)
        assert status == 200, (path, status, body)
        assert headers["Content-Type"] == "application/json", headers["Content-Type"]
        return json.loads(body)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("rb-ctl serve did not stop on SIGTERM")
        self.reader.join(timeout=10)
        self.proc.stderr.close()
        assert rc == 0, "rb-ctl serve exit status %d" % rc
