"""ringbuf.Recording: recordings made by the C recorder (rb-consumer record),
read back in Python and compared, byte by byte and descriptor by
descriptor, with what the producer published (seen by a Python consumer
beside the recorder)."""
import json
import os
import subprocess
import time

import numpy as np
import pytest

from rbtest import RB_PRODUCER, adc_frame, counter_bytes, ringbuf, wait_for

pytestmark = pytest.mark.needs_programs


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def record(procs, name, path, producer_args, *record_args):
    """Runs a producer into a recorder and a Python consumer; returns what
    the consumer saw: (seq, timestamp, length, flags, bytes) per frame."""
    rec = procs.consumer(name, "record", "--wait-ring", "30s", "--json",
                         *record_args, "--output", path)
    prod = procs.producer(name, *producer_args, "-W", "2")
    seen = []
    with ringbuf.Consumer(name, open_timeout=30) as c:
        for f in c:
            seen.append((f.seq, f.timestamp, f.length, f.flags, bytes(memoryview(f))))
    finish(prod)
    json.loads(finish(rec))
    return seen


def check_frames(r, seen):
    assert len(r) == len(seen)
    for i, (frame, (seq, ts, length, flags, data)) in enumerate(zip(r, seen)):
        assert (frame.index, frame.seq, frame.timestamp, frame.length) == (i, seq, ts, length)
        # The recorder keeps every flag; the ring's own stream-start mark
        # is kept too (docs/RECORDING.md, descriptor flags).
        assert frame.flags == flags
        assert frame.incomplete == bool(flags & ringbuf.FRAME_INCOMPLETE)
        assert not frame.abandoned and frame.dropped_before == 0 and frame.intact
        a = frame.array
        assert not a.flags.writeable
        assert a.tobytes() == data


def test_counter_recording_reads_back_every_byte_and_descriptor(name, procs, tmp_path):
    path = str(tmp_path / "counter.rbrec")
    t0 = time.time_ns()
    seen = record(procs, name, path, ["--source", "counter", "--frame-size", "4KiB",
                                      "--slots", "64", "--count", "300"])
    t1 = time.time_ns()
    r = ringbuf.Recording(path)
    assert r.complete and r.stop == "end" and r.version == 3 and r.paths == [path]
    assert r.dtype == np.uint8 and r.shape == (4096,)
    check_frames(r, seen)
    for f in r:  # FORMAT.md section 8: word k of seq s is s * 0x9e3779b97f4a7c15 + k
        assert f.array.tobytes() == counter_bytes(f.seq, f.length).tobytes()
    # Indexing by position and by seq.
    assert r[-1].seq == seen[-1][0] and r.by_seq(seen[100][0]).index == 100
    with pytest.raises(KeyError):
        r.by_seq(seen[-1][0] + 1)
    with pytest.raises(IndexError):
        r[len(r)]
    # The UTC anchor: the recorder's clocks at stream start, so every
    # frame's UTC time lies within the run.
    (stream,) = r.streams
    assert stream["header"]["source"] == "counter" and stream["frames"] == 300
    assert stream["utc_anchor"] is not None
    for f in (r[0], r[-1]):
        assert t0 - 10**9 <= f.utc_ns <= t1 + 10**9
        assert r.utc(f.timestamp) == f.utc_ns
    # Views of the file, no copies: the array's memory is the mapping.
    assert isinstance(r[3].array.base, type(r[0].array.base))
    assert np.asarray(r[3]).tobytes() == seen[3][4]


def test_adc_recording_typed_frames_and_strided_runs(name, procs, tmp_path):
    samples, channels, total = 512, 4, 150  # 4 KiB frames: O_DIRECT, back to back
    path = str(tmp_path / "adc.rbrec")
    seen = record(procs, name, path, ["--source", "adc", "--channels", str(channels),
                                      "--samples", str(samples), "--count", str(total)])
    r = ringbuf.Recording(path)
    assert r.dtype == np.int16 and r.shape == (samples, channels)
    check_frames(r, seen)
    for f in r:
        np.testing.assert_array_equal(f.array, adc_frame(f.seq, samples, channels))
    # One descriptor page per 63 frames: runs of 63 evenly strided frames.
    assert r.runs() == [(0, 63), (63, 126), (126, 150)]
    block = r.frames(63, 126)
    assert block.shape == (63, samples, channels) and not block.flags.writeable
    assert not block.flags.owndata
    np.testing.assert_array_equal(block, np.stack([adc_frame(s, samples, channels)
                                                   for s in range(63, 126)]))
    with pytest.raises(ValueError, match="not evenly strided"):
        r.frames(0, 100)
    whole = r.frames(0, total, copy=True)
    assert whole.flags.owndata and whole.shape == (total, samples, channels)
    np.testing.assert_array_equal(whole[100], adc_frame(100, samples, channels))


