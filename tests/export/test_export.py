"""rb-ctl export (docs/RECORDING.md, "Export"), tested end to end.

Frames are made by the real programs (rb-producer's counter and adc
sources, or the Python binding's Producer for what rb-producer cannot make:
complex frames, incomplete ones), recorded by rb-consumer record, exported
by rb-ctl export, and read back by independent readers: h5py for HDF5, and
for PSRDADA a parser of the ASCII header written here from the document.
Every frame byte and descriptor is compared with what the producer wrote.

Run by meson (suite tools, RB_BUILD_DIR set); by hand:
RB_BUILD_DIR=build /usr/bin/python3 -m pytest tests/export
"""
import itertools
import json
import time
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python", "tests"))

from rbtest import BUILD_DIR, RB_CONSUMER, RB_PRODUCER, adc_frame, counter_bytes, ringbuf  # noqa: E402

h5py = pytest.importorskip("h5py")

# RB_CTL, RB_CONSUMER: another build's rb-ctl and rb-consumer (an ASan one: the Python module that makes
# the test's complex frames cannot be built with sanitizers).
RB_CTL = os.environ.get("RB_CTL", os.path.join(BUILD_DIR, "tools", "ctl", "rb-ctl"))
RB_CONSUMER = os.environ.get("RB_CONSUMER", RB_CONSUMER)  # the recorder, likewise
TIMEOUT = 60  # seconds; the machine may be several times slower than quiet
STREAM_START = 1
INCOMPLETE = 4
_names = itertools.count()


@pytest.fixture
def ring():
    """Fresh ring names (rb-test-... in /dev/shm), removed after the test."""
    made = []

    def make():
        name = "test-export-%d-%d" % (os.getpid(), next(_names))
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            ringbuf.remove(name)
        except FileNotFoundError:
            pass


