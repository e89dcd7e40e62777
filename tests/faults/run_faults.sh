#!/usr/bin/env bash
# Fault injection with the real programs: in a loop, kill -9 at a random
# moment, in turn, a lossless consumer, a lossy consumer, the producer, one
# of two producers of a ring for several, and a member of a consumer group
# holding frames; and check every time that
#   - the surviving consumers lost nothing they were owed (verify checks
#     every sequence number and every byte of the counter stream, and with
#     several producers each producer's frames for order and completeness),
#   - the counters add up exactly (lossless: frames == frames produced;
#     lossy: frames + lost == frames produced; several producers: frames +
#     abandoned + end marker == write_seq; a group: what it handed out ==
#     its members' frames + lost + departed + markers, and its lost == what
#     the dead member held),
#   - the producer goes on within a bounded time after a consumer dies, and
#     the stream goes on within a bounded time after one of two producers
#     or a group member dies,
#   - consumers report a dead producer within a bounded time,
#   - `rb-ctl clean` leaves no ring, and no process is left behind.
# docs/FAULTS.md says what each case asserts.
#
# Usage: tests/faults/run_faults.sh [ITERATIONS [SEED [BUILD_DIR]]]
set -u
iterations=${1:-100}
seed=${2:-$$}
build=${3:-${RB_BUILD_DIR:-build}}
producer=$build/producer/rb-producer
consumer=$build/consumer/rb-consumer
ctl=$build/tools/ctl/rb-ctl
checker=$(dirname "$0")/check_faults.py
RANDOM=$seed
work=$(mktemp -d /tmp/ringbuf-faults.XXXXXX)
passed=0
failed=0
pids=()
ring=""

