"""Fixtures for the ringbuf binding's tests.

The module and the C programs come from the build directory in RB_BUILD_DIR
(meson test sets it; by hand: RB_BUILD_DIR=build-py /usr/bin/python3 -m
pytest python/tests). Every test gets unique ring names ("test-py-..."; the
"rb-test-" prefix in /dev/shm is what tools/test checks for leftovers), and
every ring and subprocess a test makes is cleaned up even when it fails.
"""
import itertools
import os
import signal
import subprocess
import sys

import pytest

from rbtest import MODULE_DIR, RB_CONSUMER, RB_PRODUCER, BUILD_DIR, ringbuf

_names = itertools.count()


@pytest.fixture
def ring_name():
    """A fresh ring name; the ring is removed after the test if it is left."""
    made = []

    def make(tag="r"):
        name = "test-py-%d-%d-%s" % (os.getpid(), next(_names), tag)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            ringbuf.remove(name)
        except FileNotFoundError:
            pass


@pytest.fixture
def name(ring_name):
    return ring_name()


class Procs:
    """Subprocesses of a test, killed at its end if still running."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def producer(self, name, *args):
        return self.start([RB_PRODUCER, *args, name])

    def consumer(self, name, analysis, *args):
        return self.start([RB_CONSUMER, *args, name, analysis])

    def python(self, code, *args, **kw):
        env = dict(os.environ, PYTHONPATH=MODULE_DIR)
        return self.start([sys.executable, "-c", code, *args], env=env, **kw)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(2)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdout, p.stderr, p.stdin):
                if f is not None:
                    f.close()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.cleanup()


@pytest.fixture(autouse=True)
def _programs_built(request):
    if "needs_programs" in request.keywords:
        for prog in (RB_PRODUCER, RB_CONSUMER):
            if not os.access(prog, os.X_OK):
                pytest.fail("%s is not built (RB_BUILD_DIR=%s)" % (prog, BUILD_DIR))


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_programs: uses rb-producer/rb-consumer")
