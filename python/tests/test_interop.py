"""The binding against the C programs: rb-producer into a Python consumer,
a Python producer into rb-consumer, every byte checked."""
import json

import numpy as np
import pytest

from rbtest import adc_frame, counter_bytes, counter_fill, ringbuf, wait_for

pytestmark = pytest.mark.needs_programs


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_c_counter_producer_to_python_consumer(name, procs):
    total = 500
    prod = procs.producer(name, "--source", "counter", "--frame-size", "4KiB",
                          "--slots", "64", "--count", str(total), "-W", "1")
    seqs = []
    with ringbuf.Consumer(name, open_timeout=5) as c:
        assert c.frame_type is None and c.dtype == np.uint8
        for frame in c:
            arr = np.asarray(frame)
            assert arr.dtype == np.uint8 and arr.shape == (frame.length,)
            assert frame.length == 4096
            np.testing.assert_array_equal(arr, counter_bytes(frame.seq, frame.length))
            seqs.append(frame.seq)
            # Without it the last frame stays held (by arr) past the end of
            # the stream, and stats() below would not count it yet.
            del arr
        assert c.header["source"] == "counter"
        st = c.stats()
    assert seqs == list(range(total))
    assert st["frames"] == total and st["lost"] == 0
    assert finish(prod)[0] == 0


def test_c_adc_producer_gives_typed_frames(name, procs):
    samples, channels, total = 256, 4, 40
    prod = procs.producer(name, "--source", "adc", "--channels", str(channels),
                          "--samples", str(samples), "--count", str(total), "-W", "1")
    with ringbuf.Consumer(name, open_timeout=5) as c:
        assert c.frame_type == "i16"
        assert c.dtype == np.int16 and c.shape == (samples, channels)
        n = 0
        for frame in c:
            arr = frame.array
            assert arr.dtype == np.int16 and arr.shape == (samples, channels)
            assert not arr.flags.writeable
            np.testing.assert_array_equal(arr, adc_frame(frame.seq, samples, channels))
            del arr
            n += 1
        hdr = c.header
    assert n == total
    assert hdr["source"] == "adc" and hdr["channels"] == str(channels)
    assert finish(prod)[0] == 0


def test_c_producer_batches_in_python(name, procs):
    total = 2000
    prod = procs.producer(name, "--source", "counter", "--frame-size", "1KiB",
                          "--slots", "256", "--count", str(total), "-W", "1")
    expect = 0
    with ringbuf.Consumer(name, open_timeout=5) as c:
        for batch in c.batches(max=100, min=10):
            arr = batch.array  # one strided view over consecutive slots
            assert arr.shape == (len(batch), 1024)
            for i, frame in enumerate(batch):
                assert frame.seq == expect
                np.testing.assert_array_equal(arr[i], counter_bytes(frame.seq, 1024))
                expect += 1
            del arr
    assert expect == total
    assert finish(prod)[0] == 0


def start_c_consumer(procs, name, analysis, *opts):
    proc = procs.consumer(name, analysis, "--json", "--wait-ring", "5s", *opts)
    return proc


def wait_consumers(p, n=1):
    wait_for(lambda: p.status()["consumers"] >= n, what="the C consumer to attach")


def test_python_producer_to_c_verify(name, procs):
    total = 300
    with ringbuf.Producer(name, frame_bytes=4096, slots=32) as p:
        cons = start_c_consumer(procs, name, "verify")
        wait_consumers(p)
        p.begin_stream({"source": "counter"})
        for _ in range(total):
            with p.acquire(timeout=5) as frame:
                counter_fill(frame.array, frame.seq)
    rc, out, err = finish(cons)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["frames"] == total
    assert summary["content_checked"] is True
    assert summary["checked_frames"] == total
    assert summary["gaps"] == 0 and summary["errors"] == 0
    assert summary["end"] == "eos"


def test_python_batch_producer_to_c_verify(name, procs):
    total = 1000
    with ringbuf.Producer(name, frame_bytes=2048, slots=64) as p:
        cons = start_c_consumer(procs, name, "verify")
        wait_consumers(p)
        p.begin_stream("source=counter\n")
        sent = 0
        while sent < total:
            batch = p.acquire_batch(min(16, total - sent), timeout=5)
            arr = batch.array
            for i, frame in enumerate(batch):
                counter_fill(arr[i], frame.seq)
            del arr
            p.commit(batch)
            sent += len(batch)
        p.end_stream(timeout=5)
    rc, out, err = finish(cons)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["checked_frames"] == total and summary["gaps"] == 0


def test_python_typed_producer_to_c_stats(name, procs):
    samples, channels, total = 128, 2, 50
    with ringbuf.Producer(name, "i16", (samples, channels), slots=16) as p:
        cons = start_c_consumer(procs, name, "stats")
        wait_consumers(p)
        p.begin_stream({"source": "python", "channels": channels})
        for i in range(total):
            with p.acquire(timeout=5) as frame:
                a = frame.array
                a[:, 0] = i           # channel 0: the frame number
                a[:, 1] = -7          # channel 1: constant
                del a
    rc, out, err = finish(cons)
    assert rc == 0, err
    stats = json.loads(out)["stats"]
    assert stats["elem"] == "i16" and stats["shape"] == [samples, channels]
    assert stats["frames"] == total
    assert stats["min"] == -7 and stats["max"] == total - 1
    assert stats["mean"] == pytest.approx(((total - 1) / 2 - 7) / 2)


def test_lossy_python_consumer_counts_every_loss(name, procs):
    total = 20000
    prod = procs.producer(name, "--source", "counter", "--frame-size", "4KiB",
                          "--slots", "16", "--count", str(total), "--rate", "max",
                          "-W", "1")
    delivered = checked = 0
    with ringbuf.Consumer(name, lossy=True, open_timeout=5) as c:
        assert c.lossy
        for frame in c:
            arr = np.asarray(frame)
            ok = np.array_equal(arr, counter_bytes(frame.seq, frame.length))
            # Only a frame that is still intact after reading proves anything.
            if frame.check():
                assert ok, "frame %d corrupt although intact" % frame.seq
                checked += 1
            del arr
            delivered += 1
        st = c.stats()
    assert finish(prod)[0] == 0
    assert st["lost"] > 0, "the producer should have lapped a 16-slot ring"
    assert st["frames"] + st["lost"] == total
    assert st["frames"] <= delivered
    assert checked > 0


def test_producer_death_is_reported(name, procs):
    import signal
    prod = procs.producer(name, "--source", "counter", "--rate", "1kHz", "-W", "1")
    with ringbuf.Consumer(name, open_timeout=5) as c:
        frame = c.acquire(timeout=5)
        frame.release()
        prod.send_signal(signal.SIGKILL)
        prod.wait()
        with pytest.raises(ringbuf.ProducerDied):
            while True:
                c.acquire(timeout=5).release()