def test_rotated_recording_reads_every_part_in_order(name, procs, tmp_path):
    path = str(tmp_path / "rot.rbrec")
    seen = record(procs, name, path, ["--source", "counter", "--frame-size", "4KiB",
                                      "--slots", "64", "--count", "400"],
                  "--max-file-size", "256KiB")
    parts = sorted(p for p in os.listdir(tmp_path) if p.startswith("rot.rbrec."))
    assert len(parts) >= 4 and not os.path.exists(path)
    r = ringbuf.Recording(path)  # FILE.000, FILE.001, ...
    assert r.complete and r.paths == [str(tmp_path / p) for p in parts]
    check_frames(r, seen)
    assert {f.path for f in r} == set(r.paths)
    # A run never crosses a part.
    for a, b in r.runs():
        assert r[a].path == r[b - 1].path


def check_json(path):
    p = subprocess.run([RB_PRODUCER, "--source", "file", "--check", "--json", "--input", path],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout)


def test_truncated_recording_keeps_its_valid_prefix(name, procs, tmp_path):
    path = str(tmp_path / "cut.rbrec")
    seen = record(procs, name, path, ["--source", "counter", "--frame-size", "4KiB",
                                      "--slots", "64", "--count", "200"])
    full = ringbuf.Recording(path)
    # Cut the file inside group 2's frames: its page survives, the frames
    # past the cut do not.
    cut = full[140].offset + 100
    del full
    os.truncate(path, cut)
    r = ringbuf.Recording(path)
    rc, check = check_json(path)
    # The same verdict as --check: the frames before the cut, and why.
    assert not r.complete and r.stop == check["end"] == \
        "damaged: a descriptor points outside the file"
    assert rc == 1 and len(r) == check["frames"] == 140
    check_frames(r, seen[:140])
    # Cut at group 2's page: groups 0 and 1 remain, the summary says more.
    os.truncate(path, r[126].offset - 4096)
    r = ringbuf.Recording(path)
    rc, check = check_json(path)
    assert not r.complete and r.stop == check["end"] == \
        "damaged: fewer descriptors than the summary says"
    assert len(r) == check["frames"] == 126
    check_frames(r, seen[:126])


def test_a_bit_flip_is_reported_never_handed_out(name, procs, tmp_path):
    path = str(tmp_path / "flip.rbrec")
    seen = record(procs, name, path, ["--source", "counter", "--frame-size", "4KiB",
                                      "--slots", "64", "--count", "150"])
    off = ringbuf.Recording(path)[77].offset + 1000
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x10]))
    r = ringbuf.Recording(path)
    assert r.complete and len(r) == 150  # the walk itself is whole
    bad = r[77]
    assert bad.intact is False and bad.seq == seen[77][0]
    with pytest.raises(ringbuf.RecordingDamaged, match="seq 77"):
        bad.array
    with pytest.raises(ringbuf.RecordingDamaged):
        r.frames(63, 126)
    assert r.verify() == [77]
    for i in (76, 78, 149):
        assert r[i].array.tobytes() == seen[i][4]
    rc, check = check_json(path)
    assert rc == 1 and check["damaged_frames"] == 1 and check["first_damaged_seq"] == 77


def test_incomplete_frames_are_recorded_and_replayed_incomplete(ring_name, procs, tmp_path):
    name, replay = ring_name("src"), ring_name("replay")
    path = str(tmp_path / "inc.rbrec")
    total = 40
    with ringbuf.Producer(name, "u8", 4096, slots=16) as p:
        rec = procs.consumer(name, "record", "--wait-ring", "30s", "--output", path)
        wait_for(lambda: p.status()["consumers"] >= 1, 30, "the recorder")
        p.begin_stream({"source": "test"})
        for i in range(total):
            f = p.acquire(timeout=10)
            f.array[:] = i & 0xFF
            p.commit(f, flags=ringbuf.FRAME_INCOMPLETE if i % 3 == 1 else 0)
        p.end_stream(timeout=30)
    finish(rec)
    r = ringbuf.Recording(path)
    assert [f.incomplete for f in r] == [i % 3 == 1 for i in range(total)]
    prod = procs.producer(replay, "--source", "file", "--input", path, "-W", "1")
    got = []
    with ringbuf.Consumer(replay, open_timeout=30) as c:
        for f in c:
            got.append(bool(f.flags & ringbuf.FRAME_INCOMPLETE))
            assert bytes(memoryview(f)) == bytes([len(got) - 1]) * 4096
    finish(prod)
    assert got == [i % 3 == 1 for i in range(total)]


