"""trust_owner=: a ring owned by another user is refused unless trusted.

A child process that becomes `nobody` creates the ring (with rb-ctl, so the
ring is nobody's file); this process (root) must be refused with the
library's RB_E_UNTRUSTED (errno EKEYREJECTED) and let in with trust_owner.
"""
import errno
import os
import subprocess

import pytest

from rbtest import BUILD_DIR, ringbuf

RB_CTL = os.path.join(BUILD_DIR, "tools", "ctl", "rb-ctl")
NOBODY = 65534


def as_nobody():
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_foreign_ring_needs_trust(ring_name):
    name = ring_name("foreign")
    subprocess.run([RB_CTL, "create", name, "--frame-size", "64", "--slots", "8"],
                   check=True, preexec_fn=as_nobody, stdout=subprocess.DEVNULL,
                   timeout=30)
    assert os.stat("/dev/shm/rb-" + name).st_uid == NOBODY
    for make in (lambda **kw: ringbuf.Consumer(name, **kw),
                 lambda **kw: ringbuf.Ring(name, **kw),
                 lambda **kw: ringbuf.Producer(name, create=False, **kw)):
        with pytest.raises(ringbuf.RingError) as e:
            make()
        assert e.value.errno == errno.EKEYREJECTED
        assert "not trusted" in str(e.value)
        with pytest.raises(ringbuf.RingError):
            make(trust_owner=[0, 12345])
        with make(trust_owner="nobody"):
            pass
        with make(trust_owner=NOBODY):
            pass
    with pytest.raises(ValueError):
        ringbuf.Consumer(name, trust_owner="no-such-user-xyz")
    with pytest.raises(TypeError):
        ringbuf.Consumer(name, trust_owner=1.5)
