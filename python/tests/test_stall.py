"""Producer(stall_timeout=...): a lossless consumer that holds the producer
back without releasing anything for that long is demoted to lossy; it
learns of it once (ringbuf.Demoted), then reads on and counts what it
missed in 'lost' (docs/FORMAT.md §5.21)."""
import time

import pytest

from rbtest import ringbuf

SLOTS = 8


def test_stall_timeout_demotes_a_stuck_lossless_consumer(name):
    n = 40
    with ringbuf.Producer(name, "u64", 1, slots=SLOTS, stall_timeout=0.3) as p, \
            ringbuf.Consumer(name, label="stuck") as c:
        t0 = time.monotonic()
        for _ in range(n):  # the consumer reads nothing meanwhile
            with p.acquire(timeout=10) as f:
                f.array[0] = f.seq
        took = time.monotonic() - t0
        assert took >= 0.3            # it waited for the consumer that long
        assert took < 5
        stuck = [x for x in p.consumers() if x["label"] == "stuck"]
        assert len(stuck) == 1 and stuck[0]["demoted"] and stuck[0]["lossy"]
        p.end_stream(timeout=10)
        with pytest.raises(ringbuf.Demoted):
            c.acquire(timeout=5)
        seqs = [f.seq for f in c]     # reads on, as lossy, to the end
        st = c.stats()
    assert st["demoted"]
    assert 0.3 <= st["stalled"] < 5
    assert st["frames"] == len(seqs)
    assert st["frames"] + st["lost"] == n
    assert seqs == list(range(n - len(seqs), n))   # the newest, in order
    assert len(seqs) >= 1


def test_without_stall_timeout_the_producer_waits(name):
    with ringbuf.Producer(name, "u64", 1, slots=SLOTS) as p, \
            ringbuf.Consumer(name, label="slow") as c:
        for _ in range(SLOTS):
            with p.acquire(timeout=10) as f:
                f.array[0] = f.seq
        with pytest.raises(ringbuf.RingTimeout):
            p.acquire(timeout=0.5)
        assert not c.stats()["demoted"]
        assert not p.consumers()[0]["demoted"]


@pytest.mark.parametrize("bad", [0, -1, "1s"])
def test_stall_timeout_values(name, bad):
    with pytest.raises((ValueError, TypeError)):
        ringbuf.Producer(name, "u8", 1, slots=SLOTS, stall_timeout=bad)
