#!/usr/bin/python3
"""Reads a recording with ringbuf.Recording against numpy.fromfile, same run.

    RB_BUILD_DIR=build python/bench_recording.py --dir /dev/shm --size 4GiB
    RB_BUILD_DIR=build python/bench_recording.py --dir /work --size 4GiB

Records SIZE of 1 MiB counter frames with the C recorder (rb-consumer
record, O_DIRECT), then alternates, --runs times each:

  read       numpy.fromfile of the file in 64 MiB pieces: the bytes alone
  fromfile   the same, and .sum() of each piece: the floor for the sum
             (one read into a new array, then the sum)
  recording  ringbuf.Recording(path), frames(a, b).sum() over each of its
             runs() (63 frames, one descriptor page apart): a view of the
             mapped file, each frame's checksum checked on first use

Before each run the file's pages are dropped from the page cache
(posix_fadvise DONTNEED; tmpfs keeps them, its pages are the file). Prints
GB/s (10^9 bytes of frame data per second), the median of the runs, and
removes the recording.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

BUILD = os.path.abspath(os.environ.get("RB_BUILD_DIR", "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))

import numpy as np  # noqa: E402
import ringbuf  # noqa: E402

FRAME = 1 << 20
PIECE = 64 << 20


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_fromfile(path):
    total = 0
    n = os.path.getsize(path)
    with open(path, "rb") as f:
        for off in range(0, n, PIECE):
            total += int(np.fromfile(f, dtype=np.uint8, count=min(PIECE, n - off)).sum(
                dtype=np.uint64))
    return n, total


def run_read(path):
    n = os.path.getsize(path)
    with open(path, "rb") as f:
        for off in range(0, n, PIECE):
            np.fromfile(f, dtype=np.uint8, count=min(PIECE, n - off))
    return n, 0


def run_recording(path):
    total = 0
    r = ringbuf.Recording(path)
    for a, b in r.runs():
        total += int(r.frames(a, b).sum(dtype=np.uint64))
    return sum(f.length for f in r), total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--size", default="4GiB", help="recording size (GiB or MiB)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    units = {"GiB": 1 << 30, "MiB": 1 << 20}
    size = int(a.size[:-3]) * units[a.size[-3:]]
    frames = size // FRAME
    path = os.path.join(a.dir, "rb-bench-recording-%d.rbrec" % os.getpid())
    ring = "rb-test-bench-recording-%d" % os.getpid()
    fs = subprocess.run(["stat", "-f", "-c", "%T", a.dir], capture_output=True,
                        text=True).stdout.strip()
    try:
        rec = subprocess.Popen([os.path.join(BUILD, "consumer", "rb-consumer"), "--wait-ring",
                                "30s", ring, "record", "--output", path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        subprocess.run([os.path.join(BUILD, "producer", "rb-producer"), "--frame-size", "1MiB",
                        "--align", "4096", "--slots", "64", "--count", str(frames), "-W", "1",
                        ring], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rec.wait(600) != 0:
            sys.exit("recorder failed: " + rec.stderr.read())
        rates = {"read": [], "fromfile": [], "recording": []}
        for _ in range(a.runs):
            for name, fn in (("read", run_read), ("fromfile", run_fromfile),
                             ("recording", run_recording)):
                drop_cache(path)
                t = time.perf_counter()
                nbytes, _ = fn(path)
                dt = time.perf_counter() - t
                rates[name].append(frames * FRAME / dt / 1e9)
        med = {k: statistics.median(v) for k, v in rates.items()}
        print("%s (%s), %d x 1 MiB frames, %d runs, GB/s median (runs):" % (a.dir, fs, frames,
                                                                         a.runs))
        for k, label in (("read", "numpy.fromfile alone"),
                         ("fromfile", "numpy.fromfile(...).sum()"),
                         ("recording", "Recording.frames(...).sum()")):
            print("  %-30s %.2f (%s)" % (label, med[k], " ".join("%.2f" % x for x in rates[k])))
        print("  ratio Recording / fromfile+sum: %.2f" % (med["recording"] / med["fromfile"]))
    finally:
        if os.path.exists(path):
            os.unlink(path)
        try:
            ringbuf.remove(ring)
        except (FileNotFoundError, OSError):
            pass


if __name__ == "__main__":
    main()
