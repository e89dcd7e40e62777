#!/bin/bash
# Drives tests/format/reader.py (an independent reader written from
# docs/FORMAT.md alone) against rings made by the C library through
# ring_fixture.
#
#   check_format.sh BUILD_DIR        (or RB_BUILD_DIR=... check_format.sh)
#
# Every wait is bounded (60 s per step).  All rings and background processes
# are removed on exit, pass or fail.  Prints "N passed, N failed".

set -u

BUILD=${1:-${RB_BUILD_DIR:-}}
if [ -z "$BUILD" ]; then
	echo "usage: $0 BUILD_DIR (or set RB_BUILD_DIR)" >&2
	exit 2
fi
FIX=$BUILD/tests/format/ring_fixture
HERE=$(cd "$(dirname "$0")" && pwd)
READER=$HERE/reader.py
PY=/usr/bin/python3
STEP_TIMEOUT=60

if [ ! -x "$FIX" ]; then
	echo "check_format.sh: $FIX not found or not executable" >&2
	exit 2
fi
if [ ! -x "$PY" ]; then
	echo "check_format.sh: $PY not found" >&2
	exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/check_format.XXXXXX")
PREFIX="fmt$$"
RINGS=""
BGPIDS=""
PASSED=0
FAILED=0

cleanup() {
	local p i
	for p in $BGPIDS; do
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	for p in $BGPIDS; do
		for i in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for r in $RINGS; do
		"$FIX" remove "$r" >/dev/null 2>&1
		rm -f "/dev/shm/rb-$r"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
check() {	# check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

ring() { echo "$PREFIX-$1"; }
track_ring() { RINGS="$RINGS $1"; }
create() {	# create NAME FRAME_BYTES SLOTS [INITIAL_SEQ]
	track_ring "$1"
	timeout $STEP_TIMEOUT "$FIX" create "$@"
}

# bg_reader OUTBASE ARGS... : starts reader.py read in the background;
# sets BGPID.  stdout -> OUTBASE.json, stderr -> OUTBASE.err
bg_reader() {
	local out=$1
	shift
	"$PY" "$READER" read "$@" >"$out.json" 2>"$out.err" 9>&- &
	BGPID=$!
	BGPIDS="$BGPIDS $BGPID"
}

# bg_reader_sub OUTBASE ARGS... : the same, but inside a subshell, so that
# SIGKILLing the reader (whose pid is in the --ready file) does not make
# bash print a "Killed" job notice.  Sets BGPID to the subshell.
bg_reader_sub() {
	local out=$1
	shift
	( "$PY" "$READER" read "$@" >"$out.json" 2>"$out.err" 9>&-; : ) 2>/dev/null &
	BGPID=$!
	BGPIDS="$BGPIDS $BGPID"
}
ready_pid() { sed -n 's/^attached \([0-9]*\).*/\1/p' "$1"; }

# wait_ready FILE PID : polls (bounded) until the reader wrote "attached".
wait_ready() {
	local file=$1 pid=$2 end=$((SECONDS + STEP_TIMEOUT))
	while [ $SECONDS -lt $end ]; do
		if grep -q '^attached' "$file" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "  reader $pid exited before attaching" >&2
			return 1
		fi
		sleep 0.02
	done
	echo "  reader $pid did not attach within ${STEP_TIMEOUT}s" >&2
	return 1
}

# wait_pid PID : bounded wait for a background process; sets RC.
wait_pid() {
	local pid=$1 end=$((SECONDS + STEP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
		sleep 0.02
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "  process $pid still running after ${STEP_TIMEOUT}s; killing" >&2
		kill -TERM "$pid" 2>/dev/null
		sleep 1
		kill -KILL "$pid" 2>/dev/null
	fi
	{ wait "$pid"; } 2>/dev/null
	RC=$?
	local p rest=""
	for p in $BGPIDS; do
		[ "$p" = "$pid" ] || rest="$rest $p"
	done
	BGPIDS=$rest
	return 0
}

# jcheck FILE PYTHON_EXPR : evaluates EXPR with d = the JSON object on the
# last line of FILE.
jcheck() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
    d = json.loads(lines[-1])
except Exception as e:
    print("  cannot parse %s: %s" % (sys.argv[1], e), file=sys.stderr)
    sys.exit(1)
ok = eval(sys.argv[2], {"d": d})
if not ok:
    print("  expected: %s" % sys.argv[2], file=sys.stderr)
    print("  got: %s" % json.dumps(d), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

show() {	# show BASE : prints reader output for the log
	echo "  reader: $(tail -n 1 "$1.json" 2>/dev/null)"
	if [ -s "$1.err" ]; then
		sed 's/^/  stderr: /' "$1.err" | head -n 12
	fi
}

status() { timeout $STEP_TIMEOUT "$PY" "$READER" status "$1"; }
audit() {
	local out
	out=$(timeout $STEP_TIMEOUT "$PY" "$READER" audit "$1")
	local rc=$?
	[ $rc = 0 ] || echo "$out" | sed 's/^/  audit: /'
	[ $rc = 0 ]
}

produce() { timeout $STEP_TIMEOUT "$FIX" produce "$@" 9>&-; }

# ----------------------------------------------------------------------------
echo "== (a) lossless reader, 20000 frames, seqs crossing 2^32"
A=$(ring a)
INIT=4294967290
if create "$A" 256 64 $INIT; then
	bg_reader "$TMP/a" "$A" --count 20000 --lossless --pattern counter \
		--expect-len 256 --timeout $STEP_TIMEOUT --ready "$TMP/a.ready"
	RPID=$BGPID
	if wait_ready "$TMP/a.ready" $RPID; then
		pass "(a) lossless reader registered"
		check "(a) record $RPID ACTIVE and lossless before produce" \
			jcheck <(status "$A") \
			"any(c['pid'] == $RPID and c['state'] == 2 and c['mode'] == 0 for c in d['consumers'])"
		check "(a) produce 20000 frames (producer exit 0)" \
			produce "$A" 20000 256
		wait_pid $RPID
		show "$TMP/a"
		check "(a) reader exit 0" [ "$RC" = 0 ]
		check "(a) 20000 frames, lost 0, bad 0, eos, header, seq range" \
			jcheck "$TMP/a.json" \
			"d['frames'] == 20000 and d['lost'] == 0 and d['bad'] == 0 and d['eos'] is True and d['header'] == 'source=fixture\ncount=20000\n' and d['first_seq'] == $INIT and d['last_seq'] == $INIT + 19999 and d['next'] == $INIT + 20001"
		check "(a) record freed after detach, producer FREE, ENDED" \
			jcheck <(status "$A") \
			"all(c['state'] == 0 for c in d['consumers']) and all(p['state'] == 0 for p in d['producers']) and d['stream_state'] == 2 and d['eos_seq'] == $INIT + 20001 and d['write_seq'] == $INIT + 20001 and d['sleep_mask'] == [0, 0, 0, 0]"
		check "(a) audit: padding zero, invariants 3 and 6 (§7)" audit "$A"
	else
		fail "(a) lossless reader registered"
		show "$TMP/a"
	fi
else
	fail "(a) create ring"
fi

# ----------------------------------------------------------------------------
echo "== (a2) two lossless readers at once (futex + polling), odd frame length"
A2=$(ring a2)
if create "$A2" 1000 8 77; then
	bg_reader "$TMP/a2f" "$A2" --count 20000 --lossless --futex \
		--pattern counter --expect-len 203 --timeout $STEP_TIMEOUT \
		--ready "$TMP/a2f.ready" --label futex
	P1=$BGPID
	# The polling reader also takes frames by descriptor (§5.6 step 1').
	bg_reader "$TMP/a2p" "$A2" --count 20000 --lossless --by-descriptor \
		--pattern counter --expect-len 203 --timeout $STEP_TIMEOUT \
		--ready "$TMP/a2p.ready" --label poll
	P2=$BGPID
	if wait_ready "$TMP/a2f.ready" $P1 && wait_ready "$TMP/a2p.ready" $P2; then
		check "(a2) produce 20000 frames of 203 bytes" \
			produce "$A2" 20000 203
		wait_pid $P1; RC1=$RC
		wait_pid $P2; RC2=$RC
		show "$TMP/a2f"
		show "$TMP/a2p"
		for x in f p; do
			if [ $x = f ]; then rc=$RC1; else rc=$RC2; fi
			check "(a2/$x) reader exit 0" [ "$rc" = 0 ]
			check "(a2/$x) 20000 frames, bad 0, eos" jcheck "$TMP/a2$x.json" \
				"d['frames'] == 20000 and d['lost'] == 0 and d['bad'] == 0 and d['eos'] is True and d['first_seq'] == 77 and d['last_seq'] == 77 + 19999 and d['header'] == 'source=fixture\ncount=20000\n'"
		done
		check "(a2) producer rang the futex reader's doorbell" \
			jcheck <(status "$A2") \
			"any(c['label'] == 'futex' and c['doorbell'] & 0x7FFFFFFF > 0 for c in d['consumers'])"
		check "(a2) audit: padding zero (incl. slot padding), invariants" audit "$A2"
	else
		fail "(a2) readers registered"
		show "$TMP/a2f"
		show "$TMP/a2p"
	fi
else
	fail "(a2) create ring"
fi

# ----------------------------------------------------------------------------
# Lossy accounting (§5.7, §6): every seq from the reader's start up to its
# final `next` is either delivered (frames), counted lost, or the consumed
# end-of-stream marker.
LOSSY_OK="d['bad'] == 0 and d['eos'] is True and d['frames'] + d['lost'] + d['marker'] == d['next'] - d['start']"

echo "== (b) lossy unregistered reader, fast producer, 8 slots, 50000 frames"
B=$(ring b)
BINIT=1000
if create "$B" 256 8 $BINIT; then
	bg_reader "$TMP/b" "$B" --count 50000 --pattern counter \
		--expect-len 256 --timeout $STEP_TIMEOUT --ready "$TMP/b.ready"
	RPID=$BGPID
	if wait_ready "$TMP/b.ready" $RPID; then
		check "(b) produce 50000 frames" produce "$B" 50000 256
		wait_pid $RPID
		show "$TMP/b"
		check "(b) reader exit 0" [ "$RC" = 0 ]
		check "(b) frames + lost + marker == seqs passed, bad 0, eos" \
			jcheck "$TMP/b.json" \
			"$LOSSY_OK and d['start'] == $BINIT and d['next'] == $BINIT + 50001 and d['header'] == 'source=fixture\ncount=50000\n'"
		check "(b) the reader wrote nothing (no record, no producer trace)" \
			jcheck <(status "$B") "d['consumers'] == []"
		check "(b) audit" audit "$B"
	else
		fail "(b) lossy reader attached"
	fi
else
	fail "(b) create ring"
fi

echo "== (b2) lossy reader, rate-limited producer (3000 frames at 3 kHz)"
B2=$(ring b2)
if create "$B2" 512 8; then
	bg_reader "$TMP/b2" "$B2" --count 3000 --pattern counter \
		--expect-len 300 --timeout $STEP_TIMEOUT --ready "$TMP/b2.ready"
	RPID=$BGPID
	if wait_ready "$TMP/b2.ready" $RPID; then
		check "(b2) produce 3000 frames at 3000 Hz" produce "$B2" 3000 300 3000
		wait_pid $RPID
		show "$TMP/b2"
		check "(b2) reader exit 0" [ "$RC" = 0 ]
		check "(b2) accounting consistent, frames delivered, bad 0" \
			jcheck "$TMP/b2.json" \
			"$LOSSY_OK and d['start'] == 0 and d['next'] == 3001 and d['frames'] > 0"
	else
		fail "(b2) lossy reader attached"
	fi
else
	fail "(b2) create ring"
fi

# ----------------------------------------------------------------------------
echo "== (c) validation: good ring, corrupted bytes, forged headers"
C=$(ring c)
# validate_expect NAME STEP : reader must refuse with exit 2 at §4.1 STEP
validate_expect() {
	local out rc
	out=$(timeout $STEP_TIMEOUT "$PY" "$READER" validate "$1")
	rc=$?
	echo "  reader: $out"
	[ $rc = 2 ] && [[ "$out" == "FAIL step $2:"* ]]
}
validate_ok() {
	local out rc
	out=$(timeout $STEP_TIMEOUT "$PY" "$READER" validate "$1")
	rc=$?
	[ $rc = 0 ] && [ "$(echo "$out" | head -n 1)" = ok ] || {
		echo "  reader: $out"
		return 1
	}
	echo "$out" | tail -n 1 >"$TMP/geom.json"
}
# c_refuses NAME : the C library must refuse to open the ring as well
c_refuses() {
	local err
	err=$(timeout $STEP_TIMEOUT "$FIX" produce "$1" 0 1 2>&1 >/dev/null)
	local rc=$?
	echo "  C library: rc=$rc ${err:-(no message)}"
	[ $rc != 0 ] && [[ "$err" == *open* ]]
}
c_accepts() {
	local err
	err=$(timeout $STEP_TIMEOUT "$FIX" produce "$1" 0 1 2>&1 >/dev/null)
	local rc=$?
	[ $rc = 0 ] || echo "  C library: rc=$rc $err"
	[ $rc = 0 ]
}
byte_at() { od -An -tu1 -j "$2" -N1 "/dev/shm/rb-$1" | tr -d ' \n'; }

if create "$C" 256 64 $INIT; then
	check "(c) validate good ring -> ok" validate_ok "$C"
	# §2.1 with the library defaults of §3.1 (max_consumers 64,
	# stream_header_bytes 16384, slot_align 64, max_producers 1,
	# max_groups 8), pages 0.
	check "(c) geometry as computed from §2.1" jcheck "$TMP/geom.json" \
		"d['frame_bytes'] == 256 and d['slot_count'] == 64 and d['slot_stride'] == 256 and d['initial_seq'] == $INIT and d['max_producers'] == 1 and d['max_groups'] == 8 and d['producers_offset'] == 768 and d['consumers_offset'] == 896 and d['groups_offset'] == 17280 and d['segment_bytes'] == 172032 and d['slots_offset'] == 155648 and d['descriptors_offset'] == 151424 and d['stream_header_offset'] == 19328 and d['stream_headers'] == 8"
	# corrupt_case OFFSET STEP WHAT
	corrupt_case() {
		local off=$1 step=$2 what=$3 orig
		orig=$(byte_at "$C" "$off")
		if ! timeout $STEP_TIMEOUT "$FIX" corrupt "$C" "$off" $((orig ^ 0xFF)); then
			fail "(c) corrupt $what"
			return
		fi
		check "(c) $what (byte $off) -> refused at step $step, exit 2" \
			validate_expect "$C" "$step"
		check "(c) $what (byte $off) -> C library refuses too" c_refuses "$C"
		timeout $STEP_TIMEOUT "$FIX" corrupt "$C" "$off" "$orig"
		check "(c) $what restored -> ok" validate_ok "$C"
	}
	corrupt_case 0 5 "magic"
	corrupt_case 7 5 "magic (last byte)"
	corrupt_case 8 6 "layout_version"
	corrupt_case 40 7 "slot_count"
	corrupt_case 200 7 "reserved byte (checksummed region)"
	corrupt_case 248 7 "checksum"

	# Size mismatch (§4.1 step 13): copies of the segment, resized.
	for how in shrink grow; do
		T=$(ring "c-$how")
		track_ring "$T"
		cp "/dev/shm/rb-$C" "/dev/shm/rb-$T"
		if [ $how = shrink ]; then
			truncate -s -4096 "/dev/shm/rb-$T"
		else
			truncate -s +4096 "/dev/shm/rb-$T"
		fi
		check "(c) file $how -> refused at step 13" validate_expect "$T" 13
		check "(c) file $how -> C library refuses too" c_refuses "$T"
	done
	T=$(ring "c-short")
	track_ring "$T"
	head -c 100 "/dev/shm/rb-$C" >"/dev/shm/rb-$T"
	check "(c) 100-byte file with magic -> refused at step 4" validate_expect "$T" 4

	check "(c) missing ring -> refused at step 2" validate_expect "$(ring nosuch)" 2
	check "(c) name starting with '.' -> refused at step 1" validate_expect ".tmp-x" 1
	check "(c) name with '/' -> refused at step 1" validate_expect "a/b" 1

	# Forged headers with a recomputed checksum (§4.2), to reach the
	# checks after step 7.  forge NEWNAME OFF:FMT:VALUE ...
	forge() {
		local new=$1
		shift
		track_ring "$new"
		cp "/dev/shm/rb-$C" "/dev/shm/rb-$new"
		"$PY" - "/dev/shm/rb-$new" "$@" <<'EOF'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    h = bytearray(f.read(256))
    for spec in sys.argv[2:]:
        off, fmt, val = spec.split(":")
        struct.pack_into("<" + fmt, h, int(off), int(val, 0))
    c = 0xcbf29ce484222325
    for b in h[:248]:
        c = ((c ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    struct.pack_into("<Q", h, 248, c)
    f.seek(0)
    f.write(h)
EOF
	}
	# forged_case STEP WHAT SPECS... (STEP 0 = must be accepted)
	forged_case() {
		local step=$1 what=$2 name
		shift 2
		FORGED=$((FORGED + 1))
		name=$(ring "f$FORGED")
		forge "$name" "$@"
		if [ "$step" = 0 ]; then
			check "(c) forged $what -> accepted" validate_ok "$name"
			check "(c) forged $what -> C library accepts too" c_accepts "$name"
		else
			check "(c) forged $what -> refused at step $step" \
				validate_expect "$name" "$step"
			check "(c) forged $what -> C library refuses too" c_refuses "$name"
		fi
	}
	FORGED=0
	forged_case 6 "layout_version 1" 8:I:1
	forged_case 6 "layout_version 2" 8:I:2
	forged_case 6 "layout_version 3" 8:I:3
	forged_case 6 "layout_version 5" 8:I:5
	forged_case 8 "header_bytes 512" 12:I:512
	forged_case 8 "descriptor_bytes 32" 164:I:32
	forged_case 8 "producers_offset 1024" 176:Q:1024
	forged_case 8 "producer_record_bytes 64" 192:I:64
	forged_case 8 "group_bytes 128" 196:I:128
	forged_case 9 "max_producers 0" 168:I:0
	forged_case 9 "max_producers 65" 168:I:65
	forged_case 9 "max_groups 65" 172:I:65
	forged_case 12 "consumers_offset 768 (the layout 1 value)" 64:Q:768
	forged_case 12 "groups_offset 17408" 184:Q:17408
	forged_case 12 "max_producers 2 (offsets no longer match)" 168:I:2
	forged_case 12 "max_groups 0 (offsets no longer match)" 172:I:0
	forged_case 9 "frame_bytes 0" 24:Q:0
	forged_case 9 "slot_count 48 (not a power of two)" 40:I:48
	forged_case 9 "slot_count 2^31" 40:I:0x80000000
	forged_case 9 "slot_align 32" 44:I:32
	forged_case 9 "max_consumers 0" 48:I:0
	forged_case 9 "max_consumers 257" 48:I:257
	forged_case 9 "stream_header_bytes 4095" 52:I:4095
	forged_case 9 "initial_seq 2^62" 136:Q:0x4000000000000000
	forged_case 9 "pages 2" 156:I:2
	forged_case 9 "stream_headers 0" 200:I:0
	forged_case 9 "stream_headers 257" 200:I:257
	forged_case 12 "stream_headers 9 (offsets no longer match)" 200:I:9
	forged_case 10 "reserved1 byte 204" 204:B:1
	forged_case 10 "reserved byte 208" 208:B:1
	forged_case 10 "reserved byte 247" 247:B:1
	forged_case 11 "frame_bytes 2^64-1 (overflow)" 24:Q:0xFFFFFFFFFFFFFFFF
	forged_case 12 "slot_count 128 (offsets no longer match)" 40:I:128
	forged_case 12 "slot_stride 512" 32:Q:512
	forged_case 12 "pages 1 (segment_bytes must be 2 MiB)" 156:I:1
	forged_case 14 "elem_type 13" 96:I:13
	forged_case 14 "elem_type u8 with ndim 0" 96:I:1
	forged_case 14 "u16 x 129 (258 bytes > frame_bytes)" 96:I:2 100:I:1 104:Q:129
	forged_case 14 "untyped with dims[3] set" 128:Q:1
	forged_case 0 "u64 x 32 (exactly frame_bytes)" 96:I:4 100:I:1 104:Q:32
	forged_case 0 "c64 2x4x2x2 (256 bytes)" 96:I:11 100:I:4 104:Q:2 112:Q:4 120:Q:2 128:Q:2
	# Layout 2 offsets recomputed by §2.1: every area after the producer
	# records moves by 128 (or the group area shrinks by 2048), and
	# slots_offset / segment_bytes stay, so both rings are valid.
	forged_case 0 "max_producers 2, offsets by §2.1" 168:I:2 64:Q:1024 \
		184:Q:17408 80:Q:19456 72:Q:151552
	forged_case 0 "max_groups 0, offsets by §2.1" 172:I:0 80:Q:17280 \
		72:Q:149376
else
	fail "(c) create ring"
fi

# ----------------------------------------------------------------------------
echo "== (d) liveness interop: stopped reader holds the producer, dead one is evicted"
D=$(ring d)
if create "$D" 256 8; then
	bg_reader "$TMP/d" "$D" --count 200 --lossless --pattern counter \
		--timeout $STEP_TIMEOUT --ready "$TMP/d.ready" --label stopped
	RPID=$BGPID
	if wait_ready "$TMP/d.ready" $RPID; then
		kill -STOP $RPID
		timeout $STEP_TIMEOUT "$FIX" produce "$D" 200 256 &
		PPID_=$!
		BGPIDS="$BGPIDS $PPID_"
		# Bounded poll until the producer fills the ring and waits for us.
		end=$((SECONDS + STEP_TIMEOUT))
		full=no
		while [ $SECONDS -lt $end ] && kill -0 $PPID_ 2>/dev/null; do
			if jcheck <(status "$D") "d['write_seq'] == 8 and d['wait_target'] != 0" 2>/dev/null; then
				full=yes
				break
			fi
			sleep 0.05
		done
		check "(d) producer blocked by the stopped lossless reader" [ $full = yes ]
		# The one time-based observation: the producer re-checks liveness
		# every 100 ms (§5.11 step 7), so 1 s is 10 chances to (wrongly)
		# evict us.  Our start_time (§5.14) must match the C library's.
		still=yes
		for i in $(seq 10); do
			sleep 0.1
			jcheck <(status "$D") "any(c['pid'] == $RPID and c['state'] == 2 for c in d['consumers']) and d['write_seq'] == 8" 2>/dev/null || still=no
		done
		check "(d) stopped (alive) reader not evicted: start_time agrees with C" [ $still = yes ]
		kill -CONT $RPID
		wait_pid $PPID_
		check "(d) producer finished after SIGCONT" [ "$RC" = 0 ]
		wait_pid $RPID
		show "$TMP/d"
		check "(d) resumed reader got all 200 frames" jcheck "$TMP/d.json" \
			"d['frames'] == 200 and d['bad'] == 0 and d['eos'] is True and d['lost'] == 0"
	else
		fail "(d) reader registered"
	fi
else
	fail "(d) create ring"
fi

D2=$(ring d2)
if create "$D2" 256 8; then
	bg_reader_sub "$TMP/d2" "$D2" --count 500 --lossless \
		--timeout $STEP_TIMEOUT --ready "$TMP/d2.ready" --label killed
	RPID=$BGPID
	if wait_ready "$TMP/d2.ready" $RPID; then
		SUB=$RPID
		RPID=$(ready_pid "$TMP/d2.ready")
		kill -KILL $RPID
		wait_pid $SUB
		# A second reader must evict the dead record on attach (§5.5 step 1)
		# and may then reuse it (generation + 1, §3.6.1).
		bg_reader "$TMP/d3" "$D2" --count 500 --lossless --pattern counter \
			--timeout $STEP_TIMEOUT --ready "$TMP/d3.ready" --label second
		R2=$BGPID
		if wait_ready "$TMP/d3.ready" $R2; then
			check "(d) dead record evicted by the new reader" \
				jcheck <(status "$D2") \
				"not any(c['pid'] == $RPID for c in d['consumers']) and any(c['pid'] == $R2 and c['state'] == 2 and c['gen'] == 1 for c in d['consumers'])"
			check "(d) producer runs with the second reader" produce "$D2" 500 256
			wait_pid $R2
			show "$TMP/d3"
			check "(d) second reader got all 500 frames" jcheck "$TMP/d3.json" \
				"d['frames'] == 500 and d['bad'] == 0 and d['eos'] is True"
		else
			fail "(d) second reader registered"
		fi
	else
		fail "(d) killed reader registered"
	fi
else
	fail "(d) create ring"
fi

D4=$(ring d4)
if create "$D4" 256 8; then
	bg_reader_sub "$TMP/d4" "$D4" --count 500 --lossless --no-evict \
		--timeout $STEP_TIMEOUT --ready "$TMP/d4.ready" --label killed
	RPID=$BGPID
	if wait_ready "$TMP/d4.ready" $RPID; then
		SUB=$RPID
		RPID=$(ready_pid "$TMP/d4.ready")
		kill -KILL $RPID
		wait_pid $SUB
		check "(d) C producer evicts a killed lossless reader and finishes" \
			produce "$D4" 500 256
		check "(d) record FREE with generation 1 after the C eviction" \
			jcheck <(status "$D4") \
			"len(d['consumers']) == 1 and d['consumers'][0]['state'] == 0 and d['consumers'][0]['gen'] == 1 and d['consumers'][0]['pid'] == 0"
	else
		fail "(d) reader registered"
	fi
else
	fail "(d) create ring"
fi

# ----------------------------------------------------------------------------
# Lossless readers joining a producer that is already running: this is the
# only path on which the §5.4 join handshake matters (in (a) the reader
# registers before the producer starts).  RB_FORMAT_JOIN=doc (default)
# follows FORMAT.md exactly; RB_FORMAT_JOIN=safe adds the reader's
# workaround for the race described in README.md.
JOIN=${RB_FORMAT_JOIN:-doc}
JOINS=${RB_FORMAT_JOINS:-20}
echo "== (e) $JOINS lossless readers joining a running producer (--join $JOIN)"
E=$(ring e)
if create "$E" 256 8; then
	timeout $STEP_TIMEOUT "$FIX" produce "$E" 1000000000000 256 \
		>/dev/null 2>"$TMP/e.producer.err" &
	EP=$!
	BGPIDS="$BGPIDS $EP"
	end=$((SECONDS + STEP_TIMEOUT))
	open=no
	while [ $SECONDS -lt $end ] && kill -0 $EP 2>/dev/null; do
		if jcheck <(status "$E") "d['stream_state'] == 1" 2>/dev/null; then
			open=yes
			break
		fi
		sleep 0.02
	done
	check "(e) producer running" [ $open = yes ]
	jfail=0
	jfast=0
	jfirst=""
	for k in $(seq "$JOINS"); do
		if [ $((k % 2)) = 0 ]; then st=oldest; else st=next; fi
		# Every other join is "preempted" for 2 ms between §5.5 steps 4
		# and 6 and between 6 and 7 (--attach-pause), which makes the
		# race deterministic; the others run at full speed.
		if [ $(((k + 1) / 2 % 2)) = 0 ]; then pause=2; else pause=0; fi
		timeout $STEP_TIMEOUT "$PY" "$READER" read "$E" --count 2000 \
			--lossless --pattern counter --start $st --eos-wait 0 \
			--timeout $STEP_TIMEOUT --join "$JOIN" --attach-pause $pause \
			>"$TMP/e.json" 2>"$TMP/e.err"
		rc=$?
		if [ $rc != 0 ] || ! jcheck "$TMP/e.json" \
			"d['frames'] == 2000 and d['bad'] == 0 and d['lost'] == 0 and d['last_seq'] - d['first_seq'] == 1999" 2>/dev/null
		then
			jfail=$((jfail + 1))
			if [ $pause = 0 ]; then jfast=$((jfast + 1)); fi
			if [ -z "$jfirst" ]; then
				jfirst="join $k (--start $st, pause $pause ms): $(tail -n 1 "$TMP/e.json")"
			fi
		fi
	done
	[ -n "$jfirst" ] && echo "  first failure: $jfirst"
	if [ "$JOIN" = doc ] && [ $jfail != 0 ]; then
		echo "  (a lossless consumer that follows §5.4/§5.5 exactly found"
		echo "   frames overwritten after joining: see the join race in"
		echo "   tests/format/README.md)"
	fi
	check "(e) $((JOINS - jfail))/$JOINS joins read 2000 consecutive intact frames ($jfast failures among the unpaused joins)" \
		[ $jfail = 0 ]
	kill -TERM $EP 2>/dev/null
	wait_pid $EP
else
	fail "(e) create ring"
fi

# ----------------------------------------------------------------------------
# Layout 2: several producers (§5.16-§5.18) and consumer groups (§5.19,
# §5.20).

# wait_line FILE REGEX PID : polls (bounded) until FILE has a line matching
# REGEX, or PID exits.
wait_line() {
	local file=$1 re=$2 pid=$3 end=$((SECONDS + STEP_TIMEOUT))
	while [ $SECONDS -lt $end ]; do
		if grep -q "$re" "$file" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -q "$re" "$file" 2>/dev/null && return 0
			echo "  process $pid exited before writing /$re/ to $file" >&2
			return 1
		fi
		sleep 0.02
	done
	echo "  no /$re/ in $file within ${STEP_TIMEOUT}s" >&2
	return 1
}
# wait_status NAME PYTHON_EXPR : polls (bounded) until the status matches.
wait_status() {
	local end=$((SECONDS + STEP_TIMEOUT))
	while [ $SECONDS -lt $end ]; do
		if jcheck <(status "$1") "$2" 2>/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	echo "  status never matched: $2" >&2
	status "$1" | sed 's/^/  status: /' >&2
	return 1
}
# The accounting identity of §5.19 for every group in a status (members
# that hold nothing: claimed = frames + lost).
GROUP_IDENTITY="all(g['claim_seq'] - g['start_seq'] == sum(c['claimed'] for c in d['consumers'] if c['state'] == 2 and c['group'] == g['g'] + 1) + g['lost'] + g['frames_departed'] + g['markers'] for g in d['groups'])"

echo "== (f) three producers in one stream (several-producer ring), lossless + lossy readers"
F=$(ring mp)
FINIT=4294967000
if create "$F" 256 16 $FINIT 4; then
	bg_reader "$TMP/f" "$F" --count 6000 --lossless --pattern counter \
		--expect-len 256 --timeout $STEP_TIMEOUT --ready "$TMP/f.ready"
	P1=$BGPID
	bg_reader "$TMP/fl" "$F" --count 6000 --pattern counter \
		--expect-len 256 --timeout $STEP_TIMEOUT --ready "$TMP/fl.ready"
	P2=$BGPID
	if wait_ready "$TMP/f.ready" $P1 && wait_ready "$TMP/fl.ready" $P2; then
		check "(f) produce-multi: 3 producers x 2000 frames" \
			timeout $STEP_TIMEOUT "$FIX" produce-multi "$F" 3 2000 256
		wait_pid $P1
		show "$TMP/f"
		check "(f) lossless reader: 6000 frames in seq order, one marker, header" \
			jcheck "$TMP/f.json" \
			"d['frames'] == 6000 and d['lost'] == 0 and d['bad'] == 0 and d['abandoned'] == 0 and d['eos'] is True and d['marker'] == 1 and d['first_seq'] == $FINIT and d['last_seq'] == $FINIT + 5999 and d['next'] == $FINIT + 6001 and d['header'] == 'source=fixture\ncount=6000\n' and d['error'] is None"
		wait_pid $P2
		show "$TMP/fl"
		check "(f) lossy reader: accounting consistent" jcheck "$TMP/fl.json" \
			"$LOSSY_OK and d['start'] == $FINIT and d['next'] == $FINIT + 6001"
		check "(f) status: claim_seq == write_seq == eos_seq, no abandoned seq, producers FREE, no member" \
			jcheck <(status "$F") \
			"d['max_producers'] == 4 and d['write_seq'] == $FINIT + 6001 and d['claim_seq'] == d['write_seq'] and d['eos_seq'] == d['write_seq'] and d['eos_marker'] == 1 and d['stream_state'] == 2 and d['frames_abandoned'] == 0 and d['stream_members'] == 0 and all(p['state'] == 0 and p['gen'] >= 1 for p in d['producers']) and len(d['producers']) == 3 and d['claim_limit'] >= d['write_seq']"
		check "(f) audit (several producers)" audit "$F"
	else
		fail "(f) readers attached"
	fi
else
	fail "(f) create ring"
fi

echo "== (f2) lossless readers joining two running producers (§5.4 with the atomic maximum)"
F2=$(ring mpjoin)
if create "$F2" 256 8 0 4; then
	timeout $STEP_TIMEOUT "$FIX" produce-multi "$F2" 2 1000000000000 256 \
		>/dev/null 2>"$TMP/f2.producer.err" 9>&- &
	F2P=$!
	BGPIDS="$BGPIDS $F2P"
	check "(f2) producers running" wait_status "$F2" \
		"d['stream_state'] == 1 and d['stream_members'] == 2 and d['write_seq'] > 100"
	jfail=0
	jfirst=""
	for k in 1 2 3 4 5 6 7 8; do
		if [ $((k % 2)) = 0 ]; then st=oldest; else st=next; fi
		if [ $(((k + 1) / 2 % 2)) = 0 ]; then pause=2; else pause=0; fi
		timeout $STEP_TIMEOUT "$PY" "$READER" read "$F2" --count 1000 \
			--lossless --pattern counter --start $st --eos-wait 0 \
			--timeout $STEP_TIMEOUT --attach-pause $pause \
			>"$TMP/f2.json" 2>"$TMP/f2.err" 9>&-
		rc=$?
		if [ $rc != 0 ] || ! jcheck "$TMP/f2.json" \
			"d['frames'] == 1000 and d['bad'] == 0 and d['lost'] == 0 and d['last_seq'] - d['first_seq'] == 999" 2>/dev/null
		then
			jfail=$((jfail + 1))
			[ -z "$jfirst" ] && jfirst="join $k (--start $st, pause $pause ms): $(tail -n 1 "$TMP/f2.json")"
		fi
	done
	[ -n "$jfirst" ] && echo "  first failure: $jfirst"
	check "(f2) $((8 - jfail))/8 joins read 1000 consecutive intact frames" [ $jfail = 0 ]
	kill -TERM $F2P 2>/dev/null
	wait_pid $F2P
	# The children die with their parent (SIGTERM, no detach): evicting
	# both members abandons the stream (§5.18).
	for p in $(status "$F2" | "$PY" -c 'import json,sys; print(" ".join(str(p["pid"]) for p in json.load(sys.stdin)["producers"] if p["state"] == 2))'); do
		end=$((SECONDS + STEP_TIMEOUT))
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do
			sleep 0.02
		done
	done
	check "(f2) C rb_ring_evict_dead evicts the killed producers" \
		timeout $STEP_TIMEOUT "$FIX" evict "$F2"
	check "(f2) stream ABANDONED, producers FREE, claim_seq == write_seq" \
		jcheck <(status "$F2") \
		"d['stream_state'] == 3 and d['stream_members'] == 0 and all(p['state'] == 0 for p in d['producers']) and d['claim_seq'] == d['write_seq']"
else
	fail "(f2) create ring"
fi

echo "== (g) a producer killed holding a claimed seq: the C library repairs it (§5.17)"
G=$(ring g)
if create "$G" 256 8 0 2; then
	bg_reader "$TMP/g" "$G" --count 206 --lossless --pattern counter \
		--timeout $STEP_TIMEOUT --ready "$TMP/g.ready"
	RPID=$BGPID
	( exec "$FIX" hang "$G" 5 256 >"$TMP/g.hang" 2>"$TMP/g.hang.err" ) &
	HPID=$!
	BGPIDS="$BGPIDS $HPID"
	if wait_ready "$TMP/g.ready" $RPID && wait_line "$TMP/g.hang" '^held 5$' $HPID; then
		pass "(g) hanging producer holds seq 5"
		timeout $STEP_TIMEOUT "$FIX" produce "$G" 200 256 >/dev/null \
			2>"$TMP/g.prod.err" &
		GP=$!
		BGPIDS="$BGPIDS $GP"
		# Kill the holder only once the second producer is a member, so
		# that the stream is never left without one (§5.18).
		check "(g) second producer joined the stream (stream_members 2)" \
			wait_status "$G" "d['stream_members'] == 2"
		kill -KILL $HPID
		wait_pid $HPID
		wait_pid $GP
		check "(g) second producer finished (repaired the dead one's seq)" [ "$RC" = 0 ]
		wait_pid $RPID
		show "$TMP/g"
		check "(g) reader: 206 frames, seq 5 abandoned (length 0, flag 0x8), eos" \
			jcheck "$TMP/g.json" \
			"d['frames'] == 206 and d['abandoned'] == 1 and d['lost'] == 0 and d['bad'] == 0 and d['eos'] is True and d['first_seq'] == 0 and d['last_seq'] == 205 and d['error'] is None"
		check "(g) status: frames_abandoned 1, claim_seq == write_seq, dead producer evicted" \
			jcheck <(status "$G") \
			"d['frames_abandoned'] == 1 and d['write_seq'] == 207 and d['claim_seq'] == 207 and d['stream_state'] == 2 and all(p['state'] == 0 for p in d['producers'])"
		check "(g) audit" audit "$G"
	else
		fail "(g) hanging producer holds seq 5"
	fi
else
	fail "(g) create ring"
fi

echo "== (g2) the same repair done by reader.py from §5.17"
G2=$(ring g2)
if create "$G2" 256 8 0 2; then
	( exec "$FIX" hang "$G2" 5 256 >"$TMP/g2.hang" 2>"$TMP/g2.hang.err" ) &
	HPID=$!
	BGPIDS="$BGPIDS $HPID"
	if wait_line "$TMP/g2.hang" '^held 5$' $HPID; then
		kill -KILL $HPID
		wait_pid $HPID
		timeout $STEP_TIMEOUT "$PY" "$READER" read "$G2" --count 6 \
			--lossless --repair --pattern counter --eos-wait 0 \
			--timeout $STEP_TIMEOUT >"$TMP/g2.json" 2>"$TMP/g2.err"
		show "$TMP/g2"
		check "(g2) reader repaired seq 5 and read it as an abandoned frame" \
			jcheck "$TMP/g2.json" \
			"d['frames'] == 6 and d['abandoned'] == 1 and d['repaired'] == 1 and d['bad'] == 0 and d['last_seq'] == 5 and d['error'] is None"
		check "(g2) status: frames_abandoned 1, write_seq == claim_seq == 6, dead producer still ACTIVE" \
			jcheck <(status "$G2") \
			"d['frames_abandoned'] == 1 and d['write_seq'] == 6 and d['claim_seq'] == 6 and d['stream_state'] == 1 and d['stream_members'] == 1 and [p['state'] for p in d['producers']] == [2]"
		check "(g2) C rb_ring_evict_dead evicts it" \
			timeout $STEP_TIMEOUT "$FIX" evict "$G2"
		check "(g2) stream ABANDONED (its last member died), no member, record FREE" \
			jcheck <(status "$G2") \
			"d['stream_state'] == 3 and d['stream_members'] == 0 and all(p['state'] == 0 for p in d['producers'])"
		check "(g2) audit" audit "$G2"
	else
		fail "(g2) hanging producer holds seq 5"
	fi
else
	fail "(g2) create ring"
fi

# member_summary FILES... : one JSON line summing the members' results.
member_summary() {
	"$PY" - "$@" <<'ZZPYZZ'
import json, sys
ms = []
for f in sys.argv[1:]:
    ls = [l for l in open(f).read().splitlines() if l.startswith("{")]
    ms.append(json.loads(ls[-1]) if ls else {})
print(json.dumps({"frames": [m.get("frames", 0) for m in ms],
                  "seqsum": sum(m.get("seqsum", 0) for m in ms),
                  "bad": sum(m.get("bad", 1) for m in ms),
                  "unordered": sum(m.get("unordered", 0) for m in ms),
                  "eos": [bool(m.get("eos")) for m in ms],
                  "errors": [m.get("error") for m in ms]}))
ZZPYZZ
}

# Group members from ring_fixture (C) stay attached after the end of the
# stream until their stdin closes, so that the group can be looked at.
echo "== (h) a lossless group: two C members and one reader.py member (§5.19)"
H=$(ring h)
if create "$H" 256 16 0 1 4; then
	mkfifo "$TMP/h.in"
	exec 9<>"$TMP/h.in"
	HM=""
	for k in 1 2; do
		( exec "$FIX" consume "$H" work $STEP_TIMEOUT <"$TMP/h.in" \
			>"$TMP/h$k.out" 2>"$TMP/h$k.err" 9>&- ) &
		HM="$HM $!"
		BGPIDS="$BGPIDS $!"
	done
	bg_reader "$TMP/hp" "$H" --count 100000 --group work --lossless \
		--pattern counter --expect-len 256 --batch 3 \
		--timeout $STEP_TIMEOUT --ready "$TMP/hp.ready"
	HPY=$BGPID
	bg_reader "$TMP/hall" "$H" --count 3000 --lossless --pattern counter \
		--timeout $STEP_TIMEOUT --ready "$TMP/hall.ready"
	HALL=$BGPID
	ok=yes
	wait_line "$TMP/h1.out" '^attached' $(echo $HM | cut -d' ' -f1) || ok=no
	wait_line "$TMP/h2.out" '^attached' $(echo $HM | cut -d' ' -f2) || ok=no
	wait_ready "$TMP/hp.ready" $HPY || ok=no
	wait_ready "$TMP/hall.ready" $HALL || ok=no
	if [ $ok = yes ]; then
		check "(h) one group 'work' with 3 members" jcheck <(status "$H") \
			"len(d['groups']) == 1 and d['groups'][0]['name'] == 'work' and d['groups'][0]['members'] == 3 and d['groups'][0]['mode'] == 0 and sum(1 for c in d['consumers'] if c['group'] == 1) == 3"
		check "(h) produce 3000 frames" produce "$H" 3000 256
		wait_line "$TMP/h1.out" '^{' $(echo $HM | cut -d' ' -f1)
		wait_line "$TMP/h2.out" '^{' $(echo $HM | cut -d' ' -f2)
		wait_pid $HPY
		show "$TMP/hp"
		wait_pid $HALL
		check "(h) the ungrouped reader saw all 3000 frames" jcheck "$TMP/hall.json" \
			"d['frames'] == 3000 and d['bad'] == 0 and d['eos'] is True"
		member_summary "$TMP/h1.out" "$TMP/h2.out" "$TMP/hp.json" >"$TMP/h.sum"
		sed 's/^/  members: /' "$TMP/h.sum"
		check "(h) each frame to exactly one member: frames sum to 3000, seqs sum to 0+...+2999" \
			jcheck "$TMP/h.sum" \
			"sum(d['frames']) == 3000 and d['seqsum'] == 2999 * 3000 // 2 and d['bad'] == 0 and d['unordered'] == 0 and d['errors'][2] is None"
		check "(h) every member got the end of stream" jcheck "$TMP/h.sum" "all(d['eos'])"
		check "(h) group: one marker, nothing lost, reader.py's frames departed, identity holds" \
			jcheck <(status "$H") \
			"len(d['groups']) == 1 and d['groups'][0]['markers'] == 1 and d['groups'][0]['lost'] == 0 and d['groups'][0]['members'] == 2 and d['groups'][0]['claim_seq'] == 3001 and d['groups'][0]['start_seq'] == 0 and d['groups'][0]['claim_lock'] == 0 and $GROUP_IDENTITY"
		exec 9>&-
		for p in $HM; do wait_pid $p; done
		check "(h) group freed when the last member left" \
			jcheck <(status "$H") "d['groups'] == [] or all(g['state'] == 0 for g in d['groups'])"
		check "(h) audit" audit "$H"
	else
		fail "(h) members attached"
		exec 9>&- 2>/dev/null
	fi
else
	fail "(h) create ring"
fi

echo "== (h3) a C member and a reader.py member create the same group at once"
H3=$(ring h3)
if create "$H3" 256 16 0 1 8; then
	mkfifo "$TMP/h3.in"
	exec 9<>"$TMP/h3.in"
	dups=0
	for k in 1 2 3 4 5 6; do
		( exec "$FIX" consume "$H3" "race$k" 30 <"$TMP/h3.in" \
			>"$TMP/h3c$k.out" 2>"$TMP/h3c$k.err" 9>&- ) &
		C3=$!
		BGPIDS="$BGPIDS $C3"
		bg_reader "$TMP/h3p$k" "$H3" --count 1 --group "race$k" --lossless \
			--timeout 30 --ready "$TMP/h3p$k.ready"
		P3=$BGPID
		if wait_line "$TMP/h3c$k.out" '^attached' $C3 && \
		   wait_ready "$TMP/h3p$k.ready" $P3; then
			jcheck <(status "$H3") \
				"[(g['name'], g['members']) for g in d['groups'] if g['name'] == 'race$k'] == [('race$k', 2)]" ||
				dups=$((dups + 1))
		else
			dups=$((dups + 1))
		fi
		kill -TERM $P3
		wait_pid $P3
		kill -TERM $C3
		wait_pid $C3
	done
	exec 9>&-
	check "(h3) 6/6 races made one group with both members ($dups failed)" [ $dups = 0 ]
	# The C members were killed (no detach); each next attach evicted the
	# previous one (§5.5 step 1), and rb_ring_evict_dead the last.
	check "(h3) C rb_ring_evict_dead evicts the last killed member" \
		timeout $STEP_TIMEOUT "$FIX" evict "$H3"
	check "(h3) every group freed again" \
		wait_status "$H3" "all(g['state'] == 0 for g in d['groups']) and not any(c['state'] == 2 for c in d['consumers'])"
else
	fail "(h3) create ring"
fi

echo "== (h2) a member killed holding frames: counted as the group's lost (§5.20)"
H2=$(ring h2)
if create "$H2" 256 16 0 1 4; then
	mkfifo "$TMP/h2.in"
	exec 9<>"$TMP/h2.in"
	( exec "$FIX" consume "$H2" work $STEP_TIMEOUT <"$TMP/h2.in" \
		>"$TMP/h2c.out" 2>"$TMP/h2c.err" 9>&- ) &
	HC=$!
	BGPIDS="$BGPIDS $HC"
	if wait_line "$TMP/h2c.out" '^attached' $HC; then
		# The C member waits (no frame yet) while it is stopped, so that
		# reader.py's member gets the first frames and dies holding some.
		kill -STOP $HC
		bg_reader_sub "$TMP/h2p" "$H2" --count 100000 --group work \
			--lossless --batch 4 --die-holding 8 \
			--timeout $STEP_TIMEOUT --ready "$TMP/h2p.ready"
		HSUB=$BGPID
		wait_ready "$TMP/h2p.ready" $HSUB
		timeout $STEP_TIMEOUT "$FIX" produce "$H2" 2000 256 >/dev/null \
			2>"$TMP/h2.prod.err" 9>&- &
		H2P=$!
		BGPIDS="$BGPIDS $H2P"
		wait_pid $HSUB
		check "(h2) reader.py member died (no result line)" \
			[ ! -s "$TMP/h2p.json" ]
		# The blocked producer evicts the dead member (§5.11 step 7).
		check "(h2) dead member evicted: its held frames are the group's lost" \
			wait_status "$H2" "len(d['groups']) == 1 and d['groups'][0]['members'] == 1 and 1 <= d['groups'][0]['lost'] <= 4 and d['groups'][0]['lost'] + d['groups'][0]['frames_departed'] >= 8 and sum(1 for c in d['consumers'] if c['state'] == 2) == 1 and $GROUP_IDENTITY"
		kill -CONT $HC
		wait_pid $H2P
		check "(h2) producer finished" [ "$RC" = 0 ]
		wait_line "$TMP/h2c.out" '^{' $HC
		sed 's/^/  C member: /' "$TMP/h2c.out" | tail -n 1
		status "$H2" >"$TMP/h2.status"
		check "(h2) group after the end: one marker, identity holds, nothing lost but the held frames" \
			jcheck "$TMP/h2.status" \
			"len(d['groups']) == 1 and d['groups'][0]['markers'] == 1 and d['groups'][0]['claim_seq'] == 2001 and 1 <= d['groups'][0]['lost'] <= 4 and $GROUP_IDENTITY"
		"$PY" - "$TMP/h2c.out" "$TMP/h2.status" >"$TMP/h2.sum" <<'ZZPYZZ'
import json, sys
c = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
g = json.load(open(sys.argv[2]))["groups"][0]
print(json.dumps({"c_frames": c["frames"], "eos": c["eos"], "bad": c["bad"],
                  "unordered": c["unordered"], "lost": g["lost"],
                  "departed": g["frames_departed"]}))
ZZPYZZ
		check "(h2) C member got every other frame: frames + lost + departed == 2000, eos, intact" \
			jcheck "$TMP/h2.sum" \
			"d['c_frames'] + d['lost'] + d['departed'] == 2000 and d['eos'] == 1 and d['bad'] == 0 and d['unordered'] == 0"
		exec 9>&-
		wait_pid $HC
		check "(h2) audit" audit "$H2"
	else
		fail "(h2) C member attached"
		exec 9>&- 2>/dev/null
	fi
else
	fail "(h2) create ring"
fi

echo "$PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
