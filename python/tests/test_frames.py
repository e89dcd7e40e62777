"""Frames in one process: views, release rules, batches, types, errors."""
import ctypes
import gc
import threading
import time

import numpy as np
import pytest

from rbtest import ringbuf


def put(p, value, n=1):
    for _ in range(n):
        with p.acquire(timeout=1) as f:
            f.array[...] = value


@pytest.fixture
def pc(name):
    """A typed producer and a lossless consumer on an 8-slot ring."""
    p = ringbuf.Producer(name, "f32", (16, 4), slots=8)
    c = ringbuf.Consumer(name)
    yield p, c
    c.close()
    p.close()


# ---- views ------------------------------------------------------------------

def test_view_is_typed_readonly_and_in_the_ring(pc):
    p, c = pc
    put(p, 1.5)
    frame = c.acquire(timeout=1)
    arr = np.asarray(frame)
    assert arr.dtype == np.float32 and arr.shape == (16, 4)
    assert (arr == 1.5).all()
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0, 0] = 2
    # No copy: the data pointer is inside the ring's slot area, and two
    # views of one frame share it.
    addr = arr.__array_interface__["data"][0]
    assert c.ring_address <= addr < c.ring_address + c.ring_size
    assert addr + arr.nbytes <= c.ring_address + c.ring_size
    assert np.shares_memory(arr, frame.array)
    with pytest.raises(TypeError):
        memoryview(frame).cast("B")[0:1] = b"x"  # not writable either
    with pytest.raises(TypeError):
        (ctypes.c_char * 256).from_buffer(frame)  # asks for a writable buffer
    del arr
    frame.release()


def test_producer_view_is_the_slot_consumers_read(pc):
    p, c = pc
    frame = p.acquire(timeout=1)
    w = frame.array
    assert w.flags.writeable and w.dtype == np.float32 and w.shape == (16, 4)
    w[...] = np.arange(64, dtype=np.float32).reshape(16, 4)
    waddr = w.__array_interface__["data"][0]
    assert p.ring_address <= waddr < p.ring_address + p.ring_size
    del w
    p.commit(frame)
    got = c.acquire(timeout=1)
    arr = np.asarray(got)
    np.testing.assert_array_equal(arr, np.arange(64).reshape(16, 4))
    # Same slot, seen through the consumer's own mapping.
    assert arr.__array_interface__["data"][0] - c.ring_address == waddr - p.ring_address
    del arr
    got.release()


def test_memoryview_has_format_and_shape(pc):
    p, c = pc
    put(p, 3)
    with c.acquire(timeout=1) as frame:
        m = memoryview(frame)
        assert m.format == "f" and m.shape == (16, 4) and m.readonly
        assert m.nbytes == 16 * 4 * 4
        m.release()


def test_untyped_frames_are_bytes_of_their_length(name):
    with ringbuf.Producer(name, frame_bytes=1000, slots=4) as p, \
            ringbuf.Consumer(name) as c:
        f = p.acquire(timeout=1)
        assert f.array.shape == (1000,) and f.array.dtype == np.uint8
        f.array[:10] = np.arange(10)
        p.commit(f, length=10)
        g = c.acquire(timeout=1)
        assert g.length == 10
        arr = np.asarray(g)
        assert arr.shape == (10,) and arr.dtype == np.uint8
        np.testing.assert_array_equal(arr, np.arange(10))
        del arr
        g.release()


# ---- release rules ----------------------------------------------------------

def test_release_refused_while_a_view_exists(pc):
    p, c = pc
    put(p, 1)
    frame = c.acquire(timeout=1)
    arr = np.asarray(frame)
    sub = arr[2:4]  # a view of the view also counts
    del arr
    with pytest.raises(BufferError, match="view"):
        frame.release()
    assert not frame.released
    del sub
    frame.release()
    assert frame.released
    frame.release()  # a second release does nothing


