"""Ctrl-C interrupts a wait: SIGINT to a process blocked in the binding
raises KeyboardInterrupt within a wait slice (50 ms), not at the next
frame."""
import os
import signal
import time

import pytest

from rbtest import ringbuf

WAITERS = {
    "acquire": "c.acquire()",
    "iterate": "for f in c: pass",
    "batch": "c.acquire_batch(8, min=8)",
    "batches": "for b in c.batches(max=4, min=4): pass",
}

CONSUMER = """
import sys, ringbuf
c = ringbuf.Consumer(sys.argv[1])
print("ready", flush=True)
try:
    {wait}
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
"""


def interrupt(proc, delay=0.3):
    """SIGINT once the process is waiting; returns the seconds until it
    said "interrupted", and its output."""
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)  # well inside the wait by now
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    line = proc.stdout.readline().strip()
    took = time.monotonic() - t0
    out, err = proc.communicate(timeout=5)
    return took, line + "\n" + out, err


@pytest.mark.parametrize("how", sorted(WAITERS))
def test_ctrl_c_interrupts_a_consumer_wait(name, procs, how):
    with ringbuf.Producer(name, "u8", 64, slots=4):
        proc = procs.python(CONSUMER.format(wait=WAITERS[how]), name)
        took, out, err = interrupt(proc)
    assert out.startswith("interrupted")
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert took < 0.5, "SIGINT took %.3f s to end the wait" % took


def test_ctrl_c_while_frames_are_held(name, procs):
    """Interrupted with a batch half-gathered and a frame held: the consumer
    stays usable and hands everything back."""
    code = """
import sys, ringbuf
c = ringbuf.Consumer(sys.argv[1])
held = c.acquire(timeout=5)
print("ready", flush=True)
try:
    c.acquire_batch(4, min=4)
except KeyboardInterrupt:
    print("interrupted", c.stats()["held"], flush=True)
held.release()
try:
    c.acquire(timeout=0.05)
except TimeoutError:
    print("usable", c.stats(), flush=True)
"""
    with ringbuf.Producer(name, "u8", 64, slots=8) as p:
        for _ in range(3):
            p.commit(p.acquire(timeout=1))
        proc = procs.python(code, name)
        took, out, err = interrupt(proc)
        assert proc.returncode == 0, err
        lines = out.splitlines()
        assert lines[0] == "interrupted 1"  # the two gathered went back
        assert lines[1].startswith("usable") and "'frames': 3" in lines[1]


def test_ctrl_c_interrupts_a_producer_on_a_full_ring(name, procs):
    code = """
import sys, ringbuf
with ringbuf.Producer(sys.argv[1], "u8", 64, slots=2) as p:
    print("created", flush=True)
    sys.stdin.readline()
    p.begin_stream({"source": "test"})
    for _ in range(2):
        p.commit(p.acquire())
    print("ready", flush=True)
    try:
        p.acquire()  # a lossless consumer reads nothing: blocks
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        raise
"""
    import subprocess
    proc = procs.python(code, name, stdin=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "created"
    with ringbuf.Consumer(name) as c:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        took, out, err = interrupt(proc)
        assert out.startswith("interrupted") and "KeyboardInterrupt" in err
        assert took < 0.5
        # The producer's `with` block closed it: stream ended (by its
        # state: no room for a marker), ring removed.
        frames = [f.seq for f in c]
        assert frames == [0, 1]
    assert not os.path.exists("/dev/shm/rb-" + name)


def test_consumer_wait_survives_other_signals(name, procs):
    """A signal whose handler does not raise does not end the wait."""
    code = """
import signal, sys, ringbuf
signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
c = ringbuf.Consumer(sys.argv[1])
print("ready", flush=True)
f = c.acquire(timeout=5)
print("got", f.seq, flush=True)
"""
    with ringbuf.Producer(name, "u8", 8, slots=2) as p:
        proc = procs.python(code, name)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout.readline().strip() == "usr1"
        p.commit(p.acquire(timeout=1))
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert out.strip() == "got 0"


PRODUCER_WAITING = """
import sys, ringbuf
p = ringbuf.Producer(sys.argv[1], "u8", 64, slots=4)
print("ready", flush=True)
try:
    p.wait_consumers(1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
"""


def test_ctrl_c_interrupts_wait_consumers(name, procs):
    proc = procs.python(PRODUCER_WAITING, name)
    took, out, err = interrupt(proc)
    assert out.startswith("interrupted")
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert took < 0.5, "SIGINT took %.3f s to end the wait" % took


def test_wait_consumers_returns_once_they_attach(name):
    with ringbuf.Producer(name, "u8", 64, slots=4) as p:
        with pytest.raises(ringbuf.RingTimeout):
            p.wait_consumers(1, timeout=0.05)
        p.wait_consumers(0, timeout=0)  # nobody needed: at once
        with ringbuf.Consumer(name), ringbuf.Consumer(name):
            p.wait_consumers(2, timeout=5)
            with pytest.raises(ringbuf.RingTimeout):
                p.wait_consumers(3, timeout=0.05)
        with pytest.raises(ValueError):
            p.wait_consumers(-1)
