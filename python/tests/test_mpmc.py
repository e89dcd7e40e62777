"""Several producers on one ring, consumer groups, abandoned frames.

Producers run in threads (each its own Producer handle) or in forked
processes; group members run in forked processes, since sharing work
between processes is what groups are for. Every wait is bounded: a child
that hangs is killed by the fixture, a queue read times out.
"""
import errno
import multiprocessing
import os
import signal
import threading

import numpy as np
import pytest

from rbtest import ringbuf, wait_for

# fork: the children start from this interpreter with ringbuf imported and
# attach their own handles (a forked child leaves the parent's alone).
MP = multiprocessing.get_context("fork")


@pytest.fixture
def children():
    """Forked processes of a test, killed at its end if still running."""
    made = []
    yield made
    for p in made:
        if p.is_alive():
            p.kill()
        p.join(5)


def start(children, target, *args):
    p = MP.Process(target=target, args=args, daemon=True)
    p.start()
    children.append(p)
    return p


def test_ring_create_takes_several_producers(name):
    with ringbuf.Ring.create(name, "u32", 4, slots=8, max_producers=3,
                             max_groups=2) as ring:
        assert ring.created and ring.max_producers == 3 and ring.max_groups == 2
        assert ring.max_consumers == 64 and ring.dtype == np.uint32
        assert ring.producers() == [] and ring.groups() == []
        st = ring.status()
        assert st["max_producers"] == 3 and st["producers"] == 0
        assert st["frames_abandoned"] == 0 and st["claim_seq"] == 0
        ps = [ringbuf.Producer(name, "u32", 4, create=False) for _ in range(3)]
        try:
            with pytest.raises(ringbuf.RingError) as e:  # a fourth is one too many
                ringbuf.Producer(name, create=False)
            assert e.value.errno == errno.EBUSY
            records = ring.producers()
            assert len(records) == 3
            assert sorted(r["index"] for r in records) == [0, 1, 2]
            for r in records:
                assert r["pid"] == os.getpid() and r["alive"]
                assert not r["in_stream"] and r["frames"] == 0 and r["hold_from"] is None
            with ps[1].acquire(timeout=1) as f:
                f.array[...] = 7
            assert sum(r["frames"] for r in ring.producers()) == 1
        finally:
            for p in ps:
                p.close()
        assert ring.producers() == []
        with pytest.raises(ValueError, match="creating the ring"):
            ringbuf.Producer(name, create=False, max_producers=2)
        with pytest.raises(ValueError, match="max_producers"):
            ringbuf.Ring(name + "x", "u8", 1, create=True, max_producers=65)
    assert not os.path.exists("/dev/shm/rb-" + name)  # removed by its creator


def test_two_producer_threads_give_unique_complete_seqs(name):
    n = 1500
    with ringbuf.Ring.create(name, "u64", 2, slots=16, max_producers=2) as ring, \
            ringbuf.Consumer(name) as c:
        errors = []

        def produce(k):
            try:
                with ringbuf.Producer(name, "u64", 2, create=False) as p:
                    for i in range(n):
                        with p.acquire(timeout=10) as f:
                            f.array[...] = (k, i)
            except Exception as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=produce, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        seqs, per_producer = [], {0: [], 1: []}
        try:
            for _ in range(2 * n):
                with c.acquire(timeout=10) as f:
                    assert not f.abandoned
                    k, i = (int(v) for v in f.array)
                    seqs.append(f.seq)
                    per_producer[k].append(i)
        finally:
            for t in threads:
                t.join(20)
        assert not errors
        assert seqs == list(range(2 * n))
        # Each producer's frames arrive complete and in its own order.
        assert per_producer[0] == list(range(n))
        assert per_producer[1] == list(range(n))
        st = ring.status()
        assert st["write_seq"] == 2 * n and st["frames_abandoned"] == 0
        assert c.stats()["abandoned"] == 0


def _stream_producer(name, k, n, barrier):
    with ringbuf.Producer(name, "u64", 2, create=False) as p:
        p.begin_stream({"producer": k})
        barrier.wait(10)  # both are in the stream before either leaves it
        for i in range(n):
            with p.acquire(timeout=10) as f:
                f.array[...] = (k, i)
        p.end_stream(timeout=10)