cleanup() {
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	pids=()
	[ -n "$ring" ] && rm -f "/dev/shm/rb-$ring"
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" | head -1; }

# Waits (bounded) until process $1 has exited; returns its status, or 124.
wait_exit() {
	local pid=$1 limit_ms=$2 waited=0
	while kill -0 "$pid" 2>/dev/null; do
		# A zombie is done too: it only waits to be reaped.
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
		if [ "$waited" -ge "$limit_ms" ]; then
			return 124
		fi
		sleep 0.01
		waited=$((waited + 10))
	done
	wait "$pid" 2>/dev/null
}

# The ring's write_seq, from rb-ctl (empty if it cannot be read).
write_seq() { "$ctl" stat "$ring" 2>/dev/null | sed -n 's/^write_seq \([0-9]*\)$/\1/p'; }

# Waits (bounded) until write_seq reaches $1 or process $2 has exited: the
# stream goes on after a death. Sets progress_ms; returns 1 on timeout.
wait_progress() {
	local target=$1 pid=$2 limit_ms=$3 ws
	progress_ms=0
	while :; do
		ws=$(write_seq)
		[ -n "$ws" ] && [ "$ws" -ge "$target" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 0
		[ "$progress_ms" -ge "$limit_ms" ] && return 1
		sleep 0.01
		progress_ms=$((progress_ms + 10))
	done
}

# Lets frames flow up to write_seq $1 (bounded; also stops if $2 exited).
flow_until() {
	local t=0 ws
	while :; do
		ws=$(write_seq)
		[ -n "$ws" ] && [ "$ws" -ge "$1" ] && return
		if [ $t -ge 2000 ] || ! kill -0 "$2" 2>/dev/null; then return; fi
		sleep 0.005
		t=$((t + 1))
	done
}

# Stops process $1 where it is (SIGSTOP); false if it had already exited
# (a zombie, or gone). On a loaded machine the stream can outrun
# flow_until, which polls with rb-ctl: the victim may finish before the
# kill. Stopped first, it cannot finish between the look and the kill.
stop_alive() {
	kill -STOP "$1" 2>/dev/null || return 1
	[ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Runs a check of check_faults.py; each line it prints is a failure.
check() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] && fail "$line"
	done < <(python3 "$checker" "$@" 2>"$work/check.info")
}

fail() {
	echo "  FAIL iteration $i ($victim, seed $seed): $*"
	for f in "$work"/*.err "$work"/*.json; do
		[ -s "$f" ] && echo "    $(basename "$f"): $(head -c 300 "$f")"
	done
	ok=0
}

# One producer, two lossless consumers and a lossy one; the victim is one
# of them.
run_single() {
	count=200000
	"$consumer" --json --wait-ring 10s --label survivor "$ring" verify >"$work/a.json" 2>"$work/a.err" &
	pid_a=$!
	"$consumer" --json --wait-ring 10s --label lossless "$ring" verify >"$work/b.json" 2>"$work/b.err" &
	pid_b=$!
	"$consumer" --json --wait-ring 10s --label lossy --lossy "$ring" verify >"$work/c.json" 2>"$work/c.err" &
	pid_c=$!
	"$producer" --json --source counter --frame-size 1KiB --slots 64 --count $count \
		--wait-consumers 3 "$ring" >"$work/p.json" 2>"$work/p.err" &
	pid_p=$!
	pids=("$pid_a" "$pid_b" "$pid_c" "$pid_p")

	# Let frames flow up to a random point, then kill the victim.
	flow_until "$kill_at" "$pid_p"
	late=0
	case $victim in
	lossless) kill -9 "$pid_b" 2>/dev/null ;;
	lossy) kill -9 "$pid_c" 2>/dev/null ;;
	producer)
		# Killed only while stopped mid-stream (write_seq below its count:
		# not every frame published, so no end marker either).
		if stop_alive "$pid_p" && ws=$(write_seq) && [ -n "$ws" ] && [ "$ws" -lt "$count" ]; then
			kill -9 "$pid_p"
		else
			kill -CONT "$pid_p" 2>/dev/null
			late=1
		fi ;;
	esac
	killed_at=$(write_seq)

	if [ "$late" = 1 ]; then
		# The stream ended before the kill: what a whole stream guarantees.
		wait_exit "$pid_p" 20000 || fail "producer exited with status $? (finished before the kill)"
		for f in a b; do
			pid_var=pid_$f
			wait_exit "${!pid_var}" 10000 || fail "$f exited with status $?"
			[ "$(field "$work/$f.json" frames)" = "$count" ] || fail "$f got $(field "$work/$f.json" frames) of $count"
		done
		wait_exit "$pid_c" 10000 || fail "lossy consumer exited with status $?"
		lf=$(field "$work/c.json" frames)
		ll=$(field "$work/c.json" lost)
		[ $((lf + ll)) -eq "$count" ] || fail "lossy: frames $lf + lost $ll != $count"
		detail="too late: the stream had ended (write_seq ${killed_at:-?})"
		return
	elif [ "$victim" != producer ]; then
		# The producer must go on and finish its count (a dead lossless
		# consumer is evicted within a wait slice).
		wait_exit "$pid_p" 20000 || fail "producer did not finish after the $victim consumer died (status $?)"
		produced=$(field "$work/p.json" frames)
		[ "$produced" = "$count" ] || fail "producer made ${produced:-?} frames, not $count"
		wait_exit "$pid_a" 10000 || fail "survivor exited with status $?"
		[ "$(field "$work/a.json" frames)" = "$count" ] || fail "survivor got $(field "$work/a.json" frames) of $count frames"
		if [ "$victim" = lossless ]; then
			wait_exit "$pid_c" 10000 || fail "lossy consumer exited with status $?"
			lf=$(field "$work/c.json" frames)
			ll=$(field "$work/c.json" lost)
			[ $((lf + ll)) -eq "$count" ] || fail "lossy: frames $lf + lost $ll != $count"
		else
			wait_exit "$pid_b" 10000 || fail "lossless consumer exited with status $?"
			[ "$(field "$work/b.json" frames)" = "$count" ] || fail "lossless got $(field "$work/b.json" frames) of $count"
		fi
		for f in a b c; do
			[ -s "$work/$f.json" ] || continue
			[ "$(field "$work/$f.json" errors)" = 0 ] || fail "$f: $(field "$work/$f.json" errors) corrupt frames"
			[ "$(field "$work/$f.json" gaps)" = 0 ] || fail "$f: $(field "$work/$f.json" gaps) gaps"
		done
	else
		# Consumers must notice the dead producer within a bounded time
		# (100 ms wait slices) and exit 1, having verified every frame.
		committed=$(write_seq)
		for f in a b c; do
			pid_var=pid_$f
			wait_exit "${!pid_var}" 5000
			st=$?
			[ "$st" -eq 1 ] || fail "$f exited with $st, expected 1 (producer died)"
			grep -q "producer died" "$work/$f.err" || fail "$f did not say the producer died"
			[ "$(field "$work/$f.json" errors)" = 0 ] || fail "$f: corrupt frames"
		done
		for f in a b; do
			[ "$(field "$work/$f.json" frames)" = "$committed" ] ||
				fail "$f got $(field "$work/$f.json" frames) of the $committed frames committed"
		done
		lf=$(field "$work/c.json" frames)
		ll=$(field "$work/c.json" lost)
		[ $((lf + ll)) -eq "$committed" ] || fail "lossy: frames $lf + lost $ll != $committed committed"
		# The ring outlives its producer: rb-ctl clean removes it.
		"$ctl" clean --min-age 0 "$ring" >"$work/clean.out" 2>&1 || fail "rb-ctl clean failed"
	fi
	detail="at frame ${killed_at:-?}"
}

# Two producers (the first creates the ring for two and keeps it, the other
# attaches), two lossless consumers and a lossy one; one producer, chosen at
# random, is the victim. Both hold each slot 20 us between acquire and
# commit (--hold-per-frame, a test hook), so that the kill usually lands
# mid-claim: the victim leaves an abandoned seq, which the others must get
# past within a bounded time.
run_producers() {
	count=15000
	kill_at=$((1000 + RANDOM % 20000))
	"$consumer" --json --wait-ring 10s --label survivor "$ring" verify >"$work/a.json" 2>"$work/a.err" &
	pid_a=$!
	"$consumer" --json --wait-ring 10s --label lossless "$ring" verify >"$work/b.json" 2>"$work/b.err" &
	pid_b=$!
	"$consumer" --json --wait-ring 10s --label lossy --lossy "$ring" verify >"$work/c.json" 2>"$work/c.err" &
	pid_c=$!
	"$producer" --json --source counter --frame-size 1KiB --slots 64 --count $count \
		--max-producers 2 --keep --wait-consumers 3 --hold-per-frame 20us \
		"$ring" >"$work/p1.json" 2>"$work/p1.err" &
	pid_p1=$!
	"$producer" --json --attach --wait-ring 10s --count $count --wait-consumers 3 \
		--hold-per-frame 20us "$ring" >"$work/p2.json" 2>"$work/p2.err" &
	pid_p2=$!
	pids=("$pid_a" "$pid_b" "$pid_c" "$pid_p1" "$pid_p2")
	if [ $((RANDOM % 2)) -eq 0 ]; then
		dead=$pid_p1 live=$pid_p2 live_json=p2 which=creator
	else
		dead=$pid_p2 live=$pid_p1 live_json=p1 which=attached
	fi

	flow_until "$kill_at" "$dead"
	kill -9 "$dead" 2>/dev/null
	killed_at=$(write_seq)
	# Its seqs are abandoned within ~200 ms: two rings' worth more frames
	# means every consumer got past them.
	wait_progress $((${killed_at:-0} + 128)) "$live" 3000 ||
		fail "the stream stalled for 3 s after a producer died (write_seq $(write_seq))"
	wait_exit "$live" 20000 || fail "the surviving producer did not finish (status $?)"
	for f in a b c; do
		pid_var=pid_$f
		wait_exit "${!pid_var}" 10000 || fail "$f exited with status $?"
	done
	cp "$work/$live_json.json" "$work/p.json"
	final=$(write_seq)
	check producers "$work" "$live" "$dead" "$count" "${final:-0}"
	# Nobody is attached any more (one producer is dead): clean removes it.
	"$ctl" clean --min-age 0 "$ring" >"$work/clean.out" 2>&1 || fail "rb-ctl clean failed"
	detail="($which) at frame ${killed_at:-?}, on after ${progress_ms} ms; $(cat "$work/check.info")"
}

# One producer, a plain lossless consumer and three members of a lossless
# group that work slowly (so that they hold frames); the first member is
# stopped, its held frames read with rb-ctl, and killed. The others carry
# on; the group counts what it held as lost.
run_member() {
	count=100000
	"$consumer" --json --wait-ring 10s --label plain "$ring" verify >"$work/a.json" 2>"$work/a.err" &
	pid_a=$!
	for m in 1 2 3; do
		"$consumer" --json --wait-ring 10s --label "m$m" --group work --batch 16 \
			--delay-per-frame 10us "$ring" verify >"$work/m$m.json" 2>"$work/m$m.err" &
		eval "pid_m$m=\$!"
	done
	"$producer" --json --source counter --frame-size 1KiB --slots 64 --count $count \
		--wait-consumers 4 "$ring" >"$work/p.json" 2>"$work/p.err" &
	pid_p=$!
	pids=("$pid_a" "$pid_m1" "$pid_m2" "$pid_m3" "$pid_p")

	flow_until "$kill_at" "$pid_p"
	# Stopped, it holds still: what rb-ctl reads is what it dies with.
	# One that already left at the end of the stream held nothing.
	if stop_alive "$pid_m1"; then
		"$ctl" info --json "$ring" >"$work/info.json" 2>/dev/null
		held=$(python3 "$checker" held "$work/info.json" "$pid_m1")
	else
		held=0
	fi
	kill -9 "$pid_m1" 2>/dev/null
	killed_at=$(write_seq)
	wait_progress $((${killed_at:-0} + 128)) "$pid_p" 3000 ||
		fail "the group stalled for 3 s after a member died (write_seq $(write_seq))"
	wait_exit "$pid_p" 20000 || fail "producer did not finish after the member died (status $?)"
	[ "$(field "$work/p.json" frames)" = "$count" ] || fail "producer made $(field "$work/p.json" frames) frames"
	for f in a m2 m3; do
		pid_var=pid_$f
		wait_exit "${!pid_var}" 10000 || fail "$f exited with status $?"
	done
	check member "$work" "$count" "${held:-?}"
	detail="holding ${held:-?} at frame ${killed_at:-?}, on after ${progress_ms} ms; $(cat "$work/check.info")"
}

for ((i = 0; i < iterations; i++)); do
	ring="fault-$$-$i"
	rm -f "$work"/*
	ok=1
	case $((i % 5)) in
	0) victim=lossless ;;
	1) victim=lossy ;;
	2) victim=producer ;;
	3) victim=producers ;;
	4) victim=member ;;
	esac
	kill_at=$((1000 + RANDOM % 60000))
	progress_ms=0
	case $victim in
	producers) run_producers ;;
	member) run_member ;;
	*) run_single ;;
	esac
	[ -e "/dev/shm/rb-$ring" ] && fail "ring left behind"
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
			fail "process $pid left behind"
		fi
	done
	cleanup
	if [ "$ok" -eq 1 ]; then
		passed=$((passed + 1))
		echo "  ok $i: killed $victim $detail"
	else
		failed=$((failed + 1))
	fi
done
ring=""
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