@pytest.fixture(autouse=True)
def _no_files_left(tmp_path):
    """Recordings and exports are removed, pass or fail (pytest would keep
    the last three runs' directories)."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def run(args, check=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    if check is not None:
        assert p.returncode == check, "%s: exit %d\n%s%s" % (args, p.returncode, p.stdout,
                                                             p.stderr)
    return p


def recorder(name, out, *args):
    return subprocess.Popen([RB_CONSUMER, "--wait-ring", "30s", "--json", *args, "--output",
                             str(out), name, "record"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, err
    return out


def record(name, out, *producer_args):
    """Records what rb-producer makes into `out`."""
    rec = recorder(name, out)
    try:
        run([RB_PRODUCER, "--wait-consumers", "1", *producer_args, name], check=0)
    finally:
        finish(rec)


def record_counter(ring, out, count, size="4096"):
    record(ring(), out, "--frame-size", size, "--count", str(count))


ADC = dict(samples=256, channels=4, rate=100e3)


def record_adc(ring, out, count):
    record(ring(), out, "--source", "adc", "--samples", str(ADC["samples"]), "--channels",
           str(ADC["channels"]), "--sample-rate", "%g" % ADC["rate"], "--rate", "max",
           "--count", str(count))


def record_python(ring, out, frame_type, shape, frames):
    """Records frames made by the Python binding: `frames` is a list of
    (array, length, flags); length None: the whole frame."""
    name = ring()
    with ringbuf.Producer(name, frame_type, shape, slots=64) as p:
        rec = recorder(name, out)
        try:
            p.wait_consumers(1, timeout=TIMEOUT)
            p.begin_stream({"source": "python", "note": "made in the test"})
            for data, length, flags in frames:
                f = p.acquire(timeout=TIMEOUT)
                f.array[...] = data
                p.commit(f, length=length, flags=flags)
            p.end_stream(timeout=TIMEOUT)
        finally:
            finish(rec)


def export(*args, check=0):
    return run([RB_CTL, "export", *[str(a) for a in args]], check=check)


def check_descriptors(d, count, length):
    assert len(d) == count
    assert list(d["seq"]) == list(range(count))
    assert (d["length"] == length).all()
    assert d["flags"][0] & STREAM_START
    assert (np.diff(d["timestamp"].astype(np.int64)) >= 0).all()
    # The UTC of a frame is its time stamp moved by one offset.
    off = d["utc"].astype(np.int64) - d["timestamp"].astype(np.int64)
    assert (off == off[0]).all() and d["utc"][0] > 1_500_000_000 * 10**9


def check_counter_rows(frames, count, size):
    assert frames.shape == (count, size) and frames.dtype == np.uint8
    for s in range(count):
        assert np.array_equal(frames[s], counter_bytes(s, size)), "frame %d" % s


def parse_dada(path):
    """The file's header as a dict (PSRDADA: "KEY value" lines, NUL-padded
    to HDR_SIZE, which is 4096 or more) and its data bytes."""
    raw = open(path, "rb").read()
    text = raw[:4096].split(b"\0", 1)[0].decode("ascii")
    hdr = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        assert key not in hdr, "repeated key " + key
        hdr[key] = value.strip()
    size = int(hdr["HDR_SIZE"])
    assert size >= 4096 and size & (size - 1) == 0
    assert raw[len(text.encode()):size].count(0) == size - len(text.encode())
    return hdr, raw[size:]


# ---- HDF5 -------------------------------------------------------------------


def test_counter_hdf5(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 300)
    p = export(tmp_path / "c.rec", tmp_path / "c.h5", "--json")
    j = json.loads(p.stdout)
    assert j["frames"] == 300 and j["streams"][0]["complete"] is True
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert list(f.keys()) == ["stream0"]
        g = f["stream0"]
        check_counter_rows(g["frames"][...], 300, 4096)
        check_descriptors(g["descriptors"][...], 300, 4096)
        assert g["frames"].chunks is not None and g["frames"].maxshape[0] is None
        assert g.attrs["source"] == "counter" and g.attrs["frame_bytes"] == "4096"
        assert g.attrs["rb_frames"] == 300 and g.attrs["rb_complete"] == 1
        assert g.attrs["rb_stream_header"].startswith("source=counter\n")
        assert g.attrs["rb_utc_start"] == g.attrs["start_time"]


def test_adc_hdf5_typed(ring, tmp_path):
    record_adc(ring, tmp_path / "a.rec", 100)
    export(tmp_path / "a.rec", tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        g = f["stream0"]
        frames = g["frames"][...]
        assert frames.dtype == np.int16
        assert frames.shape == (100, ADC["samples"], ADC["channels"])
        for s in range(100):
            assert np.array_equal(frames[s], adc_frame(s, ADC["samples"], ADC["channels"]))
        check_descriptors(g["descriptors"][...], 100, ADC["samples"] * ADC["channels"] * 2)
        assert g.attrs["source"] == "adc" and g.attrs["channels"] == "4"


def test_complex_and_incomplete_hdf5(ring, tmp_path):
    """c64 frames as numpy complex64; a short INCOMPLETE frame zero-padded,
    its length and flags kept."""
    rng = np.random.default_rng(16)
    data = [(rng.standard_normal((8, 16)) + 1j * rng.standard_normal((8, 16))).astype(
        np.complex64) for _ in range(40)]
    frames = [(a, None, None) for a in data]
    frames[7] = (data[7], 200, INCOMPLETE)  # 25 of 128 elements
    record_python(ring, tmp_path / "z.rec", "c64", (8, 16), frames)
    p = export(tmp_path / "z.rec", tmp_path / "z.h5", "--json")
    assert json.loads(p.stdout)["streams"][0]["incomplete_frames"] == 1
    with h5py.File(tmp_path / "z.h5", "r") as f:
        g = f["stream0"]
        got = g["frames"][...]
        d = g["descriptors"][...]
    assert got.dtype == np.complex64 and got.shape == (40, 8, 16)
    for i in range(40):
        want = data[i].copy()
        if i == 7:
            want.reshape(-1)[25:] = 0
        assert np.array_equal(got[i], want), "frame %d" % i
    assert d["length"][7] == 200 and d["flags"][7] & INCOMPLETE
    assert (np.delete(d["length"], 7) == 8 * 16 * 8).all()
    assert g.attrs is not None


@pytest.mark.parametrize("elem,dtype", [
    ("u8", np.uint8), ("u16", np.uint16), ("u32", np.uint32), ("u64", np.uint64),
    ("i8", np.int8), ("i16", np.int16), ("i32", np.int32), ("i64", np.int64),
    ("f32", np.float32), ("f64", np.float64), ("c64", np.complex64), ("c128", np.complex128)])
def test_every_element_type(ring, tmp_path, elem, dtype):
    """Each element type as its numpy dtype (HDF5) and its NBIT/NDIM (dada)."""
    rng = np.random.default_rng(len(elem))
    shape = (3, 5)
    raw = rng.integers(0, 256, (4, *shape, np.dtype(dtype).itemsize), dtype=np.uint8)
    data = [raw[i].view(dtype).reshape(shape) for i in range(4)]
    if np.dtype(dtype).kind in "fc":  # no NaN: equal means equal
        data = [np.nan_to_num(a) for a in data]
    record_python(ring, tmp_path / "t.rec", elem, shape, [(a, None, None) for a in data])
    export(tmp_path / "t.rec", tmp_path / "t.h5")
    with h5py.File(tmp_path / "t.h5", "r") as f:
        got = f["stream0/frames"][...]
        assert f["stream0"].attrs["rb_elem"] == elem
    assert got.dtype == dtype and got.shape == (4, *shape)
    assert np.array_equal(got, np.array(data))
    export(tmp_path / "t.rec", tmp_path / "t.dada")
    hdr, body = parse_dada(tmp_path / "t.dada")
    ndim = 2 if np.dtype(dtype).kind == "c" else 1
    assert (int(hdr["NBIT"]), int(hdr["NDIM"])) == (np.dtype(dtype).itemsize * 8 // ndim, ndim)
    assert "NCHAN" not in hdr  # a 2-D frame without channels= implies no layout
    assert body == np.array(data).tobytes()


def test_compress(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 200)
    export(tmp_path / "c.rec", tmp_path / "c.h5", "--compress", "6")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        ds = f["stream0/frames"]
        assert ds.compression == "gzip" and ds.compression_opts == 6
        check_counter_rows(ds[...], 200, 4096)
        assert f["stream0/descriptors"].compression == "gzip"


def test_several_streams_hdf5(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 70)
    record_adc(ring, tmp_path / "a.rec", 30)
    export(tmp_path / "c.rec", tmp_path / "a.rec", tmp_path / "two.h5")
    with h5py.File(tmp_path / "two.h5", "r") as f:
        assert sorted(f.keys()) == ["stream0", "stream1"]
        check_counter_rows(f["stream0/frames"][...], 70, 4096)
        a = f["stream1/frames"][...]
        assert a.shape == (30, ADC["samples"], ADC["channels"])
        assert np.array_equal(a[29], adc_frame(29, ADC["samples"], ADC["channels"]))
        assert f["stream0"].attrs["rb_recording"].endswith("c.rec")
        assert f["stream1"].attrs["rb_recording"].endswith("a.rec")


def test_rotated_recording(ring, tmp_path):
    """A series FILE.000, FILE.001, ... exports as one stream."""
    name = ring()
    rec = recorder(name, tmp_path / "s", "--max-file-size", "256KiB")
    try:
        run([RB_PRODUCER, "--wait-consumers", "1", "--frame-size", "4096", "--count", "200",
             name], check=0)
    finally:
        finish(rec)
    assert os.path.exists(tmp_path / "s.002")
    export(tmp_path / "s", tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        check_counter_rows(f["stream0/frames"][...], 200, 4096)


# ---- PSRDADA ----------------------------------------------------------------


def test_adc_dada(ring, tmp_path):
    record_adc(ring, tmp_path / "a.rec", 60)
    export(tmp_path / "a.rec", tmp_path / "a.dada")
    hdr, data = parse_dada(tmp_path / "a.dada")
    row = ADC["samples"] * ADC["channels"] * 2
    assert hdr["HDR_VERSION"] == "1.0" and hdr["HDR_SIZE"] == "4096"
    assert (hdr["NBIT"], hdr["NDIM"], hdr["NCHAN"], hdr["NPOL"]) == ("16", "1", "4", "1")
    assert float(hdr["TSAMP"]) == pytest.approx(1e6 / ADC["rate"])   # microseconds
    assert float(hdr["BW"]) == pytest.approx(ADC["rate"] / 2 / 1e6)  # MHz, real samples
    assert hdr["OBS_OFFSET"] == "0"
    assert int(hdr["FILE_SIZE"]) == 60 * row == len(data)
    assert os.path.getsize(tmp_path / "a.dada") == 4096 + 60 * row
    assert hdr["RB_SOURCE"] == "adc" and hdr["RB_SAMPLE_RATE"] == "%g" % ADC["rate"]
    assert hdr["RB_INCOMPLETE_FRAMES"] == "0" and hdr["RB_FRAMES"] == "60"
    # UTC_START is the stream's start_time, to the second, in PSRDADA's form.
    start = hdr["RB_START_TIME"]
    assert hdr["UTC_START"] == start[:10] + "-" + start[11:19]
    want = b"".join(adc_frame(s, ADC["samples"], ADC["channels"]).tobytes() for s in range(60))
    assert data == want


def test_counter_dada_untyped(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 50)
    export(tmp_path / "c.rec", tmp_path / "c.dada", "--format", "dada")
    hdr, data = parse_dada(tmp_path / "c.dada")
    assert (hdr["NBIT"], hdr["NDIM"]) == ("8", "1")
    assert "NCHAN" not in hdr and "NPOL" not in hdr   # bytes imply no layout
    assert "TSAMP" not in hdr                         # rate=max: no rate
    assert data == b"".join(counter_bytes(s, 4096).tobytes() for s in range(50))


def test_complex_incomplete_dada(ring, tmp_path):
    data = [np.full((32,), complex(i, -i), np.complex64) for i in range(10)]
    frames = [(a, None, None) for a in data]
    frames[3] = (data[3], 16, INCOMPLETE)
    record_python(ring, tmp_path / "z.rec", "c64", (32,), frames)
    export(tmp_path / "z.rec", tmp_path / "z.dada")
    hdr, raw = parse_dada(tmp_path / "z.dada")
    assert (hdr["NBIT"], hdr["NDIM"], hdr["NCHAN"], hdr["NPOL"]) == ("32", "2", "1", "1")
    assert hdr["RB_INCOMPLETE_FRAMES"] == "1" and hdr["RB_SHORT_FRAMES"] == "1"
    got = np.frombuffer(raw, np.complex64).reshape(10, 32)
    data[3] = data[3].copy()
    data[3][2:] = 0
    assert np.array_equal(got, np.array(data))


def test_several_streams_dada(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 20)
    record_adc(ring, tmp_path / "a.rec", 10)
    export(tmp_path / "c.rec", tmp_path / "a.rec", tmp_path / "out", "--format", "dada")
    assert sorted(os.listdir(tmp_path / "out")) == ["stream0.dada", "stream1.dada"]
    h0, d0 = parse_dada(tmp_path / "out" / "stream0.dada")
    h1, d1 = parse_dada(tmp_path / "out" / "stream1.dada")
    assert h0["RB_SOURCE"] == "counter" and h1["RB_SOURCE"] == "adc"
    assert d0 == b"".join(counter_bytes(s, 4096).tobytes() for s in range(20))
    assert d1[-2048:] == adc_frame(9, ADC["samples"], ADC["channels"]).tobytes()


def test_utc_and_obs_offset(ring, tmp_path):
    """UTC_START from the stream header's start_time, OBS_OFFSET = the bytes
    before the recording's first frame; each frame's UTC from the
    recording's UTC anchor (format 3), so a recording that begins
    mid-stream has it too: between the wall clock before and after."""
    start = "2026-01-02T03:04:05.678Z"
    start_ns = 1767323045678000000
    row = 64 * 4
    name = ring()
    wall_before = time.time_ns()
    with ringbuf.Producer(name, "f32", (64,), slots=64) as p:
        p.begin_stream({"source": "python", "start_time": start})
        for i in range(5):  # before anyone records: nobody reads them
            f = p.acquire(timeout=TIMEOUT)
            f.array[...] = i
            p.commit(f)
        late = recorder(name, tmp_path / "late.rec", "--start", "next")
        try:
            p.wait_consumers(1, timeout=TIMEOUT)
            for i in range(5, 12):
                f = p.acquire(timeout=TIMEOUT)
                f.array[...] = i
                p.commit(f)
            p.end_stream(timeout=TIMEOUT)
        finally:
            finish(late)
    export(tmp_path / "late.rec", tmp_path / "late.dada")
    hdr, data = parse_dada(tmp_path / "late.dada")
    first = int(hdr["RB_FIRST_SEQ"])
    assert first == 5
    assert hdr["UTC_START"] == "2026-01-02-03:04:05" and hdr["RB_UTC_START"] == start
    assert int(hdr["OBS_OFFSET"]) == first * row
    assert np.array_equal(np.frombuffer(data, np.float32).reshape(-1, 64)[:, 0],
                          np.arange(first, 12, dtype=np.float32))
    export(tmp_path / "late.rec", tmp_path / "late.h5")
    wall_after = time.time_ns()
    with h5py.File(tmp_path / "late.h5", "r") as f:
        g = f["stream0"]
        utc = g["descriptors"]["utc"][...]
        assert len(utc) == 12 - first
        assert ((utc >= wall_before) & (utc <= wall_after)).all()
        assert g.attrs["rb_utc_start_ns"] == start_ns
        assert g.attrs["rb_utc_source"] == "stream header start_time; frames by the recording's UTC anchor"
    # From the stream's start: frame 0 is at start_time.
    frames = [(np.full(64, i, np.float32), None, None) for i in range(4)]
    name = ring()
    with ringbuf.Producer(name, "f32", (64,), slots=64) as p:
        rec = recorder(name, tmp_path / "whole.rec")
        try:
            p.wait_consumers(1, timeout=TIMEOUT)
            p.begin_stream({"source": "python", "start_time": start})
            for data_, _, _ in frames:
                f = p.acquire(timeout=TIMEOUT)
                f.array[...] = data_
                p.commit(f)
            p.end_stream(timeout=TIMEOUT)
        finally:
            finish(rec)
    export(tmp_path / "whole.rec", tmp_path / "whole.h5")
    with h5py.File(tmp_path / "whole.h5", "r") as f:
        d = f["stream0/descriptors"][...]
    assert list(d["utc"] - d["utc"][0]) == list((d["timestamp"] - d["timestamp"][0]).astype(np.int64))


# ---- rb-consumer record --format hdf5 -----------------------------------------


def test_record_format_hdf5(ring, tmp_path):
    """The recorder writes the export's layout straight away."""
    name = ring()
    rec = recorder(name, tmp_path / "r.h5", "--format", "hdf5")
    try:
        run([RB_PRODUCER, "--wait-consumers", "1", "--frame-size", "4096", "--count", "300",
             name], check=0)
    finally:
        out = finish(rec)
    j = json.loads(out)
    assert (j["analysis"], j["format"], j["recorded_frames"]) == ("record-hdf5", "hdf5", 300)
    with h5py.File(tmp_path / "r.h5", "r") as f:
        g = f["stream0"]
        check_counter_rows(g["frames"][...], 300, 4096)
        check_descriptors(g["descriptors"][...], 300, 4096)
        assert g.attrs["source"] == "counter" and g.attrs["rb_frames"] == 300
        assert g.attrs["rb_complete"] == 1 and g.attrs["rb_stream_start_seq"] == 0
    # Typed frames, and the same file as an export of a recording.
    name = ring()
    rec = recorder(name, tmp_path / "a.h5", "--format", "hdf5")
    try:
        run([RB_PRODUCER, "--wait-consumers", "1", "--source", "adc", "--samples", "256",
             "--channels", "4", "--rate", "max", "--count", "50", name], check=0)
    finally:
        finish(rec)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        a = f["stream0/frames"][...]
    assert a.dtype == np.int16 and a.shape == (50, 256, 4)
    for s_ in range(50):
        assert np.array_equal(a[s_], adc_frame(s_, 256, 4))