def test_not_a_recording(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"x" * 8192)
    with pytest.raises(OSError, match="not a recording"):
        ringbuf.Recording(str(path))
    with pytest.raises(FileNotFoundError):
        ringbuf.Recording(str(tmp_path / "none"))


def test_utc_of_recorded_frames_is_what_a_live_consumer_computed(ring_name, procs, tmp_path):
    """The recording's UTC anchor is the ring's clock offset (not a pair of
    clock reads of its own): every recorded frame's utc_ns equals the one a
    live Python consumer read from the ring for it, to the ns."""
    name = ring_name("utc")
    path = str(tmp_path / "utc.rbrec")
    total = 50
    live = {}
    # Room for every frame: the consumer below reads after the producer.
    with ringbuf.Producer(name, "u8", 4096, slots=64) as p:
        rec = procs.consumer(name, "record", "--wait-ring", "30s", "--output", path)
        with ringbuf.Consumer(name, open_timeout=30) as c:
            p.wait_consumers(2, timeout=30)
            p.begin_stream({"source": "test"})
            for i in range(total):
                f = p.acquire(timeout=10)
                f.array[:] = i & 0xFF
                p.commit(f)
            p.end_stream(timeout=30)
            for f in c:
                live[f.seq] = (f.timestamp, f.utc_ns)
    finish(rec)
    r = ringbuf.Recording(path)
    assert len(r) == total == len(live)
    mono, real = r.streams[0]["utc_anchor"]
    offsets = {utc - ts for ts, utc in live.values()}
    assert offsets == {real - mono}          # one offset: the ring's
    for f in r:
        assert (f.timestamp, f.utc_ns) == live[f.seq]
        assert r.utc(f.timestamp) == f.utc_ns


def test_drops_at_the_producer_are_recorded_and_add_up(ring_name, procs, tmp_path):
    """--on-full drop into a slow lossless recorder: the recording's frames
    and its drops (each frame's dropped_before, and the end marker's
    dropped_after) add up to what the producer produced, exactly."""
    name = ring_name("drop")
    path = str(tmp_path / "drop.rbrec")
    total = 2000
    rec = procs.consumer(name, "record", "--wait-ring", "30s", "--batch", "4",
                         "--delay-per-frame", "200us", "--json", "--output", path)
    prod = procs.producer(name, "--frame-size", "4096", "--slots", "16", "--on-full",
                          "drop", "--count", str(total), "-W", "1", "--json")
    p = json.loads(finish(prod))
    s = json.loads(finish(rec))
    assert p["dropped"] > 0 and p["frames"] + p["dropped"] == total
    r = ringbuf.Recording(path)
    assert r.complete and r.version == 3
    assert len(r) == p["frames"] == s["recorded_frames"]
    assert sum(f.dropped_before for f in r) + r.dropped_after == p["dropped"]
    assert r.dropped_at_producer == p["dropped"] == s["dropped_at_producer"]
    assert len(r) + r.dropped_at_producer == total
    assert s["recorded_dropped_after"] == r.dropped_after


def test_hdf5_recording_frame_utc_and_header_are_the_frames_own(ring_name, procs, tmp_path):
    """record --format hdf5: each frame's utc is the ring's (what a live
    consumer computed, to the ns), and a recorder lagging behind a stream
    boundary writes the old stream's header, not the ring's newest."""
    h5py = pytest.importorskip("h5py")
    name = ring_name("h5")
    path = str(tmp_path / "a.h5")
    live = {}
    with ringbuf.Producer(name, "u8", 4096, slots=64) as p:
        with ringbuf.Consumer(name, open_timeout=30) as c:
            for run in (1, 2):
                p.begin_stream({"source": "test", "run": run})
                for i in range(5):
                    f = p.acquire(timeout=10)
                    f.array[:] = i
                    p.commit(f)
                p.end_stream(timeout=30)
            for _ in range(2):
                for f in c:
                    live[f.seq] = f.utc_ns
        # Attached after both streams: it reads stream 1 (seqs 0..4) while
        # stream 2's header is the ring's newest.
        rec = procs.consumer(name, "record", "--lossy", "--format", "hdf5", "--json",
                             "--output", path)
        finish(rec)
    with h5py.File(path) as h:
        g = h["stream0"]
        d = g["descriptors"][:]
        run = g.attrs["run"]
    assert list(d["seq"]) == [0, 1, 2, 3, 4]
    assert [int(u) for u in d["utc"]] == [live[s] for s in range(5)]
    assert run == "1"
