"""Helpers shared by the tests: where the build is, the programs' patterns."""
import math
import os
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("RB_BUILD_DIR", os.path.join(REPO, "build")))
MODULE_DIR = os.path.join(BUILD_DIR, "python")
if MODULE_DIR not in sys.path:
    sys.path.insert(0, MODULE_DIR)

import ringbuf  # noqa: E402  (after the path is set)

__all__ = ["ringbuf", "BUILD_DIR", "MODULE_DIR", "RB_PRODUCER", "RB_CONSUMER",
           "counter_words", "counter_bytes", "counter_fill", "adc_frame", "wait_for"]

RB_PRODUCER = os.path.join(BUILD_DIR, "producer", "rb-producer")
RB_CONSUMER = os.path.join(BUILD_DIR, "consumer", "rb-consumer")

M64 = (1 << 64) - 1
COUNTER_MUL = 0x9E3779B97F4A7C15


def counter_words(seq, nbytes):
    """The counter source's frame (tools/cli/pattern.c): 64-bit LE word w of
    frame seq is seq * 0x9E3779B97F4A7C15 + w (mod 2**64)."""
    words = (nbytes + 7) // 8
    return np.uint64((seq * COUNTER_MUL) & M64) + np.arange(words, dtype=np.uint64)


def counter_bytes(seq, nbytes):
    return counter_words(seq, nbytes).view(np.uint8)[:nbytes]


def counter_fill(arr, seq):
    """Writes the counter pattern into a uint8 array (a frame's view)."""
    arr[...] = counter_bytes(seq, arr.size)


# The adc source (producer/sources.c): int16 [samples, channels]; channel c
# at sample k = sine[((c + 1) * (k % 1000)) % 1000] + noise(k, c).
ADC_TABLE = 1000
ADC_AMPLITUDE = 10000
ADC_NOISE = 100
ADC_MAX_CHANNELS = 256
# lrint() in C and numpy's rint both round half to even; math.sin is the
# same libm sin the C source calls.
_SINE = np.array([np.rint(ADC_AMPLITUDE * math.sin(2.0 * math.pi * i / ADC_TABLE))
                  for i in range(ADC_TABLE)], dtype=np.int64)


def _mix(x):
    """splitmix64's finaliser, on uint64 arrays (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def adc_frame(index, samples, channels):
    k = np.arange(index * samples, (index + 1) * samples, dtype=np.uint64)[:, None]
    c = np.arange(channels, dtype=np.uint64)[None, :]
    phase = ((c + np.uint64(1)) * (k % np.uint64(ADC_TABLE))) % np.uint64(ADC_TABLE)
    h = _mix(k * np.uint64(ADC_MAX_CHANNELS) + c)
    noise = (h % np.uint64(2 * ADC_NOISE + 1)).astype(np.int64) - ADC_NOISE
    return (_SINE[phase.astype(np.int64)] + noise).astype(np.int16)


def wait_for(cond, timeout=5.0, what="condition"):
    """Polls cond() until it is true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.005)