def test_record_format_bad_options(ring, tmp_path):
    def consumer(*args):
        return run([RB_CONSUMER, *args], check=2)
    p = consumer("--format", "zip", "--output", str(tmp_path / "x"), "r", "record")
    assert "rbrec or hdf5" in p.stderr
    p = consumer("--format", "hdf5", "r", "stats")
    assert "--format: only with the record analysis" in p.stderr
    p = consumer("--format", "hdf5", "--max-file-size", "1MiB", "--output",
                 str(tmp_path / "x.h5"), "--wait-ring", "1ms", "r", "record")
    assert "--max-file-size: not with --format hdf5" in p.stderr


# ---- damaged and bad input --------------------------------------------------


def frame_offsets(path):
    """data_offset of each descriptor (docs/RECORDING.md: header_bytes at
    12, descriptor pages of 63 64-byte entries after a 64-byte head)."""
    raw = open(path, "rb").read()
    at = int.from_bytes(raw[12:16], "little")
    out = []
    while at + 4096 <= len(raw) and raw[at:at + 8] == b"RBRECIDX":
        count = int.from_bytes(raw[at + 20:at + 24], "little")
        for i in range(count):
            e = at + 64 + 64 * i
            out.append(int.from_bytes(raw[e + 32:e + 40], "little"))
        if count < 63:
            break
        at = int.from_bytes(raw[at + 40:at + 48], "little")
    return out


