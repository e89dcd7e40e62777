#!/usr/bin/python3
"""Independent reader of ringbuf rings, written from docs/FORMAT.md alone.

Standard library only (mmap, struct, os, ctypes).  Run with /usr/bin/python3.

    reader.py validate NAME
    reader.py read NAME --count N [--lossless] [--pattern counter]
                       [--timeout S] [--ready FILE] [--futex] [--by-descriptor]
                       [--start oldest|next] [--expect-len L]
                       [--eos-wait S] [--poll-ms MS] [--label TEXT]
                       [--atomics auto|asm|libatomic|weak] [--no-evict]
                       [--join doc|safe] [--attach-pause MS]
    reader.py status NAME        (control words and records as JSON)
    reader.py audit NAME         (static claims of the document, on a
                                  quiescent ring)

Section numbers (§) refer to docs/FORMAT.md.  Places where the document had
to be interpreted are marked "ASSUMPTION" or "DOC GAP".

Atomic read-modify-write operations (needed only by --lossless, §6
"Registering") are issued by a few hand-assembled x86-64 instructions placed
in an executable anonymous mapping and called through ctypes (no compiler is
involved: the machine code bytes are written out below).  If the system
refuses executable mappings, libatomic.so.1 (through ctypes) is used; if that
is missing too, a "weak" emulation is used whose lost guarantees are listed in
WeakAtomics.
"""

import ctypes
import errno
import json
import mmap
import os
import signal
import stat
import struct
import sys
import time

U64 = (1 << 64) - 1

# ---------------------------------------------------------------- constants
MAGIC = 0x31465542474E4952                  # §3.1 "RINGBUF1"
LAYOUT_VERSION = 4
HEADER_BYTES = 256
PRODUCER_OFFSET = 256
PRODUCERS_OFFSET = 768                       # §2.1 producer records
PRODUCER_RECORD_BYTES = 128
CONSUMER_BYTES = 256
GROUP_BYTES = 256
DESCRIPTOR_BYTES = 64
MAX_PRODUCERS = 64                           # §4.1 step 9, §7
MAX_GROUPS = 64
SEQ_LIMIT = 1 << 62                          # §1.3
SEQ_WRITING = U64                            # §1.3
SEQ_NONE = U64                               # §1.3, §3.7 hold_from
THP_PAGE = 2097152                           # §2.1
NORMAL_PAGE = 4096

# Producer block, absolute offsets (§3.2)
P_WRITE_SEQ = 256
P_FRAMES_DROPPED = 264
P_CLAIM_LIMIT = 272
P_CLAIM_SEQ = 280
P_STREAM_MEMBERS = 384
P_FRAMES_ABANDONED = 392
P_STREAM_STATE = 400
P_EOS_SEQ = 408
P_WAIT_TARGET = 416
P_EOS_MARKER = 424
P_STREAM_ORDINAL = 432                       # layout 4 (§3.2, §5.13)
P_CLOCK_OFFSET = 440                         # §5.22, i64
P_CLOCK_ANCHOR = 448
P_DOORBELL = 512
P_SLEEP_MASK = 640

# Producer record, relative offsets (§3.7)
PR_OWNER = 0
PR_START_TIME = 8
PR_HOLD_FROM = 16
PR_FRAMES = 24
PR_IN_STREAM = 32

# Consumer record, relative offsets (§3.3)
C_READ_SEQ = 0
C_FRAMES = 8
C_LOST = 16
C_OWNER = 128
C_START_TIME = 136
C_WAKE_TARGET = 144
C_DOORBELL = 152
C_MODE = 156
C_LABEL = 160
C_CLAIMED = 24                                # group members (§3.3)
C_INTENT_CLAIM_SEQ = 32
C_INTENT_CLAIMED = 40
C_INTENT_LOST = 48
C_INTENT_MARKERS = 56
C_GROUP = 192
C_RESERVED1 = 196                             # layout 3 (§3.3)
C_DEMOTED = 200                               # §5.21: owner word if demoted
C_STALLED_NS = 208

# Group record, relative offsets (§3.8)
G_CLAIM_SEQ = 0
G_CLAIM_LOCK = 8
G_LOST = 16
G_FRAMES_DEPARTED = 24
G_MARKERS = 32
G_OWNER = 128
G_MEMBERS = 136        # count in the low 32 bits, change counter in the high 32


def members_next(w, count):
    """§3.8: the members word after a change to `count`."""
    return ((((w >> 32) + 1) & 0xffffffff) << 32) | (count & 0xffffffff)
G_MODE = 144
G_START_SEQ = 152
G_NAME = 160

# Descriptor, relative offsets (§3.4)
D_SEQ = 0
D_LENGTH = 8
D_TIMESTAMP = 16
D_FLAGS = 24
D_DROPPED = 32                               # layout 4 (§3.4, §5.23)

# Stream header, relative offsets (§3.5)
SH_GENERATION = 0
SH_START_SEQ = 8
SH_LENGTH = 16
SH_ORDINAL = 24                              # layout 4 (§3.5)
SH_CLOCK_OFFSET = 32
SH_TEXT = 64
MAX_STREAM_HEADERS = 256                     # §4.1 step 9, §7

# Owner states (§3.6.1)
OWNER_FREE, OWNER_CLAIMING, OWNER_ACTIVE, OWNER_EVICTING = 0, 1, 2, 3
# Stream states (§3.6.2)
STREAM_NONE, STREAM_OPEN, STREAM_ENDED, STREAM_ABANDONED = 0, 1, 2, 3
STREAM_OPENING = 4
# Frame flags (§3.6.3)
FRAME_STREAM_START, FRAME_EOS, FRAME_INCOMPLETE = 0x1, 0x2, 0x4
FRAME_ABANDONED = 0x8
MODE_LOSSY = 1

ELEM_SIZE = {1: 1, 2: 2, 3: 4, 4: 8, 5: 1, 6: 2, 7: 4, 8: 8, 9: 4, 10: 8,
             11: 8, 12: 16}                  # §3.6.5

# Error codes (§4.1)
ERRNAMES = {
    -124: "RB_E_NOT_A_RING", -93: "RB_E_VERSION", -74: "RB_E_CORRUPT",
    -61: "RB_E_EOS", -130: "RB_E_PRODUCER_DEAD", -116: "RB_E_OVERRUN",
    -67: "RB_E_EVICTED", -87: "RB_E_TOO_MANY", -16: "RB_E_BUSY",
    -11: "RB_E_WOULD_BLOCK", -22: "EINVAL", -129: "RB_E_UNTRUSTED",
}
RB_E_NOT_A_RING = -124
RB_E_UNTRUSTED = -129
RB_E_VERSION = -93
RB_E_CORRUPT = -74
RB_E_TOO_MANY = -87

# Futex (§5.9)
SYS_FUTEX = 202
FUTEX_WAIT = 0
FUTEX_WAKE = 1
WAIT_SLICE = 0.1                              # RB_WAIT_SLICE_NS, §5.9/§7

NAME_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 b"0123456789._-")


class ValidationError(Exception):
    def __init__(self, step, check, code):
        super().__init__("step %d: %s" % (step, check))
        self.step, self.check, self.code = step, check, code

    def line(self):
        name = ERRNAMES.get(self.code)
        if name is None:
            try:
                name = errno.errorcode[-self.code]
            except KeyError:
                name = "?"
        return "FAIL step %d: %s (%s %d)" % (self.step, self.check, name,
                                             self.code)


class RingError(Exception):
    pass


# ---------------------------------------------------------------- validation
def fnv1a64(data):                            # §4.2
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & U64
    return h


def round_up(v, a):
    """§2.1 round_up; None on overflow (a is a power of two)."""
    if v > U64 - (a - 1):
        return None
    return (v + a - 1) & ~(a - 1) & U64


def add(a, b):
    r = a + b
    return None if r > U64 else r


def mul(a, b):
    r = a * b
    return None if r > U64 else r


def is_pow2(v):
    return v != 0 and (v & (v - 1)) == 0


def valid_name(name):                         # §1.1
    b = name.encode("utf-8", "surrogateescape")
    return (1 <= len(b) <= 200 and all(c in NAME_CHARS for c in b)
            and not b.startswith(b"."))


HDR_FMT = "<QIIQQQIIIIQQQQQII4QQQII II II QQ II II 40s Q".replace(" ", "")
HDR_FIELDS = ("magic layout_version header_bytes segment_bytes frame_bytes "
              "slot_stride slot_count slot_align max_consumers "
              "stream_header_bytes producer_offset consumers_offset "
              "descriptors_offset stream_header_offset slots_offset "
              "elem_type ndim d0 d1 d2 d3 initial_seq created_ns "
              "create_flags pages consumer_bytes descriptor_bytes "
              "max_producers max_groups producers_offset groups_offset "
              "producer_record_bytes group_bytes stream_headers reserved1 "
              "reserved "
              "checksum").split()
# §3.1 offsets of the layout 2 fields, checked against the format string.
assert struct.calcsize(HDR_FMT[:HDR_FMT.index("4Q")] + "4QQQIIII") == 168
assert struct.calcsize(HDR_FMT[:HDR_FMT.index("40s")]) == 208
assert struct.calcsize(HDR_FMT) == 256


def parse_header(copy):
    # The header is a private copy (§3.1), so the '<' (standard, byte-wise)
    # formats are fine here; only shared control words need native loads.
    h = dict(zip(HDR_FIELDS, struct.unpack(HDR_FMT, copy)))
    h["dims"] = [h.pop("d0"), h.pop("d1"), h.pop("d2"), h.pop("d3")]
    return h


def compute_geometry(h):
    """§2.1.  Returns dict or None on any 64-bit overflow (§4.1 step 11)."""
    page = THP_PAGE if h["pages"] == 1 else NORMAL_PAGE
    g = {}
    g["slot_stride"] = round_up(h["frame_bytes"], h["slot_align"])
    if g["slot_stride"] is None:
        return None
    g["consumers_offset"] = add(PRODUCERS_OFFSET,
                                mul(128, h["max_producers"]))
    g["groups_offset"] = add(g["consumers_offset"],
                             mul(256, h["max_consumers"]))
    v = add(g["groups_offset"], mul(256, h["max_groups"]))
    if v is None:
        return None
    g["stream_header_offset"] = round_up(v, 128)
    if g["stream_header_offset"] is None:
        return None
    # layout 4: stream_headers entries of whole 128-byte lines (§2.1)
    g["stream_header_stride"] = round_up(64 + h["stream_header_bytes"], 128)
    v = add(g["stream_header_offset"],
            mul(h["stream_headers"], g["stream_header_stride"]))
    if v is None:
        return None
    g["descriptors_offset"] = round_up(v, 128)
    if g["descriptors_offset"] is None:
        return None
    v = add(g["descriptors_offset"], mul(64, h["slot_count"]))
    if v is None:
        return None
    g["slots_offset"] = round_up(v, max(h["slot_align"], 4096))
    if g["slots_offset"] is None:
        return None
    m = mul(h["slot_count"], g["slot_stride"])
    if m is None:
        return None
    v = add(g["slots_offset"], m)
    if v is None:
        return None
    g["segment_bytes"] = round_up(v, page)
    if g["segment_bytes"] is None:
        return None
    return g