def test_released_frame_memory_cannot_be_reached(pc):
    p, c = pc
    put(p, 1)
    frame = c.acquire(timeout=1)
    frame.release()
    with pytest.raises(ValueError, match="released"):
        frame.array
    with pytest.raises(ValueError, match="released"):
        memoryview(frame)
    with pytest.raises(ValueError, match="released"):
        np.asarray(frame)
    assert frame.seq == 0  # the descriptor stays readable


def test_a_view_keeps_its_slot_from_the_producer(name):
    with ringbuf.Producer(name, "u8", 64, slots=4) as p, ringbuf.Consumer(name) as c:
        put(p, 7, 4)
        with c.acquire(timeout=1) as frame:
            arr = np.asarray(frame)
        # The block ended but arr lives: the frame refuses new views and
        # its slot is still held, so the full ring has no room.
        assert frame.released
        with pytest.raises(ValueError):
            frame.array
        for _ in range(3):
            c.acquire(timeout=1).release()
        with pytest.raises(TimeoutError):
            p.acquire(timeout=0.05)
        assert (arr == 7).all()
        del arr  # now the slot goes back
        p.commit(p.acquire(timeout=1))


def test_loop_releases_the_previous_frame(pc):
    p, c = pc
    put(p, 2, 7)
    p.end_stream(timeout=1)
    kept = []
    for frame in c:
        kept.append(frame)
        held = c.stats()["held"]
        assert held == 1
    assert all(f.released for f in kept)
    assert c.stats()["frames"] == 7


def test_loop_frame_kept_by_a_view_stays_held(name):
    with ringbuf.Producer(name, "u8", 64, slots=4) as p, ringbuf.Consumer(name) as c:
        put(p, 9, 2)
        it = iter(c)
        arr = np.asarray(next(it))
        second = next(it)  # the first frame is asked to end, arr keeps it
        assert c.stats()["held"] == 2
        del arr
        assert c.stats()["held"] == 1
        second.release()


def test_frames_released_out_of_order(pc):
    p, c = pc
    put(p, 1, 3)
    a, b, d = (c.acquire(timeout=1) for _ in range(3))
    d.release()
    b.release()
    assert c.stats()["frames"] == 0  # a still holds the ring back
    a.release()
    assert c.stats()["frames"] == 3 and c.stats()["held"] == 0


def test_dropped_frame_is_released(pc):
    p, c = pc
    put(p, 1)
    c.acquire(timeout=1)  # dropped at once
    gc.collect()
    st = c.stats()
    assert st["frames"] == 1 and st["held"] == 0


def test_holding_every_slot_is_reported(name):
    with ringbuf.Producer(name, "u8", 8, slots=4) as p, ringbuf.Consumer(name) as c:
        put(p, 0, 4)
        held = [c.acquire(timeout=1) for _ in range(4)]
        with pytest.raises(TimeoutError):
            p.acquire(timeout=0.01)
        with pytest.raises(BufferError, match="holds 4 frames"):
            c.acquire(timeout=0.01)
        for f in held:
            f.release()


def test_close_with_live_views_waits_for_them(name):
    p = ringbuf.Producer(name, "u8", 8, slots=4)
    c = ringbuf.Consumer(name)
    put(p, 5)
    arr = np.asarray(c.acquire(timeout=1))
    c.close()
    assert c.closed
    assert p.status()["consumers"] == 1  # still attached: arr reads the slot
    assert (arr == 5).all()
    del arr
    assert p.status()["consumers"] == 0
    with pytest.raises(ValueError, match="closed"):
        c.acquire(timeout=0)
    p.close()


def test_frame_outlives_closed_consumer_safely(pc):
    p, c = pc
    put(p, 1)
    frame = c.acquire(timeout=1)
    c.close()
    with pytest.raises(ValueError, match="closed"):
        frame.array
    frame.release()


# ---- producer frames --------------------------------------------------------

