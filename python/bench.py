#!/usr/bin/python3
"""Python consumer throughput: ringbuf against the hand-rolled approaches.

Every approach moves float32 frames from a producer process to this
process, which sums each frame with numpy, and is timed from the first
frame it receives to the last:

  pickle        multiprocessing.Queue of arrays (each frame pickled)
  shm+queue     multiprocessing.shared_memory slots + a Queue of slot
                indices each way (the usual zero-copy recipe)
  ringbuf       the binding, a frame at a time:
                    for frame in consumer: numpy.asarray(frame).sum()
  ringbuf-batch the binding, a batch at a time, one strided view per batch:
                    for b in consumer.batches(max=slots // 4, min=max // 4):
                        b.array.sum(axis=1)
                (a batch of at most a quarter of the ring leaves the producer
                room to fill the next ones meanwhile)
  ringbuf-batch-C  the same consumer fed by the C rb-producer (counter
                source: its bytes summed as uint64 words, the same bytes
                per frame) instead of a Python one

The Python producers fill each frame with a constant (numpy fill), so the
sums check that every frame arrived. Slots: 256 of 4 KiB, 16 of 1 MiB (16
MiB: the pool stays in the 32 MiB L3 cache), for the rings and the
shared-memory pool alike (the pickle Queue holds as many).

Usage: RB_BUILD_DIR=build /usr/bin/python3 python/bench.py [--quick] [--repeat N]
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from multiprocessing import shared_memory

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.abspath(os.environ.get("RB_BUILD_DIR",
                                           os.path.join(HERE, "..", "build")))
sys.path.insert(0, os.path.join(BUILD_DIR, "python"))
import ringbuf  # noqa: E402

RB_PRODUCER = os.path.join(BUILD_DIR, "producer", "rb-producer")
F32 = np.float32


def value(i):
    return i % 7  # small: every per-frame sum is exact in float32


def expected_total(count, elems):
    full, rest = divmod(count, 7)
    return float(elems * (full * 21 + sum(range(rest))))


# ---- producers (child processes) ---------------------------------------------

def produce_pickle(q, count, elems):
    for i in range(count):
        q.put(np.full(elems, value(i), F32))
    q.put(None)


def produce_shm(shm_name, free_q, full_q, count, slots, elems):
    shm = shared_memory.SharedMemory(name=shm_name)
    views = np.ndarray((slots, elems), F32, buffer=shm.buf)
    for i in range(count):
        slot = free_q.get()
        views[slot].fill(value(i))
        full_q.put(slot)
    full_q.put(-1)
    del views
    shm.close()


def produce_ring(name, count, slots, elems, batch):
    with ringbuf.Producer(name, "f32", (elems,), slots=slots) as p:
        while p.status()["consumers"] < 1:
            time.sleep(0.001)
        p.begin_stream({"source": "bench"})
        i = 0
        while i < count:
            b = p.acquire_batch(min(batch, count - i))
            n = len(b)
            # value(i + k) into frame k: one numpy broadcast per batch
            b.array[...] = (np.arange(i, i + n) % 7).astype(F32)[:, None]
            p.commit(b)
            i += n
        p.end_stream()


# ---- consumers (this process) ------------------------------------------------

def consume_pickle(count, elems, slots):
    q = mp.Queue(maxsize=slots)
    proc = mp.Process(target=produce_pickle, args=(q, count, elems))
    proc.start()
    total, n = 0.0, 0
    arr = q.get()
    t0 = time.perf_counter()
    while arr is not None:
        total += float(arr.sum())
        n += 1
        arr = q.get()
    t = time.perf_counter() - t0
    proc.join()
    return n, t, total


def consume_shm(count, elems, slots):
    shm = shared_memory.SharedMemory(create=True, size=slots * elems * 4)
    views = np.ndarray((slots, elems), F32, buffer=shm.buf)
    free_q, full_q = mp.Queue(), mp.Queue()
    for s in range(slots):
        free_q.put(s)
    proc = mp.Process(target=produce_shm,
                      args=(shm.name, free_q, full_q, count, slots, elems))
    proc.start()
    total, n = 0.0, 0
    slot = full_q.get()
    t0 = time.perf_counter()
    while slot >= 0:
        total += float(views[slot].sum())
        n += 1
        free_q.put(slot)
        slot = full_q.get()
    t = time.perf_counter() - t0
    proc.join()
    del views
    shm.close()
    shm.unlink()
    return n, t, total


def ring_name(tag):
    return "bench-py-%d-%s" % (os.getpid(), tag)


# Batch sizes as fractions of the ring (--batch-div, --min-div,
# --producer-div): a side that holds a large part of the ring while it
# works leaves the other side nothing to do.
DIVS = {"batch": 4, "min": 16, "producer": 8}


def batch_sizes(slots):
    mx = max(1, slots // DIVS["batch"])
    return mx, max(1, min(mx, slots // DIVS["min"]))


def producer_batch(slots):
    return max(1, slots // DIVS["producer"])


def consume_ring(count, elems, slots, batches):
    name = ring_name("py")
    proc = mp.Process(target=produce_ring,
                      args=(name, count, slots, elems, producer_batch(slots)))
    proc.start()
    try:
        with ringbuf.Consumer(name, open_timeout=10) as c:
            total, n = 0.0, 0
            if batches:
                mx, mn = batch_sizes(slots)
                it = c.batches(max=mx, min=mn)
                b = next(it)
                t0 = time.perf_counter()
                while True:
                    sums = b.array.sum(axis=1)  # one sum per frame
                    total += float(sums.sum(dtype=np.float64))
                    n += len(sums)
                    del sums
                    b = next(it, None)
                    if b is None:
                        break
            else:
                it = iter(c)
                frame = next(it)
                t0 = time.perf_counter()
                while True:
                    total += float(np.asarray(frame).sum())
                    n += 1
                    frame = next(it, None)
                    if frame is None:
                        break
            t = time.perf_counter() - t0
    finally:
        proc.join()
    return n, t, total


def consume_ring_c(count, elems, slots):
    name = ring_name("c")
    prod = subprocess.Popen([RB_PRODUCER, "--source", "counter", "--frame-size",
                             str(elems * 4), "--slots", str(slots), "--count",
                             str(count), "--rate", "max", "-W", "1", name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ringbuf.Consumer(name, open_timeout=10) as c:
            n = 0
            mx, mn = batch_sizes(slots)
            it = c.batches(max=mx, min=mn)
            b = next(it)
            t0 = time.perf_counter()
            while b is not None:
                sums = b.array.view(np.uint64).sum(axis=1)
                n += len(sums)
                del sums
                b = next(it, None)
            t = time.perf_counter() - t0
    finally:
        prod.wait()
    return n, t, None


APPROACHES = [
    ("pickle", "multiprocessing.Queue of pickled arrays",
     lambda cnt, e, s: consume_pickle(cnt, e, s)),
    ("shm+queue", "shared_memory + Queue of slot indices",
     lambda cnt, e, s: consume_shm(cnt, e, s)),
    ("ringbuf", "ringbuf, frame by frame",
     lambda cnt, e, s: consume_ring(cnt, e, s, False)),
    ("ringbuf-batch", "ringbuf, batches (b.array.sum(axis=1))",
     lambda cnt, e, s: consume_ring(cnt, e, s, True)),
    ("ringbuf-batch-C", "ringbuf, batches, C rb-producer",
     lambda cnt, e, s: consume_ring_c(cnt, e, s)),
]

# Frames per run: a second or two each at the speeds measured here.
COUNTS = {
    4096: {"pickle": 60000, "shm+queue": 60000, "ringbuf": 600000,
           "ringbuf-batch": 2000000, "ringbuf-batch-C": 2000000},
    1 << 20: {"pickle": 600, "shm+queue": 15000, "ringbuf": 15000,
              "ringbuf-batch": 15000, "ringbuf-batch-C": 15000},
}
SLOTS = {4096: 256, 1 << 20: 16}


def fmt_size(n):
    return "%d KiB" % (n >> 10) if n < (1 << 20) else "%d MiB" % (n >> 20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the frames, one run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    ap.add_argument("--only", help="comma-separated approaches")
    ap.add_argument("--json", action="store_true", help="results as JSON lines too")
    for key, div in DIVS.items():
        ap.add_argument("--%s-div" % key, type=int, default=div,
                        help="%s batch: slots / this (default %d)" % (key, div))
    args = ap.parse_args()
    for key in DIVS:
        DIVS[key] = getattr(args, key + "_div")
    repeat = 1 if args.quick else args.repeat
    only = set(args.only.split(",")) if args.only else None
    mp.set_start_method("fork")

    results = []
    for size in (4096, 1 << 20):
        elems = size // 4
        for key, label, run in APPROACHES:
            if only and key not in only:
                continue
            if key.endswith("-C") and not os.access(RB_PRODUCER, os.X_OK):
                continue
            count = COUNTS[size][key] // (10 if args.quick else 1)
            rates = []
            for _ in range(repeat):
                n, t, total = run(count, elems, SLOTS[size])
                if n != count or (total is not None and total != expected_total(count, elems)):
                    sys.exit("%s at %s: got %d frames (sum %r), expected %d (sum %r)" %
                             (key, fmt_size(size), n, total, count,
                              expected_total(count, elems)))
                rates.append(n / t)
            rate = statistics.median(rates)
            results.append({"frame_bytes": size, "approach": key, "label": label,
                            "frames": count, "runs": repeat, "frames_per_second": rate,
                            "bytes_per_second": rate * size})
            print("  %-7s %-42s %10.0f frames/s" % (fmt_size(size), label, rate),
                  file=sys.stderr, flush=True)

    print()
    print("Python consumer throughput, numpy sum of every frame (median of %d run%s)"
          % (repeat, "" if repeat == 1 else "s"))
    print()
    print("| frame | approach | frames/s | GB/s | vs shm+Queue | vs pickle |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        base = {x["approach"]: x["frames_per_second"] for x in results
                if x["frame_bytes"] == r["frame_bytes"]}
        ratio = lambda k: ("%.1f×" % (r["frames_per_second"] / base[k])) if k in base else "-"
        print("| %s | %s | %s | %.2f | %s | %s |" % (
            fmt_size(r["frame_bytes"]), r["label"],
            format(round(r["frames_per_second"]), ","), r["bytes_per_second"] / 1e9,
            ratio("shm+queue"), ratio("pickle")))
    if args.json:
        for r in results:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