def test_two_producer_processes_share_one_stream(name, children):
    n = 500
    with ringbuf.Ring.create(name, "u64", 2, slots=16, max_producers=2) as ring, \
            ringbuf.Consumer(name) as c:
        barrier = MP.Barrier(2)
        procs = [start(children, _stream_producer, name, k, n, barrier) for k in (0, 1)]
        seqs, got, starts = [], {0: [], 1: []}, []
        for f in c:  # until the end of the stream: once, after both left it
            if f.flags & ringbuf.FRAME_STREAM_START:
                starts.append(f.seq)
            k, i = (int(v) for v in f.array)
            seqs.append(f.seq)
            got[k].append(i)
        assert seqs == list(range(2 * n))
        assert len(starts) == 1  # one stream (its first seq: see the test below)
        assert got[0] == list(range(n)) and got[1] == list(range(n))
        # The header is the first producer's to begin (the other joined).
        assert c.header["producer"] in ("0", "1")
        for p in procs:
            p.join(10)
            assert p.exitcode == 0
        # The stream stays ended (as with one producer), with one marker.
        with pytest.raises(ringbuf.EndOfStream):
            c.acquire(timeout=0.2)
        st = ring.status()
        assert st["stream_state"] == 2  # ended
        assert st["write_seq"] == 2 * n + 1  # the frames and one end marker
        assert st["producers"] == 0


def test_stream_start_flag_is_on_the_streams_first_seq(name):
    with ringbuf.Ring.create(name, "u8", 1, slots=8, max_producers=2), \
            ringbuf.Consumer(name) as c, \
            ringbuf.Producer(name, "u8", 1, create=False) as a, \
            ringbuf.Producer(name, "u8", 1, create=False) as b:
        a.begin_stream({"who": "a"})  # opens the stream
        b.begin_stream({"who": "b"})  # joins it
        for p in (b, a):              # the joiner commits first: seq 0
            with p.acquire(timeout=1) as f:
                f.array[...] = 1
        assert c.header == {"who": "a"}
        flags = []
        for _ in range(2):
            with c.acquire(timeout=1) as f:
                flags.append(f.flags & ringbuf.FRAME_STREAM_START)
        assert flags == [ringbuf.FRAME_STREAM_START, 0]


def _member(name, ready, out):
    seqs = []
    with ringbuf.Consumer(name, group="work", label="member") as c:
        ready.set()
        for f in c:
            # The producer wrote each frame's own seq into it.
            assert int(f.array[0]) == f.seq
            seqs.append(f.seq)
            # Hold it a moment so that the other member gets work too.
            threading.Event().wait(0.001)
        stats = c.stats()
    out.send((seqs, stats["frames"]))
    out.close()


def test_two_group_members_share_frames_exactly_once(name, children):
    n = 400
    with ringbuf.Producer(name, "u64", 1, slots=8) as p:
        pipes, events = [], []
        for _ in range(2):
            ready, (rx, tx) = MP.Event(), MP.Pipe(duplex=False)
            start(children, _member, name, ready, tx)
            tx.close()
            pipes.append(rx)
            events.append(ready)
        for e in events:
            assert e.wait(10)
        groups = p.groups()
        assert len(groups) == 1
        assert groups[0]["name"] == "work" and groups[0]["members"] == 2
        assert not groups[0]["lossy"]
        members = [c for c in p.consumers() if c["group"] == "work"]
        assert len(members) == 2 and all(c["label"] == "member" for c in members)
        p.begin_stream({"job": "share"})
        for i in range(n):
            with p.acquire(timeout=10) as f:
                f.array[0] = f.seq
        p.end_stream(timeout=10)
        got = []
        for rx in pipes:
            assert rx.poll(20), "a member did not finish"
            got.append(rx.recv())
    a, b = set(got[0][0]), set(got[1][0])
    assert len(a) == len(got[0][0]) and len(b) == len(got[1][0])  # no repeats
    assert not a & b                    # each frame went to one member
    assert a | b == set(range(n))       # and every frame to some member
    assert a and b                      # both worked
    assert got[0][1] + got[1][1] == n   # as the library counted it
    for proc in children:
        proc.join(10)
        assert proc.exitcode == 0       # each member got the end of stream


def test_group_mode_and_membership(name):
    with ringbuf.Producer(name, "u8", 4, slots=8, max_groups=2) as p:
        with ringbuf.Consumer(name, group="g1") as m, ringbuf.Consumer(name) as plain:
            assert m.group == "g1" and plain.group is None
            with pytest.raises(ValueError, match="group 'g1' is lossless"):
                ringbuf.Consumer(name, lossy=True, group="g1")
            with ringbuf.Consumer(name, lossy=True, group="g2") as lossy:
                assert lossy.lossy
                groups = {g["name"]: g for g in p.groups()}
                assert set(groups) == {"g1", "g2"}
                assert groups["g2"]["lossy"] and not groups["g1"]["lossy"]
            with p.acquire(timeout=1) as f:
                f.array[...] = 1
            f = m.acquire(timeout=1)
            me = [c for c in p.consumers() if c["group"] == "g1"][0]
            assert me["held"] == 1 and me["read_seq"] == f.seq
            f.release()
            me = [c for c in p.consumers() if c["group"] == "g1"][0]
            assert me["held"] == 0 and me["read_seq"] is None and me["frames"] == 1
            assert p.status()["groups"] == 1
        assert p.groups() == []  # the last member to leave frees the group