def test_commit_refused_while_a_view_exists(pc):
    p, c = pc
    frame = p.acquire(timeout=1)
    w = frame.array
    with pytest.raises(BufferError, match="commit"):
        p.commit(frame)
    del w
    p.commit(frame, timestamp=1234, flags=1 << ringbuf.FRAME_USER_SHIFT)
    with pytest.raises(ValueError, match="committed"):
        frame.array
    with pytest.raises(ValueError, match="already committed"):
        p.commit(frame)
    got = c.acquire(timeout=1)
    assert got.timestamp == 1234
    assert got.flags & (1 << ringbuf.FRAME_USER_SHIFT)
    assert got.length == 16 * 4 * 4
    got.release()


def test_with_block_that_raises_publishes_an_incomplete_frame(pc):
    p, c = pc
    with pytest.raises(RuntimeError):
        with p.acquire(timeout=1) as frame:
            frame.array[...] = 1
            raise RuntimeError("source failed")
    got = c.acquire(timeout=1)
    assert got.length == 0 and got.flags & ringbuf.FRAME_INCOMPLETE
    got.release()


def test_commits_are_published_in_acquisition_order(pc):
    p, c = pc
    a, b = p.acquire(timeout=1), p.acquire(timeout=1)
    b.array[...] = 2
    a.array[...] = 1
    p.commit(b)
    with pytest.raises(TimeoutError):
        c.acquire(timeout=0)  # b waits for a
    p.commit(a)
    x, y = c.acquire(timeout=1), c.acquire(timeout=1)
    assert (x.seq, y.seq) == (a.seq, b.seq)
    assert x.array[0, 0] == 1 and y.array[0, 0] == 2
    x.release()
    y.release()


def test_producer_flags_are_checked(pc):
    p, c = pc
    f = p.acquire(timeout=1)
    for bad in (ringbuf.FRAME_STREAM_START, 1 << 1, 1 << 15, 1 << 32, -1):
        with pytest.raises((ValueError, OverflowError)):
            p.commit(f, flags=bad)
    with pytest.raises(ValueError, match="larger than the slot"):
        p.commit(f, length=c.frame_bytes + 1)
    p.commit(f, flags=ringbuf.FRAME_INCOMPLETE | (5 << ringbuf.FRAME_USER_SHIFT), length=3)
    g = c.acquire(timeout=1)
    assert g.flags == ringbuf.FRAME_INCOMPLETE | (5 << ringbuf.FRAME_USER_SHIFT)
    assert g.length == 3
    g.release()


def test_producer_batch_with_block_commits_the_rest(pc):
    p, c = pc
    with p.acquire_batch(4, timeout=1) as b:
        p.commit(b[0], length=1)
    got = c.acquire_batch(8, timeout=1)
    assert [f.length for f in got] == [1] + [c.frame_bytes] * 3
    assert not any(f.flags & ringbuf.FRAME_INCOMPLETE for f in got)
    got.release()


def test_producer_batch(pc):
    p, c = pc
    b = p.acquire_batch(5, timeout=1)
    assert len(b) == 5
    arr = b.array
    assert arr.shape == (5, 16, 4) and arr.flags.writeable
    arr[...] = np.arange(5, dtype=np.float32)[:, None, None]
    del arr
    p.commit(b)
    got = c.acquire_batch(8, timeout=1)
    assert [f.seq for f in got] == list(range(5))
    np.testing.assert_array_equal(got.array[:, 3, 2], np.arange(5))
    got.release()


# ---- batches ----------------------------------------------------------------

def test_batch_waits_for_min_and_never_wraps(name):
    with ringbuf.Producer(name, "u16", (4,), slots=8) as p, ringbuf.Consumer(name) as c:
        put(p, 1, 3)
        b = c.acquire_batch(8, min=3, timeout=1)
        assert len(b) == 3
        b.release()
        put(p, 2, 7)  # seq 3..9 in slots 3..7, 0, 1
        b = c.acquire_batch(8, min=1, timeout=1)
        assert [f.seq for f in b] == [3, 4, 5, 6, 7]  # stops at the end
        arr = b.array
        assert arr.strides[0] == c.slot_stride and arr.shape == (5, 4)
        del arr
        b.release()
        b = c.acquire_batch(8, min=2, timeout=1)
        assert [f.seq for f in b] == [8, 9]
        assert len(b.arrays()) == 1
        b.release()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            c.acquire_batch(4, min=2, timeout=0.05)
        assert time.monotonic() - t0 >= 0.04