@pytest.mark.parametrize("fmt", ["hdf5", "dada"])
def test_truncated_exports_valid_prefix(ring, tmp_path, fmt):
    """A recording cut inside its frames (its summary promising more):
    damaged, exit 1, the frames before the cut exported and named."""
    rec = tmp_path / "c.rec"
    record_counter(ring, rec, 300)
    offsets = frame_offsets(rec)
    assert len(offsets) == 300
    os.truncate(rec, offsets[200] + 100)  # inside frame 200
    out = tmp_path / ("c." + fmt)
    p = export(rec, out, "--format", fmt, check=1)
    assert "damaged recording" in p.stderr
    if fmt == "hdf5":
        with h5py.File(out, "r") as f:
            n = len(f["stream0/frames"])
            check_counter_rows(f["stream0/frames"][...], n, 4096)
            assert f["stream0"].attrs["rb_complete"] == 0
    else:
        hdr, data = parse_dada(out)
        n = int(hdr["RB_FRAMES"])
        assert data == b"".join(counter_bytes(s, 4096).tobytes() for s in range(n))
        assert hdr["RB_COMPLETE"] == "0"
    # Every frame whose descriptor page reached the file before the cut.
    assert 189 <= n <= 200
    assert "holds the %d frames before it" % n in p.stderr


