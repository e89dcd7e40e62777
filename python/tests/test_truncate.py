"""A ring truncated under a Python consumer (its owner runs truncate -s 0 on
/dev/shm/rb-NAME): the process lives, the frame it holds reads as zeros,
and the next read raises ringbuf.Truncated (errno EIDRM), as the C programs
exit with "ring truncated under us". Before the module's SIGBUS guard the
consumer died of SIGBUS.

The consumer runs in a child interpreter (a SIGBUS would otherwise take
pytest with it); it tells the test when it holds a frame, and goes on only
once the test has truncated the file.
"""
import errno
import os

import pytest

from rbtest import ringbuf

pytestmark = pytest.mark.needs_programs

CONSUMER = """
import errno, sys, time
import numpy as np
import ringbuf
c = ringbuf.Consumer(sys.argv[1], open_timeout=30)
held = c.acquire(timeout=30)
view = np.asarray(held)
assert view.any(), "a counter frame is not all zeros"
print("holding", held.seq, flush=True)
sys.stdin.readline()               # the test has truncated the file
print("held reads", int(view.sum()), flush=True)
t0 = time.monotonic()
try:
    del view
    held.release()
    for f in c:
        pass
    print("no error", flush=True)
except ringbuf.Truncated as e:
    print("truncated", e.errno == errno.EIDRM, isinstance(e, ringbuf.RingError),
          "%.3f" % (time.monotonic() - t0), str(e), flush=True)
"""


def test_truncated_ring_raises_truncated_and_the_consumer_lives(name, procs):
    prod = procs.producer(name, "--source", "counter", "--frame-size", "4KiB",
                          "--slots", "8", "--rate", "200Hz", "--count", "100000",
                          "--wait-consumers", "1")
    child = procs.python(CONSUMER, name, stdin=__import__("subprocess").PIPE)
    line = child.stdout.readline().split()
    assert line and line[0] == "holding", child.stderr.read()
    os.truncate("/dev/shm/rb-" + name, 0)
    child.stdin.write("go\n")
    child.stdin.flush()
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, "consumer ended with %s: %s" % (child.returncode, err)
    lines = out.splitlines()
    assert lines[0] == "held reads 0"
    words = lines[1].split()
    assert words[:3] == ["truncated", "True", "True"], lines[1]
    assert float(words[3]) < 5.0
    assert "truncated under us" in lines[1]
    # The producer, a C program, says so too and exits 1.
    assert prod.wait(30) == 1
    assert "ring truncated under us" in prod.stderr.read()


def test_sigbus_elsewhere_still_kills(procs):
    """The guard takes only faults in ring mappings: any other SIGBUS kills
    as before (here: a mapped file truncated under its reader)."""
    code = """
import mmap, os, tempfile
import ringbuf
fd, path = tempfile.mkstemp()
os.write(fd, b"x" * 8192)
m = mmap.mmap(fd, 8192)
os.ftruncate(fd, 0)
os.unlink(path)
print(m[4096], flush=True)
"""
    child = procs.python(code)
    out, err = child.communicate(timeout=30)
    assert child.returncode == -7 or child.returncode == 128 + 7, (child.returncode, out, err)
    assert out == ""