def test_batch_min_returns_fewer_on_timeout(name):
    with ringbuf.Producer(name, "u8", 8, slots=8) as p, ringbuf.Consumer(name) as c:
        put(p, 1, 2)
        b = c.acquire_batch(8, min=5, timeout=0.05)
        assert len(b) == 2
        b.release()


def test_batch_release_refused_while_a_member_is_viewed(pc):
    p, c = pc
    put(p, 1, 3)
    b = c.acquire_batch(3, timeout=1)
    v = np.asarray(b[1])
    with pytest.raises(BufferError):
        b.release()
    del v
    w = b.array
    with pytest.raises(BufferError):
        b[0].release()  # the batch view covers every member
    del w
    b.release()
    assert all(f.released for f in b)


def test_batch_slices_and_iteration(pc):
    p, c = pc
    put(p, 1, 4)
    with c.acquire_batch(4, timeout=1) as b:
        assert [f.seq for f in b[1:3]] == [1, 2]
        assert b[-1].seq == 3
        assert np.asarray(b[1:3]).shape == (2, 16, 4)
    assert c.stats()["frames"] == 4


def test_batches_iterator_stops_at_end_of_stream(pc):
    p, c = pc
    put(p, 3, 6)
    p.end_stream()
    sizes = [len(b) for b in c.batches(max=4)]
    assert sum(sizes) == 6
    assert c.stats()["frames"] == 6


# ---- streams and headers -----------------------------------------------------

def test_header_and_end_of_stream(pc):
    p, c = pc
    p.begin_stream({"source": "test", "rate": "10kHz"})
    put(p, 1, 2)
    p.end_stream()
    assert c.header == {"source": "test", "rate": "10kHz"}
    assert c.header_text == "source=test\nrate=10kHz\n"
    frames = list(c)
    assert [f.seq for f in frames] == [0, 1]
    assert frames[0].flags & ringbuf.FRAME_STREAM_START
    with pytest.raises(ringbuf.EndOfStream) as e:
        c.acquire(timeout=1)
    assert e.value.filename == c.name
    # A new stream goes on.
    p.begin_stream("n=2\n")
    put(p, 1)
    f = c.acquire(timeout=1)
    assert c.header == {"n": "2"} and f.flags & ringbuf.FRAME_STREAM_START
    f.release()


def test_begin_stream_needs_committed_frames(pc):
    p, c = pc
    f = p.acquire(timeout=1)
    with pytest.raises(ValueError, match="commit"):
        p.begin_stream({"a": 1})
    p.commit(f)
    with pytest.raises(ValueError, match="newline"):
        p.begin_stream({"a": "x\ny"})
    p.begin_stream({"a": 1})


def test_eos_arriving_after_frames_in_one_batch(pc):
    p, c = pc
    put(p, 1, 3)
    p.end_stream()
    b = c.acquire_batch(8, min=8, timeout=1)
    assert len(b) == 3
    b.release()
    with pytest.raises(ringbuf.EndOfStream):
        c.acquire_batch(8, timeout=1)