def validate_open(name, writable=False, trusted_uids=()):
    """Runs every check of §4.1 in order.  Returns (fd, mm, header dict).

    Raises ValidationError with the step number of the first failing check
    (step 3a, the owner check, is reported as 3.5).  trusted_uids: owners
    trusted besides the caller's effective uid and root.
    """
    if not valid_name(name):                                      # step 1
        raise ValidationError(1, "ring name violates §1.1", -errno.EINVAL)
    path = "/dev/shm/rb-" + name
    try:                                                          # step 2
        fd = os.open(path, (os.O_RDWR if writable else os.O_RDONLY)
                     | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        # Step 2: something that is not a regular file under the name.
        try:
            not_reg = not stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            not_reg = False
        raise ValidationError(2, "open %s: %s" % (path, e.strerror),
                              RB_E_NOT_A_RING if not_reg and e.errno != errno.ENOENT
                              else -e.errno)
    try:
        st = os.fstat(fd)                                         # step 3
        if not stat.S_ISREG(st.st_mode) or st.st_size < 8:
            raise ValidationError(3, "not a regular file of >= 8 bytes",
                                  RB_E_NOT_A_RING)
        if (st.st_uid not in (os.geteuid(), 0) and               # step 3a
                st.st_uid not in trusted_uids):
            raise ValidationError(3.5, "owned by uid %d, not trusted"
                                  % st.st_uid, RB_E_UNTRUSTED)
        size = st.st_size
        copy = os.pread(fd, 256, 0)                               # step 4
        if len(copy) < 256:
            code = (RB_E_CORRUPT if len(copy) >= 8 and
                    struct.unpack_from("<Q", copy)[0] == MAGIC
                    else RB_E_NOT_A_RING)
            raise ValidationError(4, "short header read (%d bytes)"
                                  % len(copy), code)
        h = parse_header(copy)
        if h["magic"] != MAGIC:                                   # step 5
            raise ValidationError(5, "magic 0x%016x != 0x%016x"
                                  % (h["magic"], MAGIC), RB_E_NOT_A_RING)
        if h["layout_version"] != LAYOUT_VERSION:                 # step 6
            raise ValidationError(6, "layout_version %d != %d"
                                  % (h["layout_version"], LAYOUT_VERSION),
                                  RB_E_VERSION)
        cs = fnv1a64(copy[0:248])                                 # step 7
        if h["checksum"] != cs:
            raise ValidationError(7, "checksum 0x%016x != FNV1a64 0x%016x"
                                  % (h["checksum"], cs), RB_E_CORRUPT)
        for f, want in (("header_bytes", 256), ("consumer_bytes", 256),
                        ("descriptor_bytes", 64),
                        ("producer_record_bytes", 128),
                        ("group_bytes", 256), ("producer_offset", 256),
                        ("producers_offset", 768)):               # step 8
            if h[f] != want:
                raise ValidationError(8, "%s %d != %d" % (f, h[f], want),
                                      RB_E_CORRUPT)
        bad = None                                                # step 9
        if h["frame_bytes"] == 0:
            bad = "frame_bytes == 0"
        elif not is_pow2(h["slot_count"]) or h["slot_count"] > (1 << 30):
            bad = "slot_count %d" % h["slot_count"]
        elif not is_pow2(h["slot_align"]) or h["slot_align"] < 64:
            bad = "slot_align %d" % h["slot_align"]
        elif not 1 <= h["max_consumers"] <= 256:
            bad = "max_consumers %d" % h["max_consumers"]
        elif not 4096 <= h["stream_header_bytes"] <= 1048576:
            bad = "stream_header_bytes %d" % h["stream_header_bytes"]
        elif h["initial_seq"] >= SEQ_LIMIT:
            bad = "initial_seq %d" % h["initial_seq"]
        elif h["pages"] > 1:
            bad = "pages %d" % h["pages"]
        elif not 1 <= h["max_producers"] <= MAX_PRODUCERS:
            bad = "max_producers %d" % h["max_producers"]
        elif h["max_groups"] > MAX_GROUPS:
            bad = "max_groups %d" % h["max_groups"]
        elif not 1 <= h["stream_headers"] <= MAX_STREAM_HEADERS:
            bad = "stream_headers %d" % h["stream_headers"]
        if bad:
            raise ValidationError(9, "range: " + bad, RB_E_CORRUPT)
        if h["reserved1"] or any(h["reserved"]):                  # step 10
            raise ValidationError(10, "reserved bytes not zero",
                                  RB_E_CORRUPT)
        g = compute_geometry(h)                                   # step 11
        if g is None:
            raise ValidationError(11, "geometry overflows 64 bits",
                                  RB_E_CORRUPT)
        for f in ("consumers_offset", "groups_offset", "slot_stride",
                  "stream_header_offset", "descriptors_offset",
                  "slots_offset", "segment_bytes"):               # step 12
            if h[f] != g[f]:
                raise ValidationError(12, "%s %d != computed %d"
                                      % (f, h[f], g[f]), RB_E_CORRUPT)
        if h["segment_bytes"] != size:                            # step 13
            raise ValidationError(13, "segment_bytes %d != file size %d"
                                  % (h["segment_bytes"], size), RB_E_CORRUPT)
        et, nd, dims = h["elem_type"], h["ndim"], h["dims"]       # step 14
        if et == 0:
            if nd != 0 or any(dims):
                raise ValidationError(14, "untyped with ndim/dims set",
                                      RB_E_CORRUPT)
        else:
            if not (1 <= et <= 12 and 1 <= nd <= 4):
                raise ValidationError(14, "elem_type %d / ndim %d"
                                      % (et, nd), RB_E_CORRUPT)
            for i in range(4):
                if (i < nd) != (dims[i] != 0):
                    raise ValidationError(14, "dims[%d] = %d" % (i, dims[i]),
                                          RB_E_CORRUPT)
            total = ELEM_SIZE[et]
            for i in range(nd):
                if total > U64 // dims[i]:
                    raise ValidationError(14, "type size overflows",
                                          RB_E_CORRUPT)
                total *= dims[i]
            if total > h["frame_bytes"]:
                raise ValidationError(14, "type size %d > frame_bytes %d"
                                      % (total, h["frame_bytes"]),
                                      RB_E_CORRUPT)
        try:                                                      # step 15
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            mm = mmap.mmap(fd, h["segment_bytes"], flags=mmap.MAP_SHARED,
                           prot=prot)
        except OSError as e:
            raise ValidationError(15, "mmap: " + str(e.strerror), -e.errno)
    except BaseException:
        os.close(fd)
        raise
    # From here on only the validated copy's geometry is used (§4.1).
    h["reserved"] = None
    return fd, mm, h


GEOMETRY_KEYS = ("segment_bytes", "frame_bytes", "slot_stride", "slot_count",
                 "slot_align", "max_consumers", "stream_header_bytes",
                 "stream_header_offset", "descriptors_offset", "slots_offset",
                 "initial_seq", "pages", "elem_type", "ndim", "dims",
                 "created_ns", "create_flags", "max_producers", "max_groups",
                 "producers_offset", "consumers_offset", "groups_offset",
                 "stream_headers")


# ---------------------------------------------------------------- atomics
class AsmAtomics:
    """Exact atomics: hand-encoded x86-64 instructions (SysV ABI: rdi, rsi,
    rdx in; rax out), executed from an anonymous mapping through ctypes.
    These are exactly the instructions §1.5 names for the C library."""
    name = "asm"
    CODE = {
        # mov rax,rsi ; lock cmpxchg [rdi],rdx ; ret      -> returns old
        "cas64": bytes.fromhex("4889f0 f0480fb117 c3"),
        # mov rax,rsi ; xchg [rdi],rax ; ret               -> store+fence
        "xchg64": bytes.fromhex("4889f0 488707 c3"),
        # lock or [rdi],rsi ; ret
        "or64": bytes.fromhex("f0480937 c3"),
        # lock and [rdi],rsi ; ret
        "and64": bytes.fromhex("f0482137 c3"),
        # mov rax,rsi ; lock xadd [rdi],rax ; ret          -> returns old
        "fadd64": bytes.fromhex("4889f0 f0480fc107 c3"),
        # mov [rdi],rsi ; ret                              -> single store
        "store64": bytes.fromhex("488937 c3"),
        # mov eax,esi ; lock cmpxchg [rdi],edx ; ret
        "cas32": bytes.fromhex("89f0 f00fb117 c3"),
        # mov eax,esi ; lock xadd [rdi],eax ; ret          -> returns old
        "fadd32": bytes.fromhex("89f0 f00fc107 c3"),
        # lock and [rdi],esi ; ret
        "and32": bytes.fromhex("f02137 c3"),
        # mfence ; ret
        "mfence": bytes.fromhex("0faef0 c3"),
    }

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_int]
        page = libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE,
                         mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if page is None or page == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), "mmap")
        blob, offs = bytearray(), {}
        for k, code in self.CODE.items():
            blob += b"\xcc" * (-len(blob) % 16)
            offs[k] = len(blob)
            blob += code
        ctypes.memmove(page, bytes(blob), len(blob))
        if libc.mprotect(page, 4096, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            raise OSError(ctypes.get_errno(), "mprotect PROT_EXEC")
        u64, u32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p
        F = ctypes.CFUNCTYPE
        self.cas64 = F(u64, vp, u64, u64)(page + offs["cas64"])
        self.xchg64 = F(u64, vp, u64)(page + offs["xchg64"])
        self.or64 = F(None, vp, u64)(page + offs["or64"])
        self.and64 = F(None, vp, u64)(page + offs["and64"])
        self.fadd64 = F(u64, vp, u64)(page + offs["fadd64"])
        self.store64 = F(None, vp, u64)(page + offs["store64"])
        self.cas32 = F(u32, vp, u32, u32)(page + offs["cas32"])
        self.fadd32 = F(u32, vp, u32)(page + offs["fadd32"])
        self.and32 = F(None, vp, u32)(page + offs["and32"])
        self.mfence = F(None)(page + offs["mfence"])
        self_test(self)


class LibatomicAtomics:
    """Exact atomics through libatomic.so.1 (seq_cst RMWs are locked
    instructions on x86-64)."""
    name = "libatomic"
    SEQ_CST, RELEASE = 5, 3

    def __init__(self):
        la = ctypes.CDLL("libatomic.so.1")
        u64, u32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p
        ci = ctypes.c_int

        def fn(n, res, *args):
            f = getattr(la, n)
            f.restype, f.argtypes = res, list(args)
            return f
        self._cx8 = fn("__atomic_compare_exchange_8", ctypes.c_bool, vp, vp,
                       u64, ci, ci)
        self._cx4 = fn("__atomic_compare_exchange_4", ctypes.c_bool, vp, vp,
                       u32, ci, ci)
        self._xchg8 = fn("__atomic_exchange_8", u64, vp, u64, ci)
        self._or8 = fn("__atomic_fetch_or_8", u64, vp, u64, ci)
        self._and8 = fn("__atomic_fetch_and_8", u64, vp, u64, ci)
        self._add8 = fn("__atomic_fetch_add_8", u64, vp, u64, ci)
        self._store8 = fn("__atomic_store_8", None, vp, u64, ci)
        self._add4 = fn("__atomic_fetch_add_4", u32, vp, u32, ci)
        self._and4 = fn("__atomic_fetch_and_4", u32, vp, u32, ci)
        self._dummy = ctypes.c_uint64(0)
        self_test(self)

    def cas64(self, a, exp, new):
        e = ctypes.c_uint64(exp)
        self._cx8(a, ctypes.byref(e), new, self.SEQ_CST, self.SEQ_CST)
        return e.value

    def cas32(self, a, exp, new):
        e = ctypes.c_uint32(exp)
        self._cx4(a, ctypes.byref(e), new, self.SEQ_CST, self.SEQ_CST)
        return e.value

    def xchg64(self, a, v):
        return self._xchg8(a, v, self.SEQ_CST)

    def or64(self, a, v):
        self._or8(a, v, self.SEQ_CST)

    def and64(self, a, v):
        self._and8(a, v, self.SEQ_CST)

    def fadd64(self, a, v):
        return self._add8(a, v, self.SEQ_CST)

    def store64(self, a, v):
        self._store8(a, v, self.RELEASE)

    def fadd32(self, a, v):
        return self._add4(a, v, self.SEQ_CST)

    def and32(self, a, v):
        self._and4(a, v, self.SEQ_CST)

    def mfence(self):
        self._xchg8(ctypes.addressof(self._dummy), 0, self.SEQ_CST)


class WeakAtomics:
    """Last resort when neither machine code nor libatomic is usable.

    WEAKENED GUARANTEES (documented as the brief requires):
      * cas64/cas32 are load-compare-store: two attachers racing for the same
        FREE record can both "win" (§5.5 step 2), and an evictor racing with
        our detach (§5.15) can double-free a record.  Mitigation: none beyond
        the re-read after the store.
      * xchg64 (store+fence) is a plain store: the Dekker handshakes of §5.4
        (join), §5.8 (release vs wait_target) and §5.10 (sleep bit vs
        write_seq) lose their fence, so a later load may pass the store.  In
        the join this can let the producer overwrite the first frames we
        read (detected: §5.6 step 2 reports corrupt); in the release it can
        miss a doorbell ring (the producer then sleeps until its timeout).
      * or64/and64 on sleep_mask are read-modify-write in Python: a
        concurrent update of another consumer's bit in the same word can be
        lost.  --futex is therefore refused with weak atomics.
      * fadd32 on doorbells is load+store: a concurrent ring can be lost, and
        a concurrently set waiter flag can be overwritten (delaying the
        sleeper by up to one 100 ms slice, §5.9).
      * fadd64 (group counters, frames_abandoned, members) is load+store: a
        concurrent update by another member or evictor can be lost, so the
        group accounting of §5.19 may not add up.
    """
    name = "weak"

    def __init__(self):
        pass

    def _q(self, a):
        return ctypes.c_uint64.from_address(a)

    def _i(self, a):
        return ctypes.c_uint32.from_address(a)

    def cas64(self, a, exp, new):
        q = self._q(a)
        old = q.value
        if old == exp:
            q.value = new
        return old

    def cas32(self, a, exp, new):
        i = self._i(a)
        old = i.value
        if old == exp:
            i.value = new
        return old

    def xchg64(self, a, v):
        q = self._q(a)
        old = q.value
        q.value = v
        os.sched_yield()      # a syscall; not a guaranteed full fence
        return old

    def or64(self, a, v):
        q = self._q(a)
        q.value = q.value | v

    def and64(self, a, v):
        q = self._q(a)
        q.value = q.value & v

    def fadd64(self, a, v):
        q = self._q(a)
        old = q.value
        q.value = (old + v) & U64
        return old

    def store64(self, a, v):
        self._q(a).value = v

    def fadd32(self, a, v):
        i = self._i(a)
        old = i.value
        i.value = (old + v) & 0xFFFFFFFF
        return old

    def and32(self, a, v):
        i = self._i(a)
        i.value = i.value & v

    def mfence(self):
        os.sched_yield()


def self_test(at):
    buf = (ctypes.c_uint64 * 2)(7, 0)
    a = ctypes.addressof(buf)
    assert at.cas64(a, 7, 9) == 7 and buf[0] == 9
    assert at.cas64(a, 7, 11) == 9 and buf[0] == 9
    assert at.xchg64(a, 1 << 63) == 9 and buf[0] == 1 << 63
    at.or64(a, 3)
    at.and64(a, ~1 & U64)
    assert buf[0] == (1 << 63) | 2
    at.store64(a, 5)
    assert buf[0] == 5
    assert at.fadd64(a, 3) == 5 and buf[0] == 8
    assert at.fadd64(a, U64) == 8 and buf[0] == 7
    w = (ctypes.c_uint32 * 2)(0x7FFFFFFF, 0)
    b = ctypes.addressof(w)
    assert at.fadd32(b, 1) == 0x7FFFFFFF and w[0] == 0x80000000
    at.and32(b, 0x7FFFFFFF)
    assert w[0] == 0
    assert at.cas32(b, 0, 0x80000001) == 0 and w[0] == 0x80000001
    assert at.cas32(b, 0, 5) == 0x80000001
    at.mfence()


def make_atomics(which):
    errs = []
    order = {"auto": ("asm", "libatomic", "weak")}.get(which, (which,))
    for kind in order:
        try:
            if kind == "asm":
                return AsmAtomics()
            if kind == "libatomic":
                return LibatomicAtomics()
            if kind == "weak":
                print("reader.py: WARNING: using weak (non-atomic) RMW "
                      "emulation (see WeakAtomics)%s"
                      % ("".join("; " + e for e in errs)), file=sys.stderr)
                return WeakAtomics()
        except Exception as e:  # noqa: BLE001 - fall through to next kind
            errs.append("%s: %s" % (kind, e))
    raise RingError("no atomics backend: " + "; ".join(errs))


# ---------------------------------------------------------------- liveness
def proc_stat(pid):
    """Returns (state letter, start time) from /proc/PID/stat (§5.14), or
    None if unreadable.  Malformed -> start time 0."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read(1023)
    except OSError:
        return None
    i = data.rfind(b")")
    if i < 0:
        return (b"?", 0)
    rest = data[i + 1:]
    # " S ppid ...": field 3 is the character after the first space.
    state = rest[1:2] if len(rest) > 1 and rest[0:1] == b" " else b"?"
    spaces, pos = 0, 0
    while pos < len(rest) and spaces < 20:
        if rest[pos:pos + 1] == b" ":
            spaces += 1
        pos += 1
    start = 0
    if spaces == 20:
        end = pos
        while end < len(rest) and rest[end:end + 1].isdigit():
            end += 1
        if end > pos:
            start = int(rest[pos:end])
            if start > U64:
                start = 0
    return (state, start)


def own_start_time():
    st = proc_stat(os.getpid())
    return 0 if st is None else st[1]


def alive(pid, start_time):                   # §5.14
    if pid == 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass
    except OSError:
        return False
    st = proc_stat(pid)
    if st is None:
        return True                            # hidepid
    if st[0] in (b"Z", b"X", b"x"):
        return False
    if start_time == 0:
        return True
    # ASSUMPTION (§5.14): a readable but malformed stat gives start time 0,
    # which then compares unequal -> not alive.
    return st[1] == start_time


def owner_word(pid, gen, state):              # §3.6.1
    return ((pid & 0xFFFFFFFF) << 32) | ((gen & 0xFFFFFF) << 8) | (state & 0xFF)


def owner_pid(w):
    return w >> 32


def owner_gen(w):
    return (w >> 8) & 0xFFFFFF


def owner_state(w):
    return w & 0xFF


# ---------------------------------------------------------------- ring access
class Ring:
    def __init__(self, name, writable=False):
        self.fd, self.mm, self.h = validate_open(name, writable)
        h = self.h
        self.n = h["slot_count"]
        self.mask = self.n - 1
        self.frame_bytes = h["frame_bytes"]
        self.slot_stride = h["slot_stride"]
        self.desc_off = h["descriptors_offset"]
        self.slots_off = h["slots_offset"]
        self.sh_off = h["stream_header_offset"]
        self.shb = h["stream_header_bytes"]
        self.sh_count = h["stream_headers"]
        self.sh_stride = (64 + self.shb + 127) // 128 * 128     # §2.1
        self.initial_seq = h["initial_seq"]
        self.max_consumers = h["max_consumers"]
        self.max_producers = h["max_producers"]
        self.max_groups = h["max_groups"]
        self.cons_off = h["consumers_offset"]
        self.groups_off = h["groups_offset"]
        # §6 step 3: native-format memoryview casts do single aligned loads.
        self.q = memoryview(self.mm).cast("Q")
        self.i32 = memoryview(self.mm).cast("I")
        self.base = None
        if writable:
            self._anchor = ctypes.c_char.from_buffer(self.mm)
            self.base = ctypes.addressof(self._anchor)

    # one aligned full-width load (acquire/relaxed are the same on x86-64
    # for an in-order interpreter, §1.5)
    def ld64(self, off):
        return self.q[off >> 3]

    def ld32(self, off):
        return self.i32[off >> 2]

    def rec(self, i):
        return self.cons_off + CONSUMER_BYTES * i

    def prec(self, j):
        return PRODUCERS_OFFSET + PRODUCER_RECORD_BYTES * j

    def grp(self, g):
        return self.groups_off + GROUP_BYTES * g

    def desc(self, seq):
        return self.desc_off + DESCRIPTOR_BYTES * (seq & self.mask)

    def slot(self, seq):
        return self.slots_off + self.slot_stride * (seq & self.mask)

    def entry(self, ordinal):
        """§3.5: the stream-header entry of a stream ordinal."""
        return self.sh_off + self.sh_stride * (ordinal % self.sh_count)

    def copy_entry(self, ordinal):
        """§5.13 "Copy of entry for ordinal o".  Returns (text, start_seq),
        "gone" when the entry holds another stream, or None (retries out)."""
        o = self.entry(ordinal)
        for _ in range(100000):
            g = self.ld64(o + SH_GENERATION)
            if g & 1:
                time.sleep(0)
                continue
            ordv = self.ld64(o + SH_ORDINAL)
            length = min(self.ld64(o + SH_LENGTH), self.shb - 1)
            start_seq = self.ld64(o + SH_START_SEQ)
            text = b""
            if ordv == ordinal:
                text = bytes(self.mm[o + SH_TEXT:o + SH_TEXT + length])
            if self.ld64(o + SH_GENERATION) != g:
                continue
            if ordv != ordinal:
                return "gone"
            return text.decode("utf-8", "replace"), start_seq
        return None

    def read_stream_header(self):
        """§5.13 "The current header".  Returns (text, start_seq) or
        (None, None)."""
        for _ in range(16):
            n = self.ld64(P_STREAM_ORDINAL)
            if n == 0:
                return "", 0
            got = self.copy_entry(n)
            if got == "gone":
                continue                  # a newer stream replaced it
            return got if got is not None else (None, None)
        return None, None

    def header_at(self, seq):
        """§5.13 "The header of the frame of seq s".  Returns (ordinal,
        text, start_seq); ordinal 0 before every stream; None when gone."""
        n = self.ld64(P_STREAM_ORDINAL)
        o = n
        while o >= 1 and n - o < self.sh_count:
            got = self.copy_entry(o)
            if got == "gone" or got is None:
                return None
            if got[1] <= seq:
                return o, got[0], got[1]
            o -= 1
        if o >= 1:
            return None
        return 0, "", 0

    def stream_stopped(self, first):
        """§5.10 step 2 / §5.12: ABANDONED, or ENDED with eos_seq > first
        and write_seq >= eos_seq."""
        st = self.ld64(P_STREAM_STATE)
        if st == STREAM_ABANDONED:
            return True
        if st != STREAM_ENDED:
            return False
        e = self.ld64(P_EOS_SEQ)
        return e > first and self.ld64(P_WRITE_SEQ) >= e

    def producer_dead(self):
        """§5.12: ABANDONED, or at least one producer record ACTIVE and
        none of the ACTIVE ones alive (§3.7, §5.14)."""
        if self.ld64(P_STREAM_STATE) == STREAM_ABANDONED:
            return True
        active = 0
        for j in range(self.max_producers):
            o = self.ld64(self.prec(j) + PR_OWNER)
            if owner_state(o) != OWNER_ACTIVE:
                continue
            active += 1
            if alive(owner_pid(o), self.ld64(self.prec(j) + PR_START_TIME)):
                return False
        return active > 0


# ---------------------------------------------------------------- pattern
K_PATTERN = 0x9E3779B97F4A7C15


def counter_pattern(seq, length):
    nw = (length + 7) >> 3
    base = (seq * K_PATTERN) & U64
    return struct.pack("<%dQ" % nw,
                       *[(base + j) & U64 for j in range(nw)])[:length]


# ---------------------------------------------------------------- reader
class Reader:
    def __init__(self, ring, args):
        self.r = ring
        self.a = args
        self.frames = 0
        self.abandoned = 0
        self.lost = 0
        self.bad = 0
        self.bad_reasons = []
        self.first_seq = None
        self.last_seq = None
        self.eos = False
        self.marker = 0
        self.header = None
        self.header_start_seq = None
        self.headers = []              # layout 4: per stream met (§5.13)
        self.dropped = 0               # §5.23
        self.error = None
        self.next = None
        self.start = None
        self.lastcheck = 0.0
        self.join_info = None
        # group member state (§5.19)
        self.g = None
        self.held = []              # [(seq, data, length, ts, flags)]
        self.claimed = 0
        self.seqsum = 0
        self.eos_seen = None
        self.repaired = 0
        self.by_descriptor = 0   # frames known published by D(next).seq alone

    def note_bad(self, why):
        self.bad += 1
        if len(self.bad_reasons) < 10:
            self.bad_reasons.append(why)

    def deliver(self, seq, data, length, ts, flags, count=True):
        """Checks a frame handed out.  count=False: a group member, which
        counts a frame in `frames` when it releases it (§5.19)."""
        a = self.a
        self.seqsum += seq
        if not flags & FRAME_ABANDONED:                  # §5.23
            self.dropped += self.r.ld64(self.r.desc(seq) + D_DROPPED)
        if self.first_seq is None or flags & FRAME_STREAM_START:
            self.note_stream(seq)
        if self.last_seq is not None:
            if a.lossless and a.group is None and seq != self.last_seq + 1:
                self.note_bad("seq %d after %d (lossless)"
                              % (seq, self.last_seq))
            elif seq <= self.last_seq:
                self.note_bad("seq %d after %d" % (seq, self.last_seq))
        if flags & FRAME_ABANDONED:
            # §3.6.3/§5.17: a dead producer's seq, committed empty.  It is a
            # frame (counted), but carries no data and no pattern.
            if length != 0 or ts != 0 or flags != FRAME_ABANDONED:
                self.note_bad("abandoned seq %d: length %d ts %d flags 0x%x"
                              % (seq, length, ts, flags))
            self.abandoned += 1
            if self.first_seq is None:
                self.first_seq = seq
            self.last_seq = seq
            self.frames += 1 if count else 0
            return
        if length > self.r.frame_bytes:
            self.note_bad("seq %d length %d > frame_bytes" % (seq, length))
        if a.expect_len is not None and length != a.expect_len:
            self.note_bad("seq %d length %d != %d" % (seq, length,
                                                      a.expect_len))
        if a.pattern == "counter":
            if data != counter_pattern(seq, length):
                self.note_bad("seq %d bytes differ from counter pattern"
                              % seq)
            if ts != seq:
                # fixture contract: timestamp = seq (not part of FORMAT.md)
                self.note_bad("seq %d timestamp %d" % (seq, ts))
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        self.frames += 1 if count else 0
        if self.header is None:
            self.grab_header()

    def note_stream(self, seq):
        """§5.13: the header of this frame's own stream (layout 4)."""
        got = self.r.header_at(seq)
        if got is None:
            self.headers.append({"seq": seq, "gone": True})
        else:
            self.headers.append({"seq": seq, "ordinal": got[0],
                                 "text": got[1], "start_seq": got[2]})

    def grab_header(self):
        t, s = self.r.read_stream_header()
        if t is not None:
            self.header, self.header_start_seq = t, s

    def result(self):
        return {"frames": self.frames, "lost": self.lost,
                "abandoned": self.abandoned,
                "first_seq": self.first_seq, "last_seq": self.last_seq,
                "bad": self.bad, "eos": self.eos, "header": self.header,
                # extra keys (accounting checks, diagnostics)
                "start": self.start, "next": self.next,
                "marker": self.marker,
                "header_start_seq": self.header_start_seq,
                "headers": self.headers, "dropped": self.dropped,
                "mode": "lossless" if self.a.lossless else "lossy",
                "join": self.join_info,
                "group": self.g, "claimed": self.claimed,
                "held": len(self.held), "seqsum": self.seqsum,
                "repaired": self.repaired,
                "by_descriptor": self.by_descriptor,
                "error": self.error}

    def done_counting(self):
        return self.frames >= self.a.count

    def periodic(self):
        now = time.monotonic()
        if now - self.lastcheck < WAIT_SLICE:
            return False
        self.lastcheck = now
        return True

    # ---------------------------------------------------- lossy (§6)
    def run_lossy(self, deadline, signal_ready):
        r = self.r
        n = r.n
        W = r.ld64(P_WRITE_SEQ)
        if self.a.start == "next":
            nxt = W
        else:                                   # §6 step 4, OLDEST
            nxt = W - n if W - r.initial_seq > n else r.initial_seq
        self.start = self.next = nxt
        signal_ready()
        linger = None
        while True:
            W = r.ld64(P_WRITE_SEQ)
            if W < nxt:
                self.error = "corrupt: write_seq went backwards"
                break
            if W == nxt:
                state = r.ld64(P_STREAM_STATE)
                e = r.ld64(P_EOS_SEQ)
                if state == STREAM_ENDED and e > self.start and nxt >= e:
                    self.eos = True
                    break
                if self.periodic() and r.producer_dead():
                    self.error = "producer dead"
                    break
                now = time.monotonic()
                if self.done_counting():
                    if linger is None:
                        linger = now + self.a.eos_wait
                    if now >= linger:
                        break
                if now >= deadline:
                    self.error = "timeout"
                    break
                time.sleep(self.a.poll_ms / 1000.0)
                continue
            if W - nxt > n:                        # lapped
                self.lost += (W - n) - nxt
                nxt = W - n
            stop = False
            while nxt < W:
                d = r.desc(nxt)
                s1 = r.ld64(d)
                if s1 != nxt:
                    self.lost += 1
                    nxt += 1
                    continue
                length = r.ld64(d + D_LENGTH)
                ts = r.ld64(d + D_TIMESTAMP)
                flags = r.ld32(d + D_FLAGS)
                if r.ld64(d) != nxt:
                    self.lost += 1
                    nxt += 1
                    continue
                if length > r.frame_bytes or (
                        flags & (FRAME_EOS | FRAME_ABANDONED) and length):
                    self.note_bad("seq %d length %d > frame_bytes, or a "
                                  "marker with bytes" % (nxt, length))
                    self.error = "corrupt: length > frame_bytes"
                    stop = True
                    break
                if flags & FRAME_EOS:
                    nxt += 1
                    self.marker += 1
                    self.eos = True
                    stop = True
                    break
                if self.done_counting():
                    stop = True                    # N frames: stop here
                    break
                off = r.slot(nxt)
                data = bytes(r.mm[off:off + length])      # copy first
                if r.ld64(d) != nxt:                       # s3 re-check
                    self.lost += 1
                    nxt += 1
                    continue
                self.deliver(nxt, data, length, ts, flags)
                nxt += 1
            self.next = nxt
            if stop:
                break
        self.next = nxt

    # ---------------------------------------------------- lossless
    def attach(self):
        """§5.5 (with §5.4 consumer side).  Sets self.idx, self.own."""
        r, at = self.r, self.at
        base = r.base
        pid = os.getpid()
        if not self.a.no_evict:
            for i in range(r.max_consumers):               # step 1
                evict_if_dead(r, at, i)
        idx = cur = None
        for i in range(r.max_consumers):                   # step 2
            rec = r.rec(i)
            c = r.ld64(rec + C_OWNER)
            if owner_state(c) != OWNER_FREE:
                continue
            claim = owner_word(pid, owner_gen(c), OWNER_CLAIMING)
            if at.cas64(base + rec + C_OWNER, c, claim) == c:
                idx, cur = i, c
                break
        if idx is None:
            raise RingError("RB_E_TOO_MANY: no FREE consumer record")
        self.idx = idx
        rec = r.rec(idx)
        self.rec = rec
        mode = MODE_LOSSY if not self.a.lossless else 0
        at.store64(base + rec + C_START_TIME, own_start_time())   # step 3
        # mode is a u32: plain single 4-byte store through the u32 view
        r.i32[(rec + C_MODE) >> 2] = mode
        at.store64(base + rec + C_FRAMES, 0)
        at.store64(base + rec + C_LOST, 0)
        at.store64(base + rec + C_WAKE_TARGET, 0)
        for f in (C_CLAIMED, C_INTENT_CLAIM_SEQ, C_INTENT_CLAIMED,
                  C_INTENT_LOST, C_INTENT_MARKERS):   # §5.5 step 3
            at.store64(base + rec + f, 0)
        r.i32[(rec + C_GROUP) >> 2] = 0               # in no group
        at.store64(base + rec + C_DEMOTED, 0)          # §5.5 step 3, §5.21
        at.store64(base + rec + C_STALLED_NS, 0)
        label = self.a.label.encode()[:31]
        r.mm[rec + C_LABEL:rec + C_LABEL + 32] = bytes(32)
        r.mm[rec + C_LABEL:rec + C_LABEL + len(label)] = label
        w = r.ld64(P_WRITE_SEQ)                                    # step 4
        n = r.n
        if self.a.start == "next":
            start = w
        else:
            start = w - n if w - r.initial_seq > n else r.initial_seq
        if self.a.group is not None:                 # §5.5, group member
            self.member_attach(start, pid, cur)
            return
        at.store64(base + rec + C_READ_SEQ, start)                  # step 5
        self.own = owner_word(pid, owner_gen(cur), OWNER_ACTIVE)
        if self.a.attach_pause:
            # Test hook: a preemption between steps 4 and 6 (allowed: the
            # protocol has no timing assumptions).
            time.sleep(self.a.attach_pause)
        at.xchg64(base + rec + C_OWNER, self.own)                   # step 6
        if self.a.attach_pause:
            time.sleep(self.a.attach_pause)     # ... and between 6 and 7
        if self.a.lossless:                                         # step 7
            L = r.ld64(P_CLAIM_LIMIT)
            new = start
            if L > n and start < L - n:
                new = L - n
            elif self.a.join == "safe":
                # DOC BUG WORKAROUND (not in FORMAT.md; see README.md).  The
                # §5.4 argument assumes claim_limit never goes down, but the
                # first refresh that sees this record stores read_seq + n,
                # LOWER than the limit of the last refresh that missed it.
                # Reading that lowered L, the rule above does not raise
                # `start` although the producer may already have written
                # (or be writing) up to the older, higher limit.  Every such
                # limit is <= write_seq(at that refresh) + n, and that
                # write_seq is visible to a load made after our store+fence
                # of ACTIVE, so frames >= W2 are safe.  Without a raise we
                # therefore start at W2 (history before it is given up).
                W2 = r.ld64(P_WRITE_SEQ)
                if W2 > start:
                    new = W2
            self.join_info = {"w": w, "L": L, "start0": start, "start": new}
            if new != start:
                old, start = start, new
                # DOC INCONSISTENCY: §5.4 says "release store", §5.5 step 7
                # and §3.3 differ; store+fence is the stronger, used here.
                at.xchg64(base + rec + C_READ_SEQ, start)
                T = r.ld64(P_WAIT_TARGET)
                if T != 0 and old < T <= start:
                    ring_doorbell(at, base + P_DOORBELL)
        self.start = self.next = self.released = start              # step 8

    # ---------------------------------------------------- group member
    def member_attach(self, start, pid, cur):
        """§5.5 (group member branch) and §5.19 join or create."""
        r, at, base, rec = self.r, self.at, self.r.base, self.rec
        at.store64(base + rec + C_READ_SEQ, SEQ_NONE)
        try:
            g = self.group_join(self.a.group, not self.a.lossless, start)
        except RingError:
            at.store64(base + rec + C_OWNER,
                       owner_word(0, owner_gen(cur) + 1, OWNER_FREE))
            raise
        r.i32[(rec + C_GROUP) >> 2] = g + 1
        self.own = owner_word(pid, owner_gen(cur), OWNER_ACTIVE)
        at.xchg64(base + rec + C_OWNER, self.own)
        self.g = g
        self.start = self.next = r.ld64(r.grp(g) + G_CLAIM_SEQ)    # step 4

    def group_find(self, name, self_g=None):
        """§5.19 join step 1: the ACTIVE group called `name` (its index),
        "creating" if only a live creator is setting one up, or None."""
        r = self.r
        creating = None
        for g in range(r.max_groups):
            if g == self_g:
                continue
            b = r.grp(g)
            o = r.ld64(b + G_OWNER)
            st = owner_state(o)
            if st not in (OWNER_ACTIVE, OWNER_CLAIMING) or \
                    bytes(r.mm[b + G_NAME:b + G_NAME + 32]).split(b"\0")[0] \
                    != name.encode():
                continue
            if st == OWNER_ACTIVE:
                return g
            if alive(owner_pid(o), 0):
                creating = "creating"
        return creating

    def group_join(self, name, lossy, start):
        """§5.19 "Join or create"."""
        r, at, base = self.r, self.at, self.r.base
        if not (1 <= len(name.encode()) <= 31) or not valid_name(name):
            raise RingError("EINVAL: group name")
        while True:
            g = self.group_find(name)                               # step 1
            if g == "creating":
                time.sleep(0)
                continue
            if g is not None:                                       # step 2
                gb = base + r.grp(g)
                if bool(r.ld32(r.grp(g) + G_MODE) & MODE_LOSSY) != lossy:
                    raise RingError("EINVAL: the group is of the "
                                    "other mode")
                # named before counted (RB_GROUP_JOINING)
                r.i32[(self.rec + C_GROUP) >> 2] = (g + 1) | 0x80000000
                at.mfence()
                owner = r.ld64(r.grp(g) + G_OWNER)
                while True:
                    m = r.ld64(r.grp(g) + G_MEMBERS)
                    if m & 0xffffffff == 0 or r.ld64(r.grp(g) + G_OWNER) != owner:
                        r.i32[(self.rec + C_GROUP) >> 2] = 0
                        break                   # its last member is leaving
                    if at.cas64(gb + G_MEMBERS, m,
                                members_next(m, (m & 0xffffffff) + 1)) == m:
                        r.i32[(self.rec + C_GROUP) >> 2] = g + 1
                        return g
                time.sleep(0)
                continue
            g = self.group_create(name, lossy, start)               # step 3
            if g is None:
                time.sleep(0)                   # backed off: look again
                continue
            return g

    def group_create(self, name, lossy, start):
        """§5.19 join step 3.  The record index, or None if it backed off
        from another creator of the same name."""
        r, at, base, n = self.r, self.at, self.r.base, self.r.n
        pid = os.getpid()
        for g in range(r.max_groups):
            b = r.grp(g)
            cur = r.ld64(b + G_OWNER)
            st = owner_state(cur)
            if st == OWNER_CLAIMING and not alive(owner_pid(cur), 0):
                pass                            # its creator died half-way
            elif st != OWNER_FREE:
                continue
            claiming = owner_word(pid, owner_gen(cur) + 1, OWNER_CLAIMING)
            if at.cas64(base + b + G_OWNER, cur, claiming) != cur:  # 3.1
                continue
            nb = name.encode()                                      # 3.2
            r.mm[b + G_NAME:b + G_NAME + 32] = nb + bytes(32 - len(nb))
            at.mfence()
            if self.group_find(name, self_g=g) is not None:         # 3.3
                r.mm[b + G_NAME:b + G_NAME + 32] = bytes(32)
                at.store64(base + b + G_OWNER,
                           owner_word(0, owner_gen(cur) + 1, OWNER_FREE))
                return None
            r.i32[(b + G_MODE) >> 2] = MODE_LOSSY if lossy else 0   # 3.4
            r.i32[(self.rec + C_GROUP) >> 2] = g + 1    # named before counted
            for f, v in ((G_MEMBERS, members_next(r.ld64(b + G_MEMBERS), 1)),
                         (G_CLAIM_LOCK, 0), (G_LOST, 0),
                         (G_FRAMES_DEPARTED, 0), (G_MARKERS, 0),
                         (G_CLAIM_SEQ, start), (G_START_SEQ, start)):
                at.store64(base + b + f, v)
            at.xchg64(base + b + G_OWNER,                           # 3.5
                      owner_word(pid, owner_gen(cur) + 1, OWNER_ACTIVE))
            if not lossy:                                           # 3.6
                L = r.ld64(P_CLAIM_LIMIT)
                if L > n and start < L - n:
                    at.store64(base + b + G_START_SEQ, L - n)
                    at.xchg64(base + b + G_CLAIM_SEQ, L - n)
                    T = r.ld64(P_WAIT_TARGET)
                    if T != 0 and start < T <= L - n:
                        ring_doorbell(at, base + P_DOORBELL)
                self.join_info = {"created": g, "L": L, "start0": start,
                                  "start": r.ld64(b + G_CLAIM_SEQ)}
            return g
        raise RingError("RB_E_TOO_MANY: no FREE group record")

    def member_lock(self):
        """§5.19 claim step 1."""
        r, at, g = self.r, self.at, self.g
        addr = r.base + r.grp(g) + G_CLAIM_LOCK
        me = self.idx + 1
        check = time.monotonic() + 0.001
        while at.cas64(addr, 0, me) != 0:
            time.sleep(0)
            if time.monotonic() >= check:
                group_recover_lock(r, at, g)
                check = time.monotonic() + 0.001

    def member_claim(self, k):
        """§5.19 "Claim".  Returns (frames, marker)."""
        r, at, base, rec, g = self.r, self.at, self.r.base, self.rec, self.g
        gb = r.grp(g)
        lossy = not self.a.lossless
        self.member_lock()                                          # step 1
        try:
            cur = r.ld64(gb + G_CLAIM_SEQ)                          # step 2
            W = r.ld64(P_WRITE_SEQ)
            if W <= cur:
                return [], False
            s, lost_add = cur, 0                                    # step 3
            if lossy and W - cur > r.n:
                lost_add = W - r.n - cur
                s = W - r.n
            got, marker = [], False
            while s < W and len(got) < k:                           # step 4
                d = r.desc(s)
                s1 = r.ld64(d)
                if s1 != s:
                    if lossy:
                        lost_add += 1
                        s += 1
                        continue
                    raise RingError("RB_E_CORRUPT: member claim D(%d).seq "
                                    "= %d" % (s, s1))
                length = r.ld64(d + D_LENGTH)
                ts = r.ld64(d + D_TIMESTAMP)
                flags = r.ld32(d + D_FLAGS)
                if lossy and r.ld64(d) != s:
                    lost_add += 1
                    s += 1
                    continue
                if length > r.frame_bytes or (
                        flags & (FRAME_EOS | FRAME_ABANDONED) and length):
                    raise RingError("RB_E_CORRUPT: length > frame_bytes, "
                                    "or a marker with bytes")
                if flags & FRAME_EOS:
                    if not got:
                        marker = True
                        s += 1
                    break
                got.append((s, length, ts, flags))
                s += 1
            end = s                                                 # step 5
            if end == cur:
                return [], False
            markers = r.ld64(gb + G_MARKERS) + (1 if marker else 0)  # 6
            if got and not self.held:
                at.store64(base + rec + C_READ_SEQ, got[0][0])
            new_claimed = self.claimed + len(got) + lost_add        # step 7
            new_lost = self.lost + lost_add
            at.store64(base + rec + C_INTENT_CLAIMED, new_claimed)
            at.store64(base + rec + C_INTENT_LOST, new_lost)
            at.store64(base + rec + C_INTENT_MARKERS, markers)
            at.store64(base + rec + C_INTENT_CLAIM_SEQ, end)
            if not self.a.lossless or self.held:                    # step 8
                at.store64(base + gb + G_CLAIM_SEQ, end)
            else:
                # holding nothing before: the group's gate rises to `gate`
                gate = got[0][0] if got else end
                at.xchg64(base + gb + G_CLAIM_SEQ, end)             # store+fence
                T = r.ld64(P_WAIT_TARGET)
                if T != 0 and cur < T <= gate:
                    ring_doorbell(at, base + P_DOORBELL)
            self.claimed, self.lost = new_claimed, new_lost
            at.store64(base + rec + C_CLAIMED, new_claimed)
            at.store64(base + rec + C_LOST, new_lost)
            at.store64(base + gb + G_MARKERS, markers)
            at.store64(base + rec + C_INTENT_CLAIM_SEQ, 0)
        finally:
            at.store64(base + gb + G_CLAIM_LOCK, 0)                 # step 9
        frames = []
        for (seq, length, ts, flags) in got:
            off = r.slot(seq)
            frames.append((seq, bytes(r.mm[off:off + length]), length, ts,
                           flags))
        self.held.extend(frames)
        return frames, marker

    def member_release_oldest(self):
        """§5.19 "Release" of the oldest held frame.  Returns whether it
        was intact (lossy groups may find it overrun)."""
        r, at, base, rec = self.r, self.at, self.r.base, self.rec
        seq = self.held[0][0]
        intact = True
        if not self.a.lossless and r.ld64(r.desc(seq)) != seq:      # step 1
            intact = False
        self.held.pop(0)
        if intact:
            self.frames += 1
        else:
            self.lost += 1
        at.store64(base + rec + C_LOST, self.lost)                  # step 2
        at.store64(base + rec + C_FRAMES, self.frames)
        now = self.held[0][0] if self.held else SEQ_NONE             # step 3
        if self.a.lossless:
            at.xchg64(base + rec + C_READ_SEQ, now)
            T = r.ld64(P_WAIT_TARGET)
            if T != 0 and seq < T <= now:
                ring_doorbell(at, base + P_DOORBELL)
        else:
            at.store64(base + rec + C_READ_SEQ, now)
        if r.ld64(rec + C_OWNER) != self.own:                       # step 4
            raise RingError("RB_E_EVICTED: our record was evicted")
        return intact

    def member_detach(self):
        """§5.15 consumer detach with §5.19 "Leave"."""
        r, at, base, rec = self.r, self.at, self.r.base, self.rec
        ev = owner_word(owner_pid(self.own), owner_gen(self.own),
                        OWNER_EVICTING)
        if at.cas64(base + rec + C_OWNER, self.own, ev) != self.own:
            return False
        group_member_leave(r, at, self.idx)
        free_record(r, at, self.idx, owner_gen(self.own))
        return True

    def run_member(self, deadline, signal_ready):
        self.attach()
        try:
            signal_ready()
            self._member_loop(deadline)
        except RingError as e:
            self.error = str(e)
        finally:
            try:
                self.member_detach()
            except Exception as e:  # noqa: BLE001
                if self.error is None:
                    self.error = "detach: %s" % e

    def _member_loop(self, deadline):
        r, a = self.r, self.a
        gb = r.grp(self.g)
        delivered = 0
        while True:
            if self.done_counting():
                return
            frames, marker = self.member_claim(a.batch)
            for (seq, data, length, ts, flags) in frames:
                if a.lossless:  # lossy: checked after the release re-check
                    self.deliver(seq, data, length, ts, flags, count=False)
                delivered += 1
            if a.die_holding and delivered >= a.die_holding and self.held:
                # Test hook (§5.20): die holding the frames just claimed.
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            while self.held:
                seq, data, length, ts, flags = self.held[0]
                if self.member_release_oldest() and not a.lossless:
                    self.deliver(seq, data, length, ts, flags, count=False)
            if marker:
                self.marker += 1
                self.eos = True
                self.eos_seen = r.ld64(gb + G_CLAIM_SEQ)
                if self.header is None:
                    self.grab_header()
                return
            if frames:
                continue
            # Nothing to claim: end of stream for this member? (§5.19)
            if r.stream_stopped(self.start) and \
                    r.ld64(P_STREAM_STATE) == STREAM_ENDED:
                e = r.ld64(P_EOS_SEQ)
                if r.ld64(gb + G_CLAIM_SEQ) >= e and self.eos_seen != e:
                    self.eos_seen = e
                    self.eos = True
                    return
            if self.periodic():                      # §5.10 step 7, §5.12
                if r.ld64(self.rec + C_OWNER) != self.own:
                    raise RingError("RB_E_EVICTED")
                group_recover_lock(r, self.at, self.g)
                if a.repair:
                    n = repair_abandoned(r, self.at)
                    self.repaired += n
                    if n:
                        continue
                if r.ld64(P_STREAM_STATE) == STREAM_ABANDONED:
                    raise RingError("RB_E_PRODUCER_DEAD (abandoned)")
                if not r.stream_stopped(self.start) and r.producer_dead():
                    raise RingError("RB_E_PRODUCER_DEAD")
            if time.monotonic() >= deadline:
                raise RingError("timeout")
            time.sleep(a.poll_ms / 1000.0)

    def release(self, new):
        """§5.8."""
        r, at, base, rec = self.r, self.at, self.r.base, self.rec
        at.store64(base + rec + C_FRAMES, self.frames)
        at.store64(base + rec + C_LOST, self.lost)
        old = self.released
        if self.a.lossless:
            at.xchg64(base + rec + C_READ_SEQ, new)
            T = r.ld64(P_WAIT_TARGET)
            if T != 0 and old < T <= new:
                ring_doorbell(at, base + P_DOORBELL)
        else:
            at.store64(base + rec + C_READ_SEQ, new)
        self.released = new
        if r.ld64(rec + C_OWNER) != self.own:
            raise RingError("RB_E_EVICTED: our record was evicted")

    def detach(self):
        """§5.15 consumer."""
        r, at, base, rec = self.r, self.at, self.r.base, self.rec
        ev = owner_word(owner_pid(self.own), owner_gen(self.own),
                        OWNER_EVICTING)
        if at.cas64(base + rec + C_OWNER, self.own, ev) != self.own:
            return False                       # already evicted
        free_record(r, at, self.idx, owner_gen(self.own))
        return True

    def wait_for(self, target, deadline):
        """Wait until write_seq >= target or something to check.  Polling,
        or with --futex the consumer side of §5.10 (single slice)."""
        r = self.r
        if not self.a.futex:
            time.sleep(self.a.poll_ms / 1000.0)
            return
        at, base, rec, i = self.at, r.base, self.rec, self.idx
        if r.ld64(P_STREAM_STATE) in (STREAM_ENDED, STREAM_ABANDONED):
            time.sleep(self.a.poll_ms / 1000.0)           # step 2: no sleep
            return
        at.store64(base + rec + C_WAKE_TARGET, target)      # step 3
        maskaddr = base + P_SLEEP_MASK + 8 * (i // 64)
        bit = 1 << (i % 64)
        at.or64(maskaddr, bit)                              # step 4
        bell = base + rec + C_DOORBELL
        seen = r.ld32(rec + C_DOORBELL) & 0x7FFFFFFF        # step 5
        W = r.ld64(P_WRITE_SEQ)                             # step 6
        st = r.ld64(P_STREAM_STATE)
        if W < target and st not in (STREAM_ENDED, STREAM_ABANDONED):
            slice_end = min(deadline, time.monotonic() + WAIT_SLICE)
            futex_sleep(r, at, rec + C_DOORBELL, bell, seen, slice_end)
        at.and64(maskaddr, ~bit & U64)                      # step 8
        at.store64(base + rec + C_WAKE_TARGET, 0)

    def run_lossless(self, deadline, signal_ready):
        r = self.r
        self.attach()
        try:
            signal_ready()
            self._lossless_loop(deadline)
        except RingError as e:
            self.error = str(e)
        finally:
            try:
                self.detach()
            except Exception as e:  # noqa: BLE001
                if self.error is None:
                    self.error = "detach: %s" % e
        return r

    def check_demoted(self):
        """§5.21: a demoted consumer is lossy from then on.  This reader
        does not switch to §5.7 reads mid-run: it stops with the code, and
        the frames it counted so far stay exact."""
        r = self.r
        if r.ld64(self.rec + C_DEMOTED) == self.own:   # TSO: loads in order
            raise RingError("RB_E_DEMOTED: demoted to lossy (stalled_ns %d)"
                            % r.ld64(self.rec + C_STALLED_NS))

    def _lossless_loop(self, deadline):
        r = self.r
        linger = None
        # §5.6 "By descriptor", one seq at a time (k = 1: any ring).
        by_desc = self.a.by_descriptor
        seen_w = 0
        while True:
            nxt = self.next
            W = r.ld64(P_WRITE_SEQ)                          # §5.6 step 1
            if by_desc:
                if W < seen_w:
                    raise RingError("RB_E_CORRUPT: write_seq went backwards")
                seen_w = W
                if W <= nxt and r.ld64(r.desc(nxt)) == nxt:  # step 1'
                    self.by_descriptor += 1
                    W = nxt + 1
            if W < nxt and not by_desc:
                raise RingError("RB_E_CORRUPT: write_seq went backwards")
            if W <= nxt:
                st = r.ld64(P_STREAM_STATE)
                e = r.ld64(P_EOS_SEQ)
                if st == STREAM_ENDED and e > self.start and nxt >= e:
                    self.eos = True                          # §5.12
                    return
                if self.periodic():
                    if r.ld64(self.rec + C_OWNER) != self.own:
                        raise RingError("RB_E_EVICTED")
                    if self.a.repair:                        # §5.17
                        n = repair_abandoned(r, self.at)
                        self.repaired += n
                        if n:
                            continue
                    if r.producer_dead():
                        raise RingError("RB_E_PRODUCER_DEAD")
                now = time.monotonic()
                if self.done_counting():
                    if linger is None:
                        linger = now + self.a.eos_wait
                    if now >= linger:
                        return
                if now >= deadline:
                    raise RingError("timeout")
                self.wait_for(nxt + 1, min(deadline, linger or deadline))
                continue
            self.check_demoted()                             # §5.21
            while nxt < W:
                d = r.desc(nxt)
                s = r.ld64(d)                                # step 2
                if s != nxt:
                    self.check_demoted()
                if s != nxt and r.ld64(self.rec + C_OWNER) != self.own:
                    # DOC GAP (§5.6 step 2 vs §5.8 step 4): an evicted
                    # consumer's frames may be overwritten; report that,
                    # not a corrupt segment.
                    raise RingError("RB_E_EVICTED (D(%d).seq = %d)"
                                    % (nxt, s))
                if s != nxt:
                    # §5.6 step 2.  If this happens on the first frames
                    # after a join with --join doc, it is the §5.4 join race
                    # (see README.md), not a corrupt segment.
                    raise RingError("RB_E_CORRUPT: D(%d).seq = %d (frames "
                                    "read %d, join %s, write_seq now %d)"
                                    % (nxt, s, self.frames,
                                       json.dumps(self.join_info),
                                       r.ld64(P_WRITE_SEQ)))
                length = r.ld64(d + D_LENGTH)                # step 3
                ts = r.ld64(d + D_TIMESTAMP)
                flags = r.ld32(d + D_FLAGS)
                if length > r.frame_bytes or (               # §5.6 step 3
                        flags & (FRAME_EOS | FRAME_ABANDONED) and length):
                    self.note_bad("seq %d length %d > frame_bytes, or a "
                                  "marker with bytes" % (nxt, length))
                    raise RingError("RB_E_CORRUPT: length > frame_bytes")
                if flags & FRAME_EOS:                        # step 4
                    nxt += 1
                    self.next = nxt
                    self.marker += 1
                    self.eos = True
                    if self.header is None:
                        self.grab_header()
                    self.release(nxt)
                    return
                if self.done_counting():
                    return
                off = r.slot(nxt)                            # step 5
                data = bytes(r.mm[off:off + length])
                self.deliver(nxt, data, length, ts, flags)
                nxt += 1
                self.next = nxt
                self.release(nxt)


def wake_consumers(r, at, W):
    """§5.10 producer side (not "wake all")."""
    for w in range((r.max_consumers + 63) // 64):
        mask = r.ld64(P_SLEEP_MASK + 8 * w)
        while mask:                           # load fence: TSO, in order
            b = (mask & -mask).bit_length() - 1
            mask &= mask - 1
            i = 64 * w + b
            if i >= r.max_consumers:
                break
            T = r.ld64(r.rec(i) + C_WAKE_TARGET)
            if T != 0 and T <= W:
                ring_doorbell(at, r.base + r.rec(i) + C_DOORBELL)


def advance_write_seq(r, at):
    """§5.16 "Advance write_seq".  Returns write_seq."""
    w = r.ld64(P_WRITE_SEQ)
    while True:
        e = w
        while e - w < r.n and r.ld64(r.desc(e)) == e:
            e += 1
        if e == w:
            return w
        old = at.cas64(r.base + P_WRITE_SEQ, w, e)
        if old == w:
            wake_consumers(r, at, e)
            T = r.ld64(P_WAIT_TARGET)
            if T != 0 and w < T <= e:
                ring_doorbell(at, r.base + P_DOORBELL)
            w = e
        else:
            w = old


def repair_abandoned(r, at):
    """§5.17 repair, several-producer rings.  Returns how many seqs this
    call committed (and counted) as abandoned."""
    if r.max_producers == 1:
        return 0
    repaired = 0
    while True:
        w = advance_write_seq(r, at)                              # step 1
        if w >= r.ld64(P_CLAIM_SEQ):                               # step 2
            return repaired
        d = r.desc(w)
        seen = r.ld64(d)                                           # step 3
        if seen == w:
            continue
        for j in range(r.max_producers):                           # step 4
            p = r.prec(j)
            o = r.ld64(p + PR_OWNER)
            st = owner_state(o)
            if st not in (OWNER_ACTIVE, OWNER_CLAIMING):
                continue
            if r.ld64(p + PR_HOLD_FROM) > w:
                continue
            if alive(owner_pid(o), r.ld64(p + PR_START_TIME)
                     if st == OWNER_ACTIVE else 0):
                return repaired                     # a live holder: stop
        if seen != SEQ_WRITING and seen & (1 << 63) and \
                alive((seen >> 32) & 0x7fffffff, 0):               # step 4
            return repaired                 # another repairer is at work
        if r.ld64(d) != seen:                                      # step 5
            continue
        mark = (1 << 63) | (os.getpid() << 32) | (w & 0xffffffff)  # 6.1
        if at.cas64(r.base + d, seen, mark) != seen:               # 6.1
            continue
        if r.ld64(P_WRITE_SEQ) > w:                                # 6.2
            at.cas64(r.base + d, mark, seen)     # a lap went by: give back
            continue
        # 6.3 (store fence: TSO keeps the stores in order)
        at.store64(r.base + d + D_LENGTH, 0)
        at.store64(r.base + d + D_TIMESTAMP, 0)
        r.i32[(d + D_FLAGS) >> 2] = FRAME_ABANDONED
        at.store64(r.base + d, w)                                  # 6.4
        at.fadd64(r.base + P_FRAMES_ABANDONED, 1)
        repaired += 1


def group_take_over(r, at, g, lock, h):
    """§5.19 "Recover a lock", steps 3-5: one recoverer at a time."""
    gb = r.base + r.grp(g)
    tag = (1 << 63) | (os.getpid() << 16) | (h & 0xffff)
    if at.cas64(gb + G_CLAIM_LOCK, lock, tag) != lock:
        return False
    if 1 <= h <= r.max_consumers:
        group_roll(r, at, g, h - 1)
    at.store64(gb + G_CLAIM_LOCK, 0)
    return True


def group_recover_lock(r, at, g):
    """§5.19 "Recover a lock" whose holder died.  True if it freed it."""
    gb = r.base + r.grp(g)
    h = r.ld64(r.grp(g) + G_CLAIM_LOCK)                            # step 1
    if h == 0:
        return False
    if h >> 63:                                     # a recoverer's tag
        if alive((h >> 16) & 0x7fffffff, 0):
            return False
        return group_take_over(r, at, g, h, h & 0xffff)
    if h > r.max_consumers:
        return at.cas64(gb + G_CLAIM_LOCK, h, 0) == h
    rec = r.rec(h - 1)
    o = r.ld64(rec + C_OWNER)                                      # step 2
    if owner_state(o) == OWNER_ACTIVE and \
            alive(owner_pid(o), r.ld64(rec + C_START_TIME)):
        return False
    if owner_state(o) == OWNER_CLAIMING and alive(owner_pid(o), 0):
        return False
    return group_take_over(r, at, g, h, h)


def group_roll(r, at, g, i):
    """§5.19 recover step 3: roll a dead holder's claim forward or back."""
    rec = r.rec(i)
    to = r.ld64(rec + C_INTENT_CLAIM_SEQ)
    if to == 0:
        return
    if r.ld64(r.grp(g) + G_CLAIM_SEQ) == to:                       # forward
        at.store64(r.base + rec + C_CLAIMED,
                   r.ld64(rec + C_INTENT_CLAIMED))
        at.store64(r.base + rec + C_LOST, r.ld64(rec + C_INTENT_LOST))
        at.store64(r.base + r.grp(g) + G_MARKERS,
                   r.ld64(rec + C_INTENT_MARKERS))
    at.store64(r.base + rec + C_INTENT_CLAIM_SEQ, 0)


def group_member_leave(r, at, i):
    """§5.19 "Leave" (the record is EVICTING)."""
    rec = r.rec(i)
    gi = r.ld32(rec + C_GROUP)
    if gi & 0x80000000:                             # step 0: died joining
        r.i32[(rec + C_GROUP) >> 2] = 0
        return
    if gi == 0 or gi > r.max_groups:
        return
    g = gi - 1
    gb = r.base + r.grp(g)
    group_take_over(r, at, g, i + 1, i + 1)                        # step 1
    claimed = r.ld64(rec + C_CLAIMED)                              # step 2
    frames = r.ld64(rec + C_FRAMES)
    at.fadd64(gb + G_FRAMES_DEPARTED, frames)                      # step 3
    at.fadd64(gb + G_LOST, claimed - frames if claimed >= frames else 0)
    at.store64(r.base + rec + C_READ_SEQ, SEQ_NONE)                # step 4
    at.mfence()
    while True:                                                    # step 5
        m = r.ld64(r.grp(g) + G_MEMBERS)
        count = m & 0xffffffff
        if count == 0:
            break
        if at.cas64(gb + G_MEMBERS, m, members_next(m, count - 1)) != m:
            continue
        if count == 1:
            o = r.ld64(r.grp(g) + G_OWNER)
            at.xchg64(gb + G_OWNER, owner_word(0, owner_gen(o) + 1, OWNER_FREE))
        break
    r.i32[(rec + C_GROUP) >> 2] = 0
    ring_doorbell(at, r.base + P_DOORBELL)                         # step 6


def ring_doorbell(at, addr):
    """§5.9 Ring."""
    old = at.fadd32(addr, 1)
    if old & 0x80000000:
        at.and32(addr, 0x7FFFFFFF)
        futex(addr, FUTEX_WAKE, 0x7FFFFFFF, None)


_libc = None


def futex(addr, op, val, timeout):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    ts = None
    if timeout is not None:
        sec = int(timeout)
        ts = (ctypes.c_long * 2)(sec, int((timeout - sec) * 1e9))
    # shared futex: never FUTEX_PRIVATE_FLAG (§5.9)
    return _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(addr),
                         ctypes.c_int(op), ctypes.c_int(val),
                         ts if ts is not None else ctypes.c_void_p(0),
                         ctypes.c_void_p(0), ctypes.c_int(0))


def futex_sleep(r, at, off, addr, seen, until):
    """§5.9 Sleep (without the spin phases), until rung or `until`."""
    flagged = seen | 0x80000000
    while True:
        w = r.ld32(off)
        if (w & 0x7FFFFFFF) != seen:
            return                                  # rung
        if w != flagged:
            if at.cas32(addr, seen, flagged) != seen and \
                    r.ld32(off) != flagged:
                return
        left = until - time.monotonic()
        if left <= 0:
            return
        # FUTEX_WAIT with a relative timeout (allowed by §5.9)
        futex(addr, FUTEX_WAIT, flagged - (1 << 32) if flagged >= 1 << 31
              else flagged, left)
        w = r.ld32(off)
        if w != flagged and (w & 0x7FFFFFFF) != seen:
            return


def free_record(r, at, i, gen):
    """§5.14 consumer eviction step 4 (also used by detach, §5.15)."""
    base = r.base
    at.and64(base + P_SLEEP_MASK + 8 * (i // 64), ~(1 << (i % 64)) & U64)
    at.store64(base + r.rec(i) + C_WAKE_TARGET, 0)
    at.store64(base + r.rec(i) + C_OWNER,
               owner_word(0, gen + 1, OWNER_FREE))
    ring_doorbell(at, base + P_DOORBELL)


def evict_if_dead(r, at, i):
    """§5.14 consumer eviction."""
    rec = r.rec(i)
    o = r.ld64(rec + C_OWNER)
    s = owner_state(o)
    if s == OWNER_ACTIVE:
        if alive(owner_pid(o), r.ld64(rec + C_START_TIME)):
            return False
    elif s == OWNER_CLAIMING:
        if alive(owner_pid(o), 0):
            return False
    else:
        return False
    ev = owner_word(owner_pid(o), owner_gen(o), OWNER_EVICTING)
    if at.cas64(r.base + rec + C_OWNER, o, ev) != o:
        return False
    if r.ld32(rec + C_GROUP) != 0:                  # §5.14 step 4
        group_member_leave(r, at, i)
    free_record(r, at, i, owner_gen(o))
    return True


# ---------------------------------------------------------------- commands
def cmd_validate(name):
    try:
        ring = Ring(name)
    except ValidationError as e:
        print(e.line())
        return 2
    g = {k: ring.h[k] for k in GEOMETRY_KEYS}
    g["name"] = name
    print("ok")
    print(json.dumps(g, sort_keys=True))
    return 0


def cstr(b):
    """A peer-written NUL-padded name: copy, force a NUL at the last byte."""
    return bytes(b[:-1]).split(b"\0")[0].decode("utf-8", "replace")


def producer_records(r, all_records=False):
    """§3.7.  Records with a non-zero owner word (every record if asked)."""
    out = []
    for j in range(r.max_producers):
        p = r.prec(j)
        o = r.ld64(p + PR_OWNER)
        if o == 0 and not all_records:
            continue
        out.append({"j": j, "pid": owner_pid(o), "gen": owner_gen(o),
                    "state": owner_state(o),
                    "start_time": r.ld64(p + PR_START_TIME),
                    "hold_from": r.ld64(p + PR_HOLD_FROM),
                    "frames": r.ld64(p + PR_FRAMES),
                    "in_stream": r.ld32(p + PR_IN_STREAM)})
    return out


def group_records(r):
    """§3.8.  Records with a non-zero owner word."""
    out = []
    for g in range(r.max_groups):
        b = r.grp(g)
        o = r.ld64(b + G_OWNER)
        if o == 0:
            continue
        out.append({"g": g, "pid": owner_pid(o), "gen": owner_gen(o),
                    "state": owner_state(o),
                    "claim_seq": r.ld64(b + G_CLAIM_SEQ),
                    "claim_lock": r.ld64(b + G_CLAIM_LOCK),
                    "lost": r.ld64(b + G_LOST),
                    "frames_departed": r.ld64(b + G_FRAMES_DEPARTED),
                    "markers": r.ld64(b + G_MARKERS),
                    "members": r.ld64(b + G_MEMBERS) & 0xffffffff,
                    "mode": r.ld32(b + G_MODE),
                    "start_seq": r.ld64(b + G_START_SEQ),
                    "name": cstr(r.mm[b + G_NAME:b + G_NAME + 32])})
    return out


def cmd_status(name):
    try:
        ring = Ring(name)
    except ValidationError as e:
        print(e.line())
        return 2
    r = ring
    cons = []
    for i in range(r.max_consumers):
        rec = r.rec(i)
        o = r.ld64(rec + C_OWNER)
        if o == 0:
            continue
        cons.append({"i": i, "pid": owner_pid(o), "gen": owner_gen(o),
                     "state": owner_state(o),
                     "read_seq": r.ld64(rec + C_READ_SEQ),
                     "frames": r.ld64(rec + C_FRAMES),
                     "lost": r.ld64(rec + C_LOST),
                     "claimed": r.ld64(rec + C_CLAIMED),
                     "intent_claim_seq": r.ld64(rec + C_INTENT_CLAIM_SEQ),
                     "intent_claimed": r.ld64(rec + C_INTENT_CLAIMED),
                     "intent_lost": r.ld64(rec + C_INTENT_LOST),
                     "intent_markers": r.ld64(rec + C_INTENT_MARKERS),
                     "group": r.ld32(rec + C_GROUP),
                     "demoted": r.ld64(rec + C_DEMOTED) == o,
                     "stalled_ns": r.ld64(rec + C_STALLED_NS),
                     "mode": r.ld32(rec + C_MODE),
                     "doorbell": r.ld32(rec + C_DOORBELL),
                     "wake_target": r.ld64(rec + C_WAKE_TARGET),
                     "label": cstr(r.mm[rec + C_LABEL:rec + C_LABEL + 32])})
    text, start_seq = r.read_stream_header()
    out = {"write_seq": r.ld64(P_WRITE_SEQ),
           "claim_limit": r.ld64(P_CLAIM_LIMIT),
           "claim_seq": r.ld64(P_CLAIM_SEQ),
           "frames_dropped": r.ld64(P_FRAMES_DROPPED),
           "stream_members": r.ld64(P_STREAM_MEMBERS),
           "frames_abandoned": r.ld64(P_FRAMES_ABANDONED),
           "stream_state": r.ld64(P_STREAM_STATE),
           "eos_seq": r.ld64(P_EOS_SEQ),
           "eos_marker": r.ld64(P_EOS_MARKER),
           "stream_ordinal": r.ld64(P_STREAM_ORDINAL),
           "clock_offset_ns": struct.unpack(
               "q", struct.pack("Q", r.ld64(P_CLOCK_OFFSET)))[0],
           "clock_anchor_ns": r.ld64(P_CLOCK_ANCHOR),
           "stream_headers": r.sh_count,
           "wait_target": r.ld64(P_WAIT_TARGET),
           "doorbell": r.ld32(P_DOORBELL),
           "max_producers": r.max_producers,
           "max_groups": r.max_groups,
           "producers": producer_records(r),
           "sleep_mask": [r.ld64(P_SLEEP_MASK + 8 * w) for w in range(4)],
           "stream_header": text, "stream_start_seq": start_seq,
           "consumers": cons,
           "groups": group_records(r)}
    print(json.dumps(out, sort_keys=True))
    return 0


def cmd_audit(name):
    """Checks the document's static claims on a QUIESCENT ring (no producer
    or consumer attached): zero padding/reserved bytes (§1.2, §2, §3),
    descriptor invariants 3 and 6 (§7), stream-header NUL (§3.5), free
    producer, consumer and group records (§3.7, §3.3, §3.8), claim_seq
    (§3.2)."""
    try:
        r = Ring(name)
    except ValidationError as e:
        print(e.line())
        return 2
    problems = []
    mm = r.mm

    def zero(lo, hi, what):
        if lo < hi and any(mm[lo:hi]):
            problems.append("%s [%d, %d) not zero" % (what, lo, hi))

    zero(288, 384, "producer pad0")   # 280: claim_seq (§3.2)
    zero(456, 512, "producer pad1")   # 448: clock_anchor_ns (§3.2)
    zero(516, 640, "producer pad2")
    zero(672, 768, "producer pad3")
    for w in range((r.max_consumers + 63) // 64, 4):
        zero(P_SLEEP_MASK + 8 * w, P_SLEEP_MASK + 8 * w + 8,
             "unused sleep_mask word %d" % w)
    for j in range(r.max_producers):                  # §3.7
        p = r.prec(j)
        zero(p + 36, p + PRODUCER_RECORD_BYTES, "producer record %d pad" % j)
        o = r.ld64(p + PR_OWNER)
        if owner_state(o) != OWNER_FREE:
            problems.append("producer record %d not FREE (owner 0x%x)"
                            % (j, o))
        elif owner_pid(o) != 0:
            problems.append("producer record %d FREE with pid %d"
                            % (j, owner_pid(o)))
        if r.ld32(p + PR_IN_STREAM) != 0:
            problems.append("producer record %d in_stream %d"
                            % (j, r.ld32(p + PR_IN_STREAM)))
        if r.ld64(p + PR_HOLD_FROM) != SEQ_NONE:
            problems.append("producer record %d hold_from %d (not NONE)"
                            % (j, r.ld64(p + PR_HOLD_FROM)))
    if r.ld64(P_STREAM_MEMBERS) != 0:
        problems.append("stream_members %d with no producer"
                        % r.ld64(P_STREAM_MEMBERS))
    for i in range(r.max_consumers):                  # §3.3
        rec = r.rec(i)
        zero(rec + 64, rec + 128, "consumer %d pad0" % i)
        zero(rec + C_RESERVED1, rec + C_DEMOTED, "consumer %d reserved1" % i)
        zero(rec + 216, rec + 256, "consumer %d pad1" % i)
        o = r.ld64(rec + C_OWNER)
        if owner_state(o) != OWNER_FREE:
            problems.append("consumer %d not FREE (owner 0x%x)" % (i, o))
        if owner_state(o) == OWNER_FREE and owner_pid(o) != 0:
            problems.append("consumer %d FREE with pid %d" % (i, owner_pid(o)))
        if r.ld32(rec + C_GROUP) != 0:
            problems.append("FREE consumer %d in group %d"
                            % (i, r.ld32(rec + C_GROUP)))
    for g in range(r.max_groups):                     # §3.8
        b = r.grp(g)
        zero(b + 40, b + 128, "group %d pad0" % g)
        zero(b + 148, b + 152, "group %d reserved0" % g)
        zero(b + 192, b + 256, "group %d pad1" % g)
        o = r.ld64(b + G_OWNER)
        if owner_state(o) != OWNER_FREE:
            problems.append("group %d not FREE (owner 0x%x)" % (g, o))
        if r.ld64(b + G_MEMBERS) & 0xffffffff != 0:
            problems.append("group %d has %d members with no consumer"
                            % (g, r.ld64(b + G_MEMBERS) & 0xffffffff))
        if r.ld64(b + G_CLAIM_LOCK) != 0:
            problems.append("group %d claim_lock %d"
                            % (g, r.ld64(b + G_CLAIM_LOCK)))
    newest = r.ld64(P_STREAM_ORDINAL)
    for e in range(r.sh_count):                      # §3.5, layout 4
        sh = r.sh_off + r.sh_stride * e
        zero(sh + 40, sh + 64, "stream header %d pad" % e)
        length = r.ld64(sh + SH_LENGTH)
        ordv = r.ld64(sh + SH_ORDINAL)
        if r.ld64(sh + SH_GENERATION) & 1:
            problems.append("stream header %d generation odd" % e)
        if length >= r.shb:
            problems.append("stream header %d length %d" % (e, length))
        elif mm[sh + SH_TEXT + length] != 0:
            problems.append("stream header %d text not NUL-terminated" % e)
        if ordv != 0 and (ordv % r.sh_count != e or ordv > newest or
                          newest - ordv >= r.sh_count):
            problems.append("stream header %d holds ordinal %d (newest %d)"
                            % (e, ordv, newest))
        zero(sh + 64 + r.shb, sh + r.sh_stride, "stream header %d padding" % e)
    zero(r.sh_off + r.sh_stride * r.sh_count, r.desc_off,
         "padding before descriptors")
    for k in range(r.n):
        d = r.desc_off + 64 * k
        zero(d + 28, d + 32, "descriptor %d reserved0" % k)
        zero(d + 40, d + 64, "descriptor %d reserved" % k)
    zero(r.desc_off + 64 * r.n, r.slots_off, "padding before slots")
    if r.slot_stride > r.frame_bytes:
        for k in range(r.n):
            s = r.slots_off + r.slot_stride * k
            zero(s + r.frame_bytes, s + r.slot_stride, "slot %d padding" % k)
    zero(r.slots_off + r.slot_stride * r.n, r.h["segment_bytes"],
         "padding after slots")
    W = r.ld64(P_WRITE_SEQ)
    C = r.ld64(P_CLAIM_SEQ)
    if r.max_producers == 1 and C != r.initial_seq:     # §3.2
        problems.append("single-producer ring: claim_seq %d != initial_seq"
                        % C)
    if r.max_producers > 1 and C != W:                  # quiescent, §5.16
        problems.append("claim_seq %d != write_seq %d with no producer"
                        % (C, W))
    lo = max(r.initial_seq, W - r.n) if W >= r.n else r.initial_seq
    for s in range(lo, W):                       # invariant 3 (quiescent)
        d = r.desc(s)
        got = r.ld64(d)
        if got != s:
            problems.append("D(%d).seq = %d" % (s, got))
        elif r.ld32(d + D_FLAGS) & FRAME_ABANDONED and (
                r.ld64(d + D_LENGTH) or r.ld64(d + D_TIMESTAMP) or
                r.ld32(d + D_FLAGS) != FRAME_ABANDONED):
            problems.append("abandoned seq %d: flags 0x%x length %d ts %d"
                            % (s, r.ld32(d + D_FLAGS), r.ld64(d + D_LENGTH),
                               r.ld64(d + D_TIMESTAMP)))      # §3.6.3
    if r.ld64(P_STREAM_STATE) == STREAM_ENDED:   # invariant 6
        e = r.ld64(P_EOS_SEQ)
        if not (r.initial_seq < e <= W):
            problems.append("eos_seq %d outside (initial_seq, write_seq]" % e)
        elif e - 1 >= lo and r.ld64(P_EOS_MARKER) == 1:
            d = r.desc(e - 1)
            if not (r.ld32(d + D_FLAGS) & FRAME_EOS) or r.ld64(d + D_LENGTH) \
                    or r.ld64(d + D_TIMESTAMP):
                problems.append("marker %d: flags 0x%x length %d ts %d"
                                % (e - 1, r.ld32(d + D_FLAGS),
                                   r.ld64(d + D_LENGTH),
                                   r.ld64(d + D_TIMESTAMP)))
    for p in problems[:20]:
        print("problem: " + p)
    print("ok" if not problems else "%d problems" % len(problems))
    return 0 if not problems else 1


def parse_read_args(argv):
    class A:
        count = None
        lossless = False
        pattern = None
        timeout = 60.0
        ready = None
        futex = False
        start = "oldest"
        expect_len = None
        eos_wait = 5.0
        poll_ms = 0.5
        label = "reader.py"
        atomics = "auto"
        no_evict = False
        join = "doc"
        attach_pause = 0.0
        group = None
        batch = 4
        die_holding = 0
        repair = False
        by_descriptor = False
    a = A()
    it = iter(argv)
    for arg in it:
        def val():
            try:
                return next(it)
            except StopIteration:
                raise SystemExit("reader.py: %s needs a value" % arg)
        if arg == "--count":
            a.count = int(val())
        elif arg == "--lossless":
            a.lossless = True
        elif arg == "--pattern":
            a.pattern = val()
            if a.pattern != "counter":
                raise SystemExit("reader.py: unknown pattern %s" % a.pattern)
        elif arg == "--timeout":
            a.timeout = float(val())
        elif arg == "--ready":
            a.ready = val()
        elif arg == "--futex":
            a.futex = True
        elif arg == "--by-descriptor":
            a.by_descriptor = True
        elif arg == "--start":
            a.start = val()
            if a.start not in ("oldest", "next"):
                raise SystemExit("reader.py: --start oldest|next")
        elif arg == "--expect-len":
            a.expect_len = int(val())
        elif arg == "--eos-wait":
            a.eos_wait = float(val())
        elif arg == "--poll-ms":
            a.poll_ms = float(val())
        elif arg == "--label":
            a.label = val()
        elif arg == "--atomics":
            a.atomics = val()
        elif arg == "--join":
            a.join = val()
            if a.join not in ("doc", "safe"):
                raise SystemExit("reader.py: --join doc|safe")
        elif arg == "--attach-pause":
            a.attach_pause = float(val()) / 1000.0
        elif arg == "--no-evict":
            a.no_evict = True
        elif arg == "--group":
            a.group = val()
        elif arg == "--batch":
            a.batch = max(1, int(val()))
        elif arg == "--die-holding":
            a.die_holding = int(val())
        elif arg == "--repair":
            a.repair = True
        else:
            raise SystemExit("reader.py: unknown option %s" % arg)
    if a.count is None:
        raise SystemExit("reader.py: read needs --count N")
    if a.futex and (not a.lossless or a.group is not None):
        raise SystemExit("reader.py: --futex needs --lossless and no "
                         "--group (an unregistered reader has no doorbell, "
                         "§6; members poll)")
    if a.repair and not (a.lossless or a.group is not None):
        raise SystemExit("reader.py: --repair needs a registered reader "
                         "(--lossless or --group): it writes (§5.17)")
    return a


def cmd_read(name, argv):
    a = parse_read_args(argv)
    deadline = time.monotonic() + a.timeout

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    def signal_ready():
        if a.ready:
            with open(a.ready, "w") as f:
                f.write("attached %d\n" % os.getpid())

    registered = a.lossless or a.group is not None
    try:
        ring = Ring(name, writable=registered)
    except ValidationError as e:
        print(e.line(), file=sys.stderr)
        return 2
    rd = Reader(ring, a)
    try:
        if a.group is not None:
            rd.at = make_atomics(a.atomics)
            rd.run_member(deadline, signal_ready)
        elif a.lossless:
            rd.at = make_atomics(a.atomics)
            if a.futex and rd.at.name == "weak":
                raise RingError("--futex refused with weak atomics")
            rd.run_lossless(deadline, signal_ready)
        else:
            rd.run_lossy(deadline, signal_ready)
    except RingError as e:
        rd.error = str(e)
    except KeyboardInterrupt:
        rd.error = "interrupted"
    if rd.header is None and rd.frames + rd.marker > 0:
        rd.grab_header()
    for why in rd.bad_reasons:
        print("reader.py: bad: " + why, file=sys.stderr)
    if rd.error:
        print("reader.py: error: " + rd.error, file=sys.stderr)
    print(json.dumps(rd.result()))
    sys.stdout.flush()
    return 0 if rd.bad == 0 and rd.error is None else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "validate":
        return cmd_validate(argv[1])
    if len(argv) >= 2 and argv[0] == "status":
        return cmd_status(argv[1])
    if len(argv) >= 2 and argv[0] == "audit":
        return cmd_audit(argv[1])
    if len(argv) >= 2 and argv[0] == "read":
        return cmd_read(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
