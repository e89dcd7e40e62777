#!/usr/bin/python3
"""Hostile writes into a live ring, against the real programs.

For each case: a tiny ring made by rb-producer (counter source, so every
byte can be checked), read by a lossless `rb-consumer verify`, a lossy one
and two members of the lossless group G, while `rb-ctl info --json` and
`rb-ctl top` run over and over beside them.  Once frames flow (the ring's
write_seq has passed a mark; no sleeping on hope), one hostile value is
written into one field of the segment, as another process with write
access to /dev/shm would: mmap and store, once, or again and again for
HOLD_S seconds ("hold").  Then every program is given a bounded time to
finish and its outcome is classified:

  pass   exited non-zero with a clear error (a line on stderr), or
         finished with correct data (verify: 0 errors, 0 gaps; lossless:
         every frame the producer committed; lossy: frames + lost adds up
         exactly; the group: its members' frames cover every frame), or was
         still waiting with everything it was owed and exited within 1 s of
         SIGTERM
  FAIL   killed by a signal (a crash, or a sanitizer abort), any
         sanitizer report on stderr, still running past the bound and not
         ending within 1 s of SIGTERM (a hang), still running past the
         bound without the frames it was owed (a stall), exit 0 with fewer
         frames than committed and no loss reported (a silent short
         stream), counts out of range (>= 2^62, or more than was
         produced), a non-zero exit without a word on stderr

The field table is read from docs/FORMAT.md (sections 3.1 to 3.5, 3.7,
3.8) when the driver starts, so the cases follow the document.

    hostile.py --build BUILD_DIR [--short] [--seed N] [--only SUBSTR]
               [--list] [--jobs N] [--table]

--short runs a fixed, seeded sample of cases (tools/test: the meson suite
`hostile`); without it every case runs (several minutes).  Cases listed in
tests/hostile/expected_failures.txt fail for a library defect named in
tests/hostile/FINDINGS.md: they are run and printed as XFAIL (or XPASS when
they pass), never skipped, and never in the short sample.
"""

import argparse
import json
import mmap
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
SEQ_LIMIT = 1 << 62

# The ring and the run: small and short.
SLOTS = 16
FRAME = 256
FRAMES = 4000            # the producer's --count
RATE = "10kHz"
INJECT_AT = 800          # write_seq mark before the hostile write
HOLD_S = 0.5             # "hold": the value is stored again and again this long
BOUND_S = 6.0            # every program ends within this after the write
TERM_S = 1.0             # ... or within this after SIGTERM
CTL_BOUND_S = 4.0        # each rb-ctl run ends within this
SETUP_S = 20.0           # the ring must reach INJECT_AT within this

SANITIZER = re.compile(r"(AddressSanitizer|UndefinedBehaviorSanitizer|"
                       r"LeakSanitizer|ThreadSanitizer|runtime error:)")