def test_frame_held_across_end_of_stream_keeps_its_slot(name):
    with ringbuf.Producer(name, "u8", 8, slots=4) as p, ringbuf.Consumer(name) as c:
        p.begin_stream("n=1\n")
        put(p, 1)
        p.end_stream()
        frame = c.acquire(timeout=1)  # seq 0; the marker is seq 1
        arr = np.asarray(frame)
        with pytest.raises(ringbuf.EndOfStream):
            c.acquire(timeout=1)
        p.begin_stream("n=2\n")
        put(p, 2, 2)  # seq 2, 3 in slots 2, 3
        # Slots 0 (arr) and 1 (the marker) are still held: no room.
        with pytest.raises(TimeoutError):
            p.acquire(timeout=0.05)
        assert (arr == 1).all()
        # Frames of the new stream, then the old one, released together.
        new = [c.acquire(timeout=1), c.acquire(timeout=1)]
        assert [f.seq for f in new] == [2, 3]
        for f in new:
            f.release()
        assert c.stats()["frames"] == 0
        del arr
        frame.release()
        st = c.stats()
        assert st["frames"] == 3 and st["held"] == 0
        put(p, 4, 2)  # seq 4, 5 in slots 0, 1: all handed back
        assert [f.seq for f in c.acquire_batch(4, timeout=1)] == [4, 5]


def test_loop_view_kept_past_the_end_of_the_stream(name):
    """The natural loop keeps the last array alive past the end of the
    stream: its frame stays held until the array goes."""
    with ringbuf.Producer(name, "u8", 8, slots=4) as p, ringbuf.Consumer(name) as c:
        put(p, 1, 3)
        p.end_stream(timeout=1)
        for frame in c:
            arr = np.asarray(frame)
        assert c.stats()["frames"] == 2
        p.begin_stream("n=2\n")
        put(p, 2, 2)  # slots 0 and 1 (seq 4, 5); seq 2 and its marker hold 2, 3
        with pytest.raises(TimeoutError):
            p.acquire(timeout=0.05)
        assert (arr == 1).all()
        del arr
        assert c.stats()["frames"] == 3
        p.commit(p.acquire(timeout=1))


def test_start_positions(name):
    with ringbuf.Producer(name, "u8", 8, slots=8) as p:
        put(p, 0, 5)
        for start, first in (("oldest", 0), ("newest", 4)):
            with ringbuf.Consumer(name, lossy=True, start=start) as c:
                f = c.acquire(timeout=1)
                assert f.seq == first
                f.release()
        with ringbuf.Consumer(name, start="next") as c:
            with pytest.raises(TimeoutError):
                c.acquire(timeout=0)
            put(p, 0)
            f = c.acquire(timeout=1)
            assert f.seq == 5
            f.release()


# ---- types ------------------------------------------------------------------

@pytest.mark.parametrize("frame_type,dtype", [
    ("u8", np.uint8), ("u16", np.uint16), ("u32", np.uint32), ("u64", np.uint64),
    ("i8", np.int8), ("i16", np.int16), ("i32", np.int32), ("i64", np.int64),
    ("f32", np.float32), ("f64", np.float64), ("c64", np.complex64),
    ("c128", np.complex128),
    (np.int16, np.int16), (np.dtype("float64"), np.float64), ("float32", np.float32),
    ("<u2", np.uint16),
])
def test_frame_types(name, frame_type, dtype):
    shape = (3, 5, 2)
    with ringbuf.Producer(name, frame_type, shape, slots=2) as p, \
            ringbuf.Consumer(name) as c:
        assert c.dtype == dtype and c.shape == shape
        assert c.frame_bytes == 30 * np.dtype(dtype).itemsize
        with p.acquire(timeout=1) as f:
            f.array[...] = np.arange(30).reshape(shape).astype(dtype)
        with c.acquire(timeout=1) as g:
            arr = np.asarray(g)
            assert arr.dtype == dtype and arr.shape == shape
            np.testing.assert_array_equal(arr, np.arange(30).reshape(shape))
            del arr


@pytest.mark.parametrize("frame_type", ["u128", ">i2", np.bool_, "U3", object])
def test_bad_frame_types(name, frame_type):
    with pytest.raises(ValueError, match="frame_type"):
        ringbuf.Producer(name, frame_type, 4)


# ---- errors -----------------------------------------------------------------