def test_not_closed_exports_with_a_note(ring, tmp_path):
    """A recorder killed (no summary, torn tail) leaves a valid recording:
    exit 0, a note, every frame it holds."""
    rec = tmp_path / "c.rec"
    record_counter(ring, rec, 100)
    raw = bytearray(open(rec, "rb").read())
    raw[256:512] = bytes(256)  # no summary: never closed
    # and the zeros of blocks the recorder allocated ahead after the end
    open(rec, "wb").write(raw + bytes(1 << 16))
    p = export(rec, tmp_path / "c.h5")
    assert "note:" in p.stderr and "not closed" in p.stderr
    with h5py.File(tmp_path / "c.h5", "r") as f:
        check_counter_rows(f["stream0/frames"][...], 100, 4096)
        assert f["stream0"].attrs["rb_complete"] == 0


def test_bit_flip_stops_before_the_frame(ring, tmp_path):
    rec = tmp_path / "c.rec"
    record_counter(ring, rec, 50)
    at = frame_offsets(rec)[10] + 5
    with open(rec, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x10]))
    p = export(rec, tmp_path / "c.h5", check=1)
    assert "frame seq 10: its bytes fail their checksum" in p.stderr
    with h5py.File(tmp_path / "c.h5", "r") as f:
        check_counter_rows(f["stream0/frames"][...], 10, 4096)