# ----------------------------------------------------------- the document
def read_layout(doc_path):
    """Fields of the structures, from the tables of docs/FORMAT.md §3.

    Returns {structure: [(name, rel_offset, size, kind)]}, kind one of
    'u64', 'u32', 'bytes' (char or u8 arrays, padding, reserved)."""
    sections = {"3.1": "header", "3.2": "producer", "3.3": "consumer",
                "3.4": "desc", "3.5": "stream", "3.7": "prodrec",
                "3.8": "group"}
    out = {}
    current = None
    with open(doc_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^### (3\.\d+) ", line)
            if m:
                current = sections.get(m.group(1))
                if current:
                    out[current] = []
                continue
            if line.startswith("## "):
                current = None
            if not current or not line.startswith("| ") or not line[2:3].isdigit():
                continue
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
            if current == "producer":      # Abs | Rel | Size | Type | Field
                cols = cols[1:]
            rel, size, typ, field = cols[0], cols[1], cols[2], cols[3]
            name = field.strip("`")
            rel = int(rel)
            if not size.isdigit():          # the stream header's text area
                size = 64
            size = int(size)
            if typ in ("u64", "i64"):       # i64: layout 4 clock offsets
                out[current].append((name, rel, 8, "u64"))
            elif typ == "u32":
                out[current].append((name, rel, 4, "u32"))
            elif re.match(r"u64\[(\d+)\]", typ):
                for k in range(size // 8):
                    out[current].append(("%s[%d]" % (name, k), rel + 8 * k, 8, "u64"))
            else:                           # char[], u8[], padding "—"
                out[current].append((name, rel, size, "bytes"))
    for s in sections.values():
        if not out.get(s):
            raise SystemExit("hostile.py: no table for %s in %s" % (s, doc_path))
    return out


# Header offsets the driver needs to find the areas (§3.1).
H_SLOT_COUNT = 40
H_MAX_CONSUMERS = 48
H_CONSUMERS_OFFSET = 64
H_DESCRIPTORS_OFFSET = 72
H_STREAM_HEADER_OFFSET = 80
H_STREAM_HEADER_BYTES = 52
H_STREAM_HEADERS = 200                 # layout 4: entries, one per stream
P_STREAM_ORDINAL = 432
H_MAX_PRODUCERS = 168
H_MAX_GROUPS = 172
H_PRODUCERS_OFFSET = 176
H_GROUPS_OFFSET = 184
P_WRITE_SEQ = 256
CONSUMER_BYTES = 256
GROUP_BYTES = 256
C_OWNER = 128
G_OWNER = 128


# -------------------------------------------------------------- the cases
VALUE_CLASSES = ["zero", "one", "ones", "2^62-1", "2^62", "2^63", "cur-1", "cur+1",
                 "cur-lap", "cur+lap", "random"]
HOLD_CLASSES = ["zero", "ones", "cur-1", "cur-lap", "cur+lap"]
HEADER_CLASSES = ["zero", "ones", "cur+1", "random"]
BYTES_CLASSES = ["ones", "random"]
# Owner words and the claim lock also get values that name a live process
# that is no participant (the driver itself), and the lock the index + 1 of
# a live member or a recovering tag naming a live pid (§3.8).
OWNER_CLASSES = ["live-stranger"]
LOCK_CLASSES = ["member+1", "recovering-live"]
# Where a structure with several instances is attacked: the record of the
# named program (consumer records), group 0, producer record 0, every
# descriptor at once, the producer block, the header, the stream header.
TARGETS = {
    "header": ["header"],
    "producer": ["producer"],
    "prodrec": ["prodrec"],
    "consumer": ["lossless", "lossy", "member"],
    "group": ["group"],
    "desc": ["desc"],
    "stream": ["stream"],
}


MP_STRUCTS = ("producer", "prodrec", "desc", "stream")


def all_cases(layout):
    """Every field of every structure, with the value classes that fit it:
    padding, reserved bytes and array elements no ring of this size reads
    get two; the header (immutable, checksummed, copied by attachers) four;
    every other field all of VALUE_CLASSES once, and the most hostile of
    them held (stored again and again for HOLD_S, against an owner that
    keeps rewriting it)."""
    cases = []
    for struct_name, fields in layout.items():
        for target in TARGETS[struct_name]:
            for name, rel, size, kind in fields:
                inert = (kind == "bytes" or name.startswith(("pad", "reserved"))
                         or re.search(r"\[[1-9]\]$", name))
                if inert:
                    plan = [(vc, "once") for vc in BYTES_CLASSES]
                elif struct_name == "header":
                    plan = [(vc, "once") for vc in HEADER_CLASSES]
                else:
                    extra = OWNER_CLASSES if name == "owner" else \
                        LOCK_CLASSES if name == "claim_lock" else []
                    plan = [(vc, "once") for vc in VALUE_CLASSES + extra]
                    plan += [(vc, "hold") for vc in HOLD_CLASSES + extra]
                if struct_name == "desc":     # rewritten on every lap: hold
                    plan = [(vc, "hold") for vc in dict.fromkeys(vc for vc, _ in plan)]
                for vc, mode in plan:
                    cases.append({"target": target, "struct": struct_name,
                                  "field": name, "rel": rel, "size": size,
                                  "kind": "bytes" if inert and kind == "bytes" else kind,
                                  "value": vc, "mode": mode})
    # A ring for two producers (claims by CAS, §5.16-5.18): the structures
    # that change with it, again.
    mp = [dict(c, variant="mp") for c in cases if c["struct"] in MP_STRUCTS]
    cases = [dict(c, variant="sp") for c in cases] + mp
    for c in cases:
        c["id"] = "%s%s.%s:%s:%s" % ("mp:" if c["variant"] == "mp" else "", c["target"],
                                     c["field"], c["value"], c["mode"])
    return cases


def hostile_value(vc, cur, width, lap, rnd, ctx):
    top = (1 << (8 * width)) - 1
    me = os.getpid()
    if vc == "live-stranger":        # the same word, naming a live stranger
        v = (me << 32) | (cur & 0xFFFFFFFF)
    elif vc == "member+1":
        v = ctx["member_b_index"] + 1
    elif vc == "recovering-live":    # RB_LOCK_RECOVERING(pid, h), §3.8
        v = (1 << 63) | (me << 16) | (ctx["member_b_index"] + 1)
    else:
        v = {"zero": 0, "one": 1, "ones": top, "2^62-1": (1 << 62) - 1,
             "2^62": 1 << 62, "2^63": 1 << 63,
             "cur-1": cur - 1, "cur+1": cur + 1, "cur-lap": cur - lap,
             "cur+lap": cur + lap, "random": rnd.getrandbits(64)}[vc]
    return v & top


# ------------------------------------------------------------ the segment
class Segment:
    def __init__(self, name):
        self.fd = os.open("/dev/shm/rb-" + name, os.O_RDWR)
        size = os.fstat(self.fd).st_size
        self.mm = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                            mmap.PROT_READ | mmap.PROT_WRITE)
        self.q = memoryview(self.mm).cast("Q")   # one 8-byte access each
        self.i = memoryview(self.mm).cast("I")

    def u64(self, off):
        return self.q[off // 8]

    def u32(self, off):
        return self.i[off // 4]

    def put(self, off, width, value):
        if width == 8:
            self.q[off // 8] = value
        else:
            self.i[off // 4] = value

    def close(self):
        self.q.release()
        self.i.release()
        self.mm.close()
        os.close(self.fd)


def open_segment(name, deadline):
    """Maps the ring once its header is complete (the name is linked only
    after the header is written, §5.1)."""
    while time.monotonic() < deadline:
        try:
            seg = Segment(name)
            if len(seg.mm) >= 4096 and seg.u64(0) == 0x31465542474E4952:
                return seg
            seg.close()
        except (FileNotFoundError, ValueError, OSError):
            pass
        time.sleep(0.005)
    return None


def locate(seg, case, pids):
    """Absolute offsets of the attacked field (several for descriptors)."""
    s = case["struct"]
    rel = case["rel"]
    if s == "header":
        return [rel]
    if s == "producer":
        return [256 + rel]
    if s == "prodrec":
        return [seg.u64(H_PRODUCERS_OFFSET) + rel]
    if s == "stream":
        # Layout 4 (§3.5): the entry of the newest stream, the one in use.
        stride = (64 + seg.u32(H_STREAM_HEADER_BYTES) + 127) // 128 * 128
        entry = seg.u64(P_STREAM_ORDINAL) % max(seg.u32(H_STREAM_HEADERS), 1)
        return [seg.u64(H_STREAM_HEADER_OFFSET) + stride * entry + rel]
    if s == "desc":
        base = seg.u64(H_DESCRIPTORS_OFFSET)
        return [base + 64 * k + rel for k in range(seg.u32(H_SLOT_COUNT))]
    if s == "group":
        return [seg.u64(H_GROUPS_OFFSET) + rel]
    # A consumer record: the one whose owner names the program's pid.
    k = record_index(seg, pids[case["target"] if case["target"] != "member" else "member_a"])
    if k is None:
        return []
    return [seg.u64(H_CONSUMERS_OFFSET) + CONSUMER_BYTES * k + rel]


def wait_for(cond, deadline):
    """Polls cond() every 2 ms until it holds (True) or deadline (False)."""
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def record_index(seg, pid):
    """The consumer record whose owner word names pid (§3.6.1), or None."""
    base = seg.u64(H_CONSUMERS_OFFSET)
    for k in range(seg.u32(H_MAX_CONSUMERS)):
        if seg.u64(base + CONSUMER_BYTES * k + C_OWNER) >> 32 == pid:
            return k
    return None


def inject(seg, case, offsets, rnd, lap, ctx):
    """Stores the hostile value (computed from each field's current value)
    once, or again and again for HOLD_S seconds."""
    width = case["size"]
    writes = []
    if case["kind"] == "bytes":
        n = min(width, 64)
        blob = {"ones": b"\xff" * n,
                "random": bytes(rnd.getrandbits(8) for _ in range(n))}[case["value"]]
        for off in offsets:
            writes.append((off, blob))
    else:
        rv = rnd.getrandbits(64)
        for off in offsets:
            cur = seg.u64(off) if width == 8 else seg.u32(off)
            r2 = random.Random(rv)
            writes.append((off, hostile_value(case["value"], cur, width, lap, r2, ctx)))

    def store():
        for off, v in writes:
            if isinstance(v, bytes):
                seg.mm[off:off + len(v)] = v
            else:
                seg.put(off, width, v)
    store()
    if case["mode"] == "hold":
        end = time.monotonic() + HOLD_S
        while time.monotonic() < end:
            store()
            time.sleep(0.0002)
    return writes[0][1] if writes else None


# ------------------------------------------------------------ the programs
class Program:
    def __init__(self, role, argv, workdir, env):
        self.role = role
        self.out_path = os.path.join(workdir, role + ".out")
        self.err_path = os.path.join(workdir, role + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(argv, stdout=out, stderr=err, env=env,
                                      stdin=subprocess.DEVNULL)
        self.rc = None
        self.termed = False
        self.killed = False

    def poll(self):
        if self.rc is None:
            self.rc = self.p.poll()
        return self.rc

    def term(self):
        """SIGTERM, if it still runs."""
        if self.poll() is None:
            self.termed = True
            self.p.send_signal(signal.SIGTERM)

    def reap(self, deadline):
        """Waits until deadline after term(); then SIGKILL (a hang)."""
        if self.poll() is not None:
            return
        try:
            self.rc = self.p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.killed = True
            self.p.kill()
            self.rc = self.p.wait()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def summary(self):
        with open(self.out_path, errors="replace") as f:
            for line in f.read().splitlines()[::-1]:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        return json.loads(line)
                    except ValueError:
                        return None
        return None


class Monitors(threading.Thread):
    """rb-ctl info --json and rb-ctl top, again and again, each bounded."""

    def __init__(self, ctl, name, env):
        super().__init__(daemon=True)
        self.argvs = [[ctl, "info", "--json", name],
                      [ctl, "top", "-n", "2", "-i", "50ms", name]]
        self.env = env
        self.stop_flag = threading.Event()
        self.problems = []
        self.runs = 0

    def run(self):
        k = 0
        while not self.stop_flag.is_set():
            argv = self.argvs[k % 2]
            k += 1
            try:
                r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=CTL_BOUND_S,
                                   env=self.env)
            except subprocess.TimeoutExpired:
                self.problems.append("rb-ctl %s: hang (> %.0f s)" % (argv[1], CTL_BOUND_S))
                continue
            self.runs += 1
            err = r.stderr.decode(errors="replace")
            what = "rb-ctl " + argv[1]
            if r.returncode < 0:
                self.problems.append("%s: killed by signal %d: %s" %
                                     (what, -r.returncode, first_line(err)))
            elif SANITIZER.search(err):
                self.problems.append("%s: sanitizer report: %s" %
                                     (what, sanitizer_line(err)))
            elif r.returncode != 0 and not err.strip():
                self.problems.append("%s: exit %d, nothing on stderr" % (what, r.returncode))
            elif r.returncode == 0 and argv[1] == "info":
                try:
                    info = json.loads(r.stdout.decode(errors="replace"))
                except ValueError:
                    self.problems.append("rb-ctl info: exit 0, not JSON")
                    continue
                bad = absurd_numbers(info)
                if bad:
                    self.problems.append("rb-ctl info: absurd value %s" % bad)


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def sanitizer_line(text):
    for line in text.splitlines():
        if SANITIZER.search(line):
            return line.strip()[:200]
    return ""


# Fields of rb-ctl info that are counts of frames: they can never reach 2^62.
COUNT_KEYS = {"frames", "lost", "frames_dropped", "frames_abandoned", "held",
              "frames_departed", "markers", "lag"}


def absurd_numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in COUNT_KEYS and isinstance(v, int) and v >= SEQ_LIMIT:
                return "%s%s=%d" % (path, k, v)
            r = absurd_numbers(v, path + k + ".")
            if r:
                return r
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            r = absurd_numbers(v, "%s%d." % (path, i))
            if r:
                return r
    return None


# ------------------------------------------------------------- one case
def start_consumers(build, name, workdir, env):
    cons = os.path.join(build, "consumer", "rb-consumer")
    common = [cons, "--json", "--wait-ring", "10s"]
    return {
        "lossless": Program("lossless", common + [name, "verify"], workdir, env),
        "lossy": Program("lossy", common + ["--lossy", name, "verify"], workdir, env),
        "member_a": Program("member_a", common + ["--group", "G", name, "verify"],
                            workdir, env),
        "member_b": Program("member_b", common + ["--group", "G", name, "verify"],
                            workdir, env),
    }


def start_producers(build, name, workdir, env, mp):
    prod = os.path.join(build, "producer", "rb-producer")
    progs = {}
    count = str(FRAMES)       # each, with two producers
    more = ["--max-producers", "2"] if mp else []
    progs["producer"] = Program(
        "producer", [prod, "--json", "--frame-size", str(FRAME), "--slots", str(SLOTS),
                     "--consumers", "8", "--max-groups", "2", "--count", count,
                     "--rate", RATE, "--wait-consumers", "4"] + more + [name],
        workdir, env)
    if mp:   # a second producer joins the stream (§5.16-5.18)
        progs["producer_b"] = Program(
            "producer_b", [prod, "--json", "--attach", "--wait-ring", "10s",
                           "--frame-size", str(FRAME), "--count", count, "--rate", RATE,
                           "--wait-consumers", "4", name], workdir, env)
    return progs


def judge(progs, produced):
    """Each program's outcome: (role, verdict, detail); verdict 'ok' or
    a failure kind."""
    res = {}
    for role, pr in progs.items():
        err = pr.stderr()
        rc = pr.rc
        s = pr.summary()
        if pr.killed:
            res[role] = ("hang", "still running %.0f s after SIGTERM" % TERM_S)
            continue
        if rc is not None and rc < 0 and not (pr.termed and rc == -signal.SIGTERM):
            res[role] = ("crash", "killed by signal %d: %s" %
                         (-rc, sanitizer_line(err) or first_line(err)))
            continue
        if SANITIZER.search(err):
            res[role] = ("sanitizer", sanitizer_line(err))
            continue
        if role.startswith("producer") and pr.termed:
            res[role] = ("stall", "still producing %.0f s after the write (%s of %d "
                         "frames), then exit %s: %s" %
                         (BOUND_S, s.get("frames", "?") if s else "?", FRAMES, rc,
                          first_line(err)))
            continue
        if rc != 0 and not (pr.termed and s):
            if rc == 3 and s and (s.get("errors", 0) or s.get("gaps", 0)):
                res[role] = ("ok", "verify found bad frames (exit 3)")
            elif err.strip():
                res[role] = ("ok", "error: " + first_line(err))
            else:
                res[role] = ("silent-error", "exit %s, nothing on stderr" % rc)
            continue
        # Exit 0 (by itself), or still waiting at the bound and stopped by
        # SIGTERM: then it must have had every frame it was owed.
        if s is None:
            res[role] = ("no-summary", "exit 0 without a JSON summary")
            continue
        bad = absurd_numbers(s)
        if bad:
            res[role] = ("absurd", bad)
            continue
        if role.startswith("producer"):
            res[role] = ("ok", "%d frames" % s.get("frames", 0))
            continue
        # Abandoned seqs (several producers, §5.17) are frames of length 0,
        # not frames a producer committed.
        frames, lost = s.get("frames", 0) - s.get("abandoned", 0), s.get("lost", 0)
        if (s.get("errors", 0) or s.get("gaps", 0)) and rc == 3:
            res[role] = ("ok", "verify found bad frames (exit 3)")
            continue
        if s.get("errors", 0) or s.get("gaps", 0):
            res[role] = ("silent-bad", "exit 0 with errors %d, gaps %d" %
                         (s.get("errors", 0), s.get("gaps", 0)))
            continue
        if frames + lost > produced:
            res[role] = ("absurd", "frames %d + lost %d > produced %d" %
                         (frames, lost, produced))
            continue
        how = "waited, ended by SIGTERM" if pr.termed else "end " + str(s.get("end"))
        if s.get("abandoned"):
            how += " (abandoned %d)" % s["abandoned"]
        if role == "lossless" and frames != produced:
            res[role] = ("stall" if pr.termed else "short",
                         "%s with %d of %d frames, lost %d" % (how, frames, produced, lost))
        elif role == "lossy" and frames + lost != produced:
            res[role] = ("stall" if pr.termed else "short",
                         "%s with frames %d + lost %d != %d" % (how, frames, lost, produced))
        else:
            res[role] = ("ok", "%s, frames %d lost %d" % (how, frames, lost))
    # The group: members that ended with exit 0 together got every frame,
    # unless a member left with an error (its held frames are the group's
    # lost then, so only the members' own checks above apply).
    members = [progs["member_a"], progs["member_b"]]
    if all(m.rc == 0 and not m.killed for m in members) and \
            all(res[r][0] == "ok" for r in ("member_a", "member_b")):
        sums = [m.summary() for m in members]
        total = sum(x.get("frames", 0) - x.get("abandoned", 0) + x.get("lost", 0)
                    for x in sums)
        termed = any(m.termed for m in members)
        if total != produced:
            res["group"] = ("stall" if termed else "short",
                            "members ended with frames+lost %d of %d" % (total, produced))
        else:
            res["group"] = ("ok", "frames+lost %d" % total)
    return res


def run_case(case, build, seed, env, keep_dir=False, verbose=False):
    workdir = tempfile.mkdtemp(prefix="rb-hostile.")
    name = "test-hostile-%d-%s" % (os.getpid(), case["n"])
    rnd = random.Random("%d/%s" % (seed, case["id"]))
    mp = case["variant"] == "mp"
    progs = start_producers(build, name, workdir, env, mp)
    seg = None
    mon = None
    setup_problem = None
    written = None
    snapshot = None
    try:
        deadline = time.monotonic() + SETUP_S
        seg = open_segment(name, deadline)
        # Two producers: the consumers start once both are attached, and the
        # write waits until both are members of the stream, so that neither
        # ends the stream before the other joined it.
        if seg is not None and mp and not wait_for(
                lambda: all(seg.u64(seg.u64(H_PRODUCERS_OFFSET) + 128 * j) & 0xFF == 2
                            for j in (0, 1)), deadline):
            setup_problem = "the second producer did not attach"
        progs.update(start_consumers(build, name, workdir, env))
        pids = {r: p.p.pid for r, p in progs.items()}
        if seg is None:
            setup_problem = "the ring never appeared"
        elif setup_problem is None:
            mon = Monitors(os.path.join(build, "tools", "ctl", "rb-ctl"), name, env)
            mon.start()
            while seg.u64(P_WRITE_SEQ) < INJECT_AT:
                if time.monotonic() > deadline or progs["producer"].poll() is not None:
                    setup_problem = "frames did not flow (write_seq %d)" % seg.u64(P_WRITE_SEQ)
                    break
                time.sleep(0.002)
            if mp and setup_problem is None and not wait_for(
                    lambda: all(seg.u32(seg.u64(H_PRODUCERS_OFFSET) + 128 * j + 32) == 1
                                for j in (0, 1)), deadline):
                setup_problem = "the second producer did not join the stream"
        if setup_problem is None:
            offsets = locate(seg, case, pids)
            ctx = {"member_b_index": record_index(seg, pids["member_b"])}
            needs_b = case["value"] in LOCK_CLASSES
            if not offsets or (needs_b and ctx["member_b_index"] is None):
                setup_problem = "no record of %s found" % case["target"]
            else:
                written = inject(seg, case, offsets, rnd, SLOTS, ctx)
        t_end = time.monotonic() + BOUND_S
        while time.monotonic() < t_end and any(p.poll() is None for p in progs.values()):
            time.sleep(0.01)
        if verbose and any(p.poll() is None for p in progs.values()):
            try:      # what the ring looks like while they wait, for FINDINGS.md
                r = subprocess.run([os.path.join(build, "tools", "ctl", "rb-ctl"), "info",
                                    "--json", name], capture_output=True,
                                   timeout=CTL_BOUND_S, env=env)
                snapshot = (r.stdout or r.stderr).decode(errors="replace").strip()
            except subprocess.TimeoutExpired:
                snapshot = "rb-ctl info: hang"
        # Whatever still runs gets SIGTERM at once, all together (so that
        # one program's exit does not unblock another before it is judged).
        for p in progs.values():
            p.term()
        t_term = time.monotonic() + TERM_S
        for p in progs.values():
            p.reap(t_term)
    finally:
        for p in progs.values():
            if p.poll() is None:
                p.p.kill()
                p.p.wait()
        if mon:
            mon.stop_flag.set()
            mon.join(CTL_BOUND_S + 1)
        if seg:
            seg.close()
        try:
            os.unlink("/dev/shm/rb-" + name)
        except FileNotFoundError:
            pass
    produced = 0
    for role in ("producer", "producer_b"):
        if role in progs:
            ps = progs[role].summary()
            share = FRAMES
            produced += ps.get("frames", share) if ps else share
    res = judge(progs, produced)
    problems = []
    if setup_problem:
        problems.append("setup: " + setup_problem)
    for role, (verdict, detail) in res.items():
        if verdict != "ok":
            problems.append("%s: %s: %s" % (role, verdict, detail))
    if mon:
        problems.extend(sorted(set(mon.problems)))
    if not keep_dir:
        for f in os.listdir(workdir):
            os.unlink(os.path.join(workdir, f))
        os.rmdir(workdir)
    shown = written.hex() if isinstance(written, bytes) else \
        ("%#x" % written if written is not None else "-")
    if snapshot:
        res["snapshot"] = ("info", snapshot)
    return problems, res, shown


# ------------------------------------------------------------------ main
def load_expected(path):
    exp = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    pat, finding = line.split()
                    exp[pat] = finding
    return exp


def expected_for(case_id, exp):
    for pat, finding in exp.items():
        if re.fullmatch(pat, case_id):
            return finding
    return None


def short_sample(cases, exp, seed):
    """A fixed sample: per structure (and consumer target) a few cases,
    drawn with a fixed seed from those not expected to fail, plus the
    reproductions of issue 12 when they pass."""
    rnd = random.Random(seed)
    picked = []
    by_target = {}
    for c in cases:
        by_target.setdefault((c["variant"], c["struct"], c["target"]), []).append(c)
    per = {"header": 3, "producer": 10, "prodrec": 4, "consumer": 4,
           "group": 8, "desc": 4, "stream": 3}
    for key in sorted(by_target):
        pool = [c for c in by_target[key] if not expected_for(c["id"], exp)
                and c["kind"] != "bytes" and not c["field"].startswith(("pad", "reserved"))]
        k = per[key[1]] if key[0] == "sp" else 2
        picked += rnd.sample(pool, min(k, len(pool)))
    issue = ["group.claim_lock:member+1:once", "group.claim_lock:recovering-live:once",
             "group.claim_seq:2^62-1:once",
             "producer.write_seq:zero:hold", "member.read_seq:zero:once",
             "lossless.read_seq:zero:once", "lossless.read_seq:zero:hold"]
    for c in cases:
        if c["id"] in issue and c not in picked and not expected_for(c["id"], exp):
            picked.append(c)
    return picked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("RB_BUILD_DIR", "build"))
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--only", action="append", default=[],
                    help="run only cases whose id contains this (regex)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--table", help="write the per-structure result table here")
    ap.add_argument("--verbose", action="store_true",
                    help="print every program's outcome of every case")
    ap.add_argument("--no-expected", action="store_true",
                    help="ignore expected_failures.txt (every failure counts)")
    a = ap.parse_args()

    layout = read_layout(os.path.join(ROOT, "docs", "FORMAT.md"))
    cases = all_cases(layout)
    for n, c in enumerate(cases):
        c["n"] = n
    exp = {} if a.no_expected else load_expected(os.path.join(HERE, "expected_failures.txt"))
    if a.short:
        cases = short_sample(cases, exp, a.seed)
    if a.only:
        cases = [c for c in cases if any(re.search(o, c["id"]) for o in a.only)]
    if a.list:
        for c in cases:
            print(c["id"])
        print("%d cases" % len(cases))
        return 0

    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))

    print("hostile: %d cases, ring of %d x %d B, %d frames at %s, write at "
          "write_seq %d, bound %.0f s (+%.0f s after SIGTERM)" %
          (len(cases), SLOTS, FRAME, len(cases) and FRAMES, RATE, INJECT_AT,
           BOUND_S, TERM_S), flush=True)
    t0 = time.monotonic()
    tally = {}
    fails = xfails = xpasses = 0
    lock = threading.Lock()
    queue = list(cases)

    def worker():
        nonlocal fails, xfails, xpasses
        while True:
            with lock:
                if not queue:
                    return
                c = queue.pop(0)
            problems, res, shown = run_case(c, os.path.abspath(a.build), a.seed, env,
                                          verbose=a.verbose)
            if a.verbose:
                with lock:
                    for role in sorted(res):
                        print("      %s %-9s %-8s %s" % (c["id"], role, *res[role]))
            finding = expected_for(c["id"], exp)
            with lock:
                key = c["struct"] if c["struct"] != "consumer" else "consumer:" + c["target"]
                if c["variant"] == "mp":
                    key = "two producers: " + key
                t = tally.setdefault(key, {"cases": 0, "pass": 0, "fail": 0, "xfail": 0,
                                           "xpass": 0, "kinds": {}})
                t["cases"] += 1
                if problems and finding:
                    xfails += 1
                    t["xfail"] += 1
                    print("XFAIL %s (= %s) [%s] %s" % (c["id"], shown, finding,
                                                       "; ".join(problems)), flush=True)
                elif problems:
                    fails += 1
                    t["fail"] += 1
                    for p in problems:
                        kind = p.split(": ")[1] if p.count(": ") >= 1 else p
                        t["kinds"][kind] = t["kinds"].get(kind, 0) + 1
                    print("FAIL  %s (= %s) %s" % (c["id"], shown, "; ".join(problems)),
                          flush=True)
                elif finding:
                    xpasses += 1
                    t["xpass"] += 1
                    print("XPASS %s (= %s) [%s]" % (c["id"], shown, finding), flush=True)
                else:
                    t["pass"] += 1
                    print("ok    %s (= %s)" % (c["id"], shown), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    print("\n| structure | cases | pass | fail | expected fail (finding) | unexpected pass |")
    print("|---|---|---|---|---|---|")
    for key in sorted(tally):
        t = tally[key]
        print("| %s | %d | %d | %d | %d | %d |" % (key, t["cases"], t["pass"], t["fail"],
                                               t["xfail"], t["xpass"]))
    print("hostile: %d cases in %.0f s: %d passed, %d failed, %d expected failures, "
          "%d unexpected passes" % (len(cases), secs, len(cases) - fails - xfails - xpasses,
                                    fails, xfails, xpasses))
    if a.table:
        with open(a.table, "w") as f:
            json.dump(tally, f, indent=1)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