def test_errors_map_to_exceptions(ring_name):
    missing = ring_name("missing")
    with pytest.raises(FileNotFoundError) as e:
        ringbuf.Consumer(missing)
    assert isinstance(e.value, ringbuf.RingError)
    assert e.value.strerror == "no such ring" and e.value.filename == missing
    with pytest.raises(ValueError, match="invalid ring name"):
        ringbuf.Consumer(".hidden")
    with pytest.raises(ValueError, match="invalid group name"):
        ringbuf.Consumer(missing, group="no spaces")
    with pytest.raises(ValueError, match="invalid group name"):
        ringbuf.Consumer(missing, group="g" * 32)  # RB_GROUP_NAME_MAX is 31
    with pytest.raises(ValueError, match="start"):
        ringbuf.Consumer(missing, start="middle")
    name = ring_name()
    with ringbuf.Producer(name, "u8", 8, slots=2):
        with pytest.raises(FileExistsError):
            ringbuf.Producer(name, "u8", 8)
        with pytest.raises(ringbuf.RingError) as e:  # one producer per ring
            ringbuf.Producer(name, create=False)
        assert "live producer" in e.value.strerror
        with pytest.raises(ValueError, match="another type"):
            ringbuf.Producer(name, "u16", 8, create=False)
    import os
    assert not os.path.exists("/dev/shm/rb-" + name)  # removed by its creator


def test_open_timeout_waits_for_the_ring(name):
    def create():
        time.sleep(0.1)
        return ringbuf.Producer(name, "u8", 8, slots=2)

    result = []
    t = threading.Thread(target=lambda: result.append(create()))
    t.start()
    with ringbuf.Consumer(name, open_timeout=5) as c:
        assert c.slot_count == 2
    t.join()
    result[0].close()


def test_timeout_zero_and_timeout_error(pc):
    p, c = pc
    t0 = time.monotonic()
    with pytest.raises(ringbuf.RingTimeout):
        c.acquire(timeout=0.1)
    assert 0.09 <= time.monotonic() - t0 < 1.0
    with pytest.raises(TimeoutError):
        c.acquire(timeout=0)


# ---- threads ----------------------------------------------------------------

def test_wait_releases_the_gil(pc):
    """A producer thread of the same process feeds the consumer while it
    waits: only possible if the wait lets go of the GIL."""
    p, c = pc

    def feed():
        time.sleep(0.2)
        put(p, 4, 3)

    t = threading.Thread(target=feed)
    t.start()
    b = c.acquire_batch(3, min=3, timeout=5)
    t.join()
    assert len(b) == 3
    b.release()


def test_frames_released_by_another_thread_while_waiting(name):
    with ringbuf.Producer(name, "u8", 8, slots=4) as p, ringbuf.Consumer(name) as c:
        put(p, 1, 2)
        held = [c.acquire(timeout=1), c.acquire(timeout=1)]

        def later():
            time.sleep(0.2)
            for f in held:
                f.release()  # c is busy waiting: queued, passed on after a slice
            time.sleep(0.2)
            put(p, 2)

        t = threading.Thread(target=later)
        t.start()
        f = c.acquire(timeout=5)
        t.join()
        assert f.seq == 2
        st = c.stats()
        assert st["frames"] == 2 and st["held"] == 1
        f.release()


def test_close_from_another_thread_ends_a_wait(name):
    with ringbuf.Producer(name, "u8", 8, slots=2):
        c = ringbuf.Consumer(name)
        threading.Timer(0.2, c.close).start()
        t0 = time.monotonic()
        with pytest.raises(ValueError, match="closed"):
            c.acquire()
        assert time.monotonic() - t0 < 2


def test_forked_child_leaves_the_parents_handles_alone(name):
    import os
    p = ringbuf.Producer(name, "u8", 8, slots=2)
    c = ringbuf.Consumer(name)
    pid = os.fork()
    if pid == 0:  # the child drops its copies: no detach, no remove
        code = 0
        try:
            del c, p
            gc.collect()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    st = p.status()
    assert st["consumers"] == 1 and st["producer_alive"]
    assert os.path.exists("/dev/shm/rb-" + name)
    put(p, 1)
    c.acquire(timeout=1).release()
    c.close()
    p.close()