HOLDER = r"""
import sys, time, ringbuf
p = ringbuf.Producer(sys.argv[1], create=False)
f = p.acquire(timeout=5)
print(f.seq, flush=True)
time.sleep(60)
"""


def test_a_dead_producers_frame_comes_abandoned(name, procs):
    with ringbuf.Ring.create(name, "u32", 2, slots=8, max_producers=2) as ring, \
            ringbuf.Consumer(name) as c, \
            ringbuf.Producer(name, "u32", 2, create=False) as p:
        holder = procs.python(HOLDER, name)
        assert holder.stdout.readline().strip() == "0"  # it claimed seq 0
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)
        for i in range(3):
            with p.acquire(timeout=5) as f:
                f.array[...] = i
        # The consumer waits at seq 0 until a liveness check finds the
        # holder dead and publishes its seq empty, flagged.
        f = c.acquire(timeout=5)
        assert f.seq == 0 and f.abandoned and f.length == 0
        assert f.flags & ringbuf.FRAME_ABANDONED
        assert "abandoned" in repr(f)
        f.release()
        for i in range(3):
            with c.acquire(timeout=5) as f:
                assert f.seq == i + 1 and not f.abandoned
                assert list(f.array) == [i, i]
        assert c.stats()["abandoned"] == 1
        st = ring.status()
        assert st["frames_abandoned"] == 1 and st["write_seq"] == 4
        # Its record is evicted, or listed dead until it is.
        dead = [r for r in ring.producers() if r["pid"] == holder.pid]
        assert dead == [] or not dead[0]["alive"]


MEMBER_HOLDER = r"""
import sys, time, ringbuf
c = ringbuf.Consumer(sys.argv[1], group="work", label="doomed")
print("attached", flush=True)
f = c.acquire(timeout=5)
print(f.seq, flush=True)
time.sleep(60)
"""


def test_a_dead_members_frames_are_lost_not_redelivered(name, procs):
    with ringbuf.Producer(name, "u8", 1, slots=4) as p, \
            ringbuf.Consumer(name, group="work", label="stays") as m:
        holder = procs.python(MEMBER_HOLDER, name)
        assert holder.stdout.readline().strip() == "attached"
        with p.acquire(timeout=1) as f:  # seq 0: the waiting holder takes it
            f.array[0] = 0
        assert holder.stdout.readline().strip() == "0"
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)
        # The group holds the producer at seq 0 until the dead member is
        # evicted: the producer's own liveness check, while it waits for
        # the fourth slot after it, does that.
        for i in range(1, 5):
            with p.acquire(timeout=5) as f:
                f.array[0] = i
        (g,) = p.groups()
        assert g["members"] == 1 and g["lost"] == 1  # seq 0, counted once
        for i in range(1, 5):
            with m.acquire(timeout=5) as f:
                assert f.seq == i and int(f.array[0]) == i
        assert [c["label"] for c in p.consumers()] == ["stays"]


def test_last_producer_ends_a_full_ring_with_a_marker(name):
    with ringbuf.Ring.create(name, "u8", 1, slots=4, max_producers=2) as ring, \
            ringbuf.Consumer(name) as c, \
            ringbuf.Producer(name, "u8", 1, create=False) as p:
        p.begin_stream({"n": 4})
        for i in range(4):  # the ring is full: no slot for the marker
            with p.acquire(timeout=1) as f:
                f.array[0] = i
        result = []
        t = threading.Thread(target=lambda: result.append(p.end_stream(timeout=10)))
        t.start()
        try:
            wait_for(lambda: ring.status()["producer_blocked"], what="end_stream to wait")
            # It waits for a slot with the stream still open: not ended by
            # its state (that would drop the marker).
            assert ring.status()["stream_state"] == 1
            seqs = [f.seq for f in c]  # frees the slots, then the marker
        finally:
            t.join(10)
        assert result == [None]
        assert seqs == [0, 1, 2, 3]
        st = ring.status()
        assert st["stream_state"] == 2 and st["write_seq"] == 5 and st["eos_seq"] == 5
