"""A hostile value in shared memory (issue 12): a group member waiting on
a claim lock that its holder never lets go still ends on Ctrl-C, with
KeyboardInterrupt, within a wait slice; it never spins unstoppably."""
import mmap
import os
import signal
import struct
import time

from rbtest import ringbuf, wait_for

MEMBER = """
import sys, ringbuf
c = ringbuf.Consumer(sys.argv[1], group="g")
print("ready", flush=True)
try:
    c.acquire(timeout=30)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
"""


def _claim_lock_offset(shm):
    # docs/FORMAT.md: the header's groups_offset at byte 184; a group's
    # claim_lock at byte 8 of its record; record 0 is the first group made.
    (groups_offset,) = struct.unpack_from("<Q", shm, 184)
    return groups_offset + 8


def test_ctrl_c_ends_a_member_waiting_on_a_hostile_claim_lock(name, procs):
    with ringbuf.Producer(name, "u8", 64, slots=8) as p:
        proc = procs.python(MEMBER, name)
        assert proc.stdout.readline().strip() == "ready"
        fd = os.open("/dev/shm/rb-" + name, os.O_RDWR)
        try:
            shm = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        try:
            # A recovery "under way" by a live participant (this process,
            # the producer): nobody may clear it for the hold bound.
            tag = (1 << 63) | (os.getpid() << 16) | 1
            struct.pack_into("<Q", shm, _claim_lock_offset(shm), tag)
            for _ in range(2):
                p.commit(p.acquire(timeout=1))
            time.sleep(0.3)  # the member is waiting on the lock by now
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            line = proc.stdout.readline().strip()
            took = time.monotonic() - t0
            out, err = proc.communicate(timeout=5)
            assert line == "interrupted", err
            assert proc.returncode != 0 and "KeyboardInterrupt" in err
            assert took < 0.5, "SIGINT took %.3f s to end the wait" % took
        finally:
            struct.pack_into("<Q", shm, _claim_lock_offset(shm), 0)
            shm.close()
