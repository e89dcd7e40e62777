#!/usr/bin/python3
"""The monitor page in a real browser: headless Chromium loads it from
rb-ctl serve against a running pipeline (an adc ring with a lossless and a
lossy consumer, a camera ring), the test waits over the DevTools protocol
until the page shows rates, asserts what it shows against rb-ctl info
--json, checks the plots of the chosen ring (lines and spectrum for adc,
an image for the camera) and keeps screenshots (SHOT, and SHOT's name
with -camera.png)."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monitor_support import Pipeline, Server, ctl_json, wait_for  # noqa: E402

WEB = sys.argv[1]
SHOT = sys.argv[2]
ADC = "mon-adc-%d" % os.getpid()
CAM = "mon-cam-%d" % os.getpid()
BLK = "mon-blk-%d" % os.getpid()
RATE = 100

# What the page shows, read from its cells' data-k/data-v attributes.
PAGE_STATE = """(() => {
  if (!document.getElementById('status')) return null;  // not loaded yet
  const rows = sel => [...document.querySelectorAll(sel)].map(tr => {
    const o = {};
    for (const td of tr.querySelectorAll('td')) o[td.dataset.k] = td.dataset.v;
    return o;
  });
  const canvas = document.querySelector('#plot-image canvas');
  let spread = 0;
  if (canvas) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
    spread = hi - lo;
  }
  return JSON.stringify({
    updates: Number(document.getElementById('status').dataset.updates),
    rings: rows('#rings tbody tr'),
    consumers: rows('#consumers tbody tr'),
    frame_seq: document.getElementById('frame-info').dataset.seq || null,
    line: document.querySelectorAll('#plot-line canvas').length,
    spectrum: document.querySelectorAll('#plot-spectrum canvas').length,
    image: canvas ? [canvas.width, canvas.height, spread] : null,
  });
})()"""


class Browser:
    """Headless Chromium with the DevTools protocol on a loopback port."""

    def __init__(self, url):
        self.profile = tempfile.mkdtemp(prefix="rb-monitor-chromium.")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        assert chromium, "chromium is not installed (tools/deps.sh installs it)"
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + self.profile, "--window-size=1300,1150", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        try:
            self._connect()
        except BaseException:
            # Nobody will call close(): leave no browser behind.
            self.ws = None
            self.close()
            raise

    def _connect(self):
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if line == "":
                raise AssertionError("chromium exited before it listened")
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        assert port, "chromium did not say where DevTools listens"
        # Drain the rest of its chatter so it never blocks on a full pipe.
        self.proc.stderr.close()

        def page():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        self.ws = websocket.create_connection(wait_for("chromium's page", page), timeout=30)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def state(self):
        text = self.evaluate(PAGE_STATE)
        return json.loads(text) if text else None

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
            shutil.rmtree(self.profile, ignore_errors=True)


def rows_of(state, ring):
    ring_rows = [r for r in state["rings"] if r["name"] == ring]
    cons = [c for c in state["consumers"] if c["ring"] == ring and c["label"] != "rb-ctl serve"]
    return ring_rows[0] if ring_rows else None, cons


def settled(state):
    """Rates shown for the adc ring and its two consumers, and both plots."""
    if state is None:
        return False
    ring, cons = rows_of(state, ADC)
    # The page's rates are over its last 5 polls: wait for a full window.
    return (state["updates"] >= 6 and ring is not None and ring["write_rate"] != "" and
            float(ring["write_rate"]) > 0 and len(cons) == 2 and
            all(c["rate"] != "" for c in cons) and state["frame_seq"] is not None and
            state["line"] > 0 and state["spectrum"] > 0)


def check_adc(browser):
    state = wait_for("the page to show rates and plots",
                     lambda: (lambda s: s if settled(s) else None)(browser.state()),
                     timeout=60, step=0.25)
    info = ctl_json("info", ADC)
    ring, cons = rows_of(state, ADC)
    print("page:", json.dumps(ring), json.dumps(cons))
    assert ring["frame_type"] == info["frame_type"] == "i16[1024,4]"
    assert int(ring["slot_count"]) == info["slot_count"]
    assert int(ring["write_seq"]) <= info["producer"]["write_seq"]
    assert int(ring["frames_dropped"]) == info["producer"]["frames_dropped"] == 0
    assert ring["producer"] == "alive" and info["producer"]["alive"]
    # Paced at RATE frames/s: the page's rate is the ring's.
    assert 0.6 * RATE <= float(ring["write_rate"]) <= 1.4 * RATE, ring["write_rate"]
    want = {c["index"]: c for c in info["consumers"] if c["label"] != "rb-ctl serve"}
    assert sorted(int(c["index"]) for c in cons) == sorted(want)
    for c in cons:
        w = want[int(c["index"])]
        assert (c["label"], c["mode"]) == (w["label"], w["mode"]), (c, w)
        assert int(c["lost"]) <= w["lost"]
        assert 0.6 * RATE <= float(c["rate"]) <= 1.4 * RATE, c
        if c["mode"] == "lossless":
            assert int(c["lost"]) == w["lost"] == 0
    assert int(state["frame_seq"]) <= info["producer"]["write_seq"]
    cam, _ = rows_of(state, CAM)
    assert cam is not None and cam["frame_type"] == "u16[480,640]"


def check_blocked(browser):
    """A lossless consumer that stops (SIGSTOP) holds the producer back once
    the ring is full: the page names it as the one that blocks."""
    info = wait_for("the producer of %s to block" % BLK,
                    lambda: (lambda i: i if i["producer"]["blocked"] and
                             i["producer"]["blocked_by"] is not None else None)(
                        ctl_json("info", BLK)))
    who = info["producer"]["blocked_by"]

    def shown():
        state = browser.state()
        ring, cons = rows_of(state, BLK)
        if ring is None or ring["blocked_by"] == "":
            return None
        return ring, cons
    ring, cons = wait_for("the page to show %s blocked" % BLK, shown, timeout=30, step=0.25)
    assert ring["blocked_by"] == "consumer #%d" % who, ring
    assert float(ring["fill"]) == 1.0, ring
    blocking = [c for c in cons if c["blocks"] == "producer"]
    assert [int(c["index"]) for c in blocking] == [who], cons


def check_camera(browser):
    browser.evaluate("(() => { const s = document.getElementById('ring-select');"
                     " s.value = %s; s.dispatchEvent(new Event('change')); })()"
                     % json.dumps(CAM))
    state = wait_for("the camera image",
                     lambda: (lambda s: s if s and s["image"] else None)(browser.state()),
                     timeout=30, step=0.25)
    width, height, spread = state["image"]
    assert (width, height) == (640, 480)
    assert spread > 0, "the camera image is blank"
    assert state["line"] == 0 and state["spectrum"] == 0


def main():
    pipe = Pipeline()
    srv = browser = stopped = None
    try:
        pipe.producer(ADC, "--source", "adc", "--rate", str(RATE), "--duration", "300s")
        pipe.consumer(ADC, ADC, "stats")
        pipe.consumer(ADC, "--lossy", ADC, "verify", count=2)
        pipe.producer(CAM, "--source", "camera", "--rate", "20", "--duration", "300s")
        pipe.consumer(CAM, CAM, "null", count=1)
        pipe.producer(BLK, "--rate", "1000", "--slots", "16", "--duration", "300s")
        stopped = pipe.consumer(BLK, BLK, "null", count=1)
        stopped.send_signal(signal.SIGSTOP)
        srv = Server(WEB)
        browser = Browser("%s/#ring=%s" % (srv.base, ADC))
        check_adc(browser)
        check_blocked(browser)
        browser.screenshot(SHOT)
        print("screenshot:", SHOT)
        check_camera(browser)
        browser.screenshot(SHOT.replace(".png", "-camera.png"))
        print("ok: the page shows what rb-ctl info says, with plots and a camera image")
    finally:
        if stopped:
            stopped.send_signal(signal.SIGCONT)
        if browser:
            browser.close()
        if srv:
            srv.stop()
        pipe.stop()


if __name__ == "__main__":
    main()
