"""Issue 13 in Python (layout 4): frame.header is the header of the frame's
own stream, frame.utc_ns / frame.utc its UTC time, and drops at the producer
are counted per frame and in consumer.stats() (docs/FORMAT.md §5.13, §5.22,
§5.23)."""
import datetime
import errno
import json
import time

import pytest

from rbtest import ringbuf


def read_all(c, streams):
    """(seq, stream, header dict, dropped_before) of every frame of
    `streams` streams; the frames are released at once."""
    out, ended = [], 0
    while ended < streams:
        try:
            frame = c.acquire(timeout=10)
        except ringbuf.EndOfStream:
            ended += 1
            continue
        out.append((frame.seq, frame.stream, frame.header, frame.dropped_before,
                    frame.utc_ns))
        frame.release()
    return out


def test_python_lagging_consumer_gets_each_frames_own_header(name):
    with ringbuf.Producer(name, frame_bytes=64, slots=64) as p:
        for run in (1, 2, 3):
            p.begin_stream({"run": run})
            for _ in range(5):
                with p.acquire(timeout=5):
                    pass                      # committed at exit
            p.end_stream()
        # The consumer attaches after all three: it lags across them.
        with ringbuf.Consumer(name, lossy=True, open_timeout=5) as c:
            assert c.header["run"] == "3"          # the newest stream's
            got = read_all(c, 3)
    assert [g[0] for g in got] == [s for s in range(18) if s % 6 != 5]
    for seq, stream, header, dropped, utc in got:
        assert stream == seq // 6 + 1
        assert header == {"run": str(seq // 6 + 1)}
        assert dropped == 0
        assert abs(utc - time.time_ns()) < 60 * 10**9


def test_overwritten_header_raises_never_another_streams(name):
    # A ring keeps the headers of the newest 8 streams (stream_headers).
    with ringbuf.Producer(name, frame_bytes=64, slots=64) as p:
        for run in range(1, 11):
            p.begin_stream({"run": run})
            with p.acquire(timeout=5):
                pass
        with ringbuf.Consumer(name, lossy=True, open_timeout=5) as c:
            first = c.acquire(timeout=5)
            with pytest.raises(ringbuf.RingError) as e:
                first.header
            assert e.value.errno == errno.ENOMSG
            first.release()
            second = c.acquire(timeout=5)
            with pytest.raises(ringbuf.RingError):
                second.header                     # run 2: gone too
            second.release()
            second = c.acquire(timeout=5)
            assert second.header == {"run": "3"} and second.stream == 3
            assert isinstance(second.utc, datetime.datetime)
            assert second.utc.tzinfo is datetime.timezone.utc
            second.release()


@pytest.mark.needs_programs
def test_c_streams_to_python(name, procs):
    for k, rate in enumerate(("100", "200", "300")):
        args = ["--keep", "--count", "5", "--rate", rate + "Hz"]
        args += ["--frame-size", "64", "--slots", "64"] if k == 0 else ["--attach"]
        proc = procs.producer(name, *args)
        assert proc.wait(timeout=30) == 0
    with ringbuf.Consumer(name, lossy=True, open_timeout=5) as c:
        got = read_all(c, 3)
    assert len(got) == 15
    for seq, stream, header, dropped, utc in got:
        assert header["rate"] == ("100", "200", "300")[seq // 6]
        assert utc is not None


@pytest.mark.needs_programs
def test_on_full_drop_python_consumer_counts_every_frame(name, procs):
    total = 2000
    prod = procs.producer(name, "--frame-size", "64", "--slots", "16", "--on-full",
                          "drop", "--count", str(total), "-W", "1", "--json")
    frames = dropped_sum = 0
    with ringbuf.Consumer(name, open_timeout=10) as c:
        for frame in c:
            dropped_sum += frame.dropped_before
            frames += 1
            time.sleep(0.0002)          # slower than the producer
        st = c.stats()
    out, err = prod.communicate(timeout=60)
    assert prod.returncode == 0, err
    p = json.loads(out)
    assert p["dropped"] > 0
    assert st["frames"] == frames == p["frames"]
    assert st["lost"] == 0
    assert st["dropped_at_producer"] == p["dropped"]
    assert st["frames"] + st["dropped_at_producer"] == total
    assert dropped_sum <= st["dropped_at_producer"]   # the end marker's too