def test_progress_and_json(ring, tmp_path):
    record_counter(ring, tmp_path / "c.rec", 30)
    p = export(tmp_path / "c.rec", tmp_path / "c.h5", "--progress")
    assert "export: stream 1/1: 30 frames, 120 KiB" in p.stderr
    p = export(tmp_path / "c.rec", tmp_path / "d.h5", "--json")  # not a terminal: no line
    assert p.stderr == ""
    j = json.loads(p.stdout)
    s = j["streams"][0]
    assert (j["format"], j["frames"], j["bytes"]) == ("hdf5", 30, 30 * 4096)
    assert (s["frames"], s["first_seq"], s["last_seq"], s["row_bytes"]) == (30, 0, 29, 4096)
    assert (s["complete"], s["damaged"], s["end"], s["seq_gaps"]) == (True, False, "end", 0)
    assert s["output"] == str(tmp_path / "d.h5")


def test_write_error(ring, tmp_path):
    """A write that fails (ENOSPC from /dev/full) is one line and exit 1."""
    record_counter(ring, tmp_path / "c.rec", 20)
    p = export(tmp_path / "c.rec", "/dev/full", "--format", "dada", "--force", check=1)
    assert "/dev/full: No space left on device" in p.stderr


def test_bad_input(ring, tmp_path):
    rec = tmp_path / "c.rec"
    record_counter(ring, rec, 5)
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a recording" * 1000)
    p = export(junk, tmp_path / "j.h5", check=1)
    assert "not a recording" in p.stderr and not os.path.exists(tmp_path / "j.h5")
    p = export(tmp_path / "missing.rec", tmp_path / "m.h5", check=1)
    assert "No such file" in p.stderr
    # OUT exists: refused, left alone; --force replaces it.
    out = tmp_path / "o.h5"
    out.write_bytes(b"keep")
    p = export(rec, out, check=1)
    assert "exists (--force replaces it)" in p.stderr and out.read_bytes() == b"keep"
    export(rec, out, "--force")
    with h5py.File(out, "r") as f:
        assert len(f["stream0/frames"]) == 5
    p = export(rec, rec, "--format", "dada", "--force", check=2)
    assert "is the recording itself" in p.stderr
    p = export(rec, tmp_path / "x.h5", "--format", "zip", check=2)
    assert "unknown format" in p.stderr
    p = export(rec, tmp_path / "x.bin", check=2)
    assert "needs --format" in p.stderr
    export(rec, check=2)
    export(rec, tmp_path / "x.dada", "--compress", "5", check=2)
    export(rec, tmp_path / "x.h5", "--compress", "0", check=2)
    export(rec, tmp_path / "x.h5", "--bogus", check=2)
    p = export("--help", check=0)
    assert p.stdout.startswith("Usage: rb-ctl export")
