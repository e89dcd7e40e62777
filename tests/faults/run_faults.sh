#!/usr/bin/env bash
# Fault injection with the real programs: in a loop, kill -9 a lossless
# consumer, a lossy consumer, or the producer at a random moment, and check
# every time that
#   - the surviving consumers lost nothing they were owed (verify checks
#     every sequence number and every byte of the counter stream),
#   - the counters add up exactly (lossless: frames == frames produced;
#     lossy: frames + lost == frames produced),
#   - the producer goes on within a bounded time after a consumer dies,
#   - consumers report a dead producer within a bounded time,
#   - `rb-ctl clean` leaves no ring, and no process is left behind.
# (Killing one of several producers needs the multi-producer ring, issue 6.)
#
# Usage: tests/faults/run_faults.sh [ITERATIONS [SEED [BUILD_DIR]]]
set -u
iterations=${1:-100}
seed=${2:-$$}
build=${3:-${RB_BUILD_DIR:-build}}
producer=$build/producer/rb-producer
consumer=$build/consumer/rb-consumer
ctl=$build/tools/ctl/rb-ctl
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

fail() {
	echo "  FAIL iteration $i ($victim, seed $seed): $*"
	for f in "$work"/*.err "$work"/*.json; do
		[ -s "$f" ] && echo "    $(basename "$f"): $(head -c 300 "$f")"
	done
	ok=0
}

for ((i = 0; i < iterations; i++)); do
	ring="fault-$$-$i"
	rm -f "$work"/*
	ok=1
	case $((i % 3)) in
	0) victim=lossless ;;
	1) victim=lossy ;;
	2) victim=producer ;;
	esac
	count=200000
	kill_at=$((1000 + RANDOM % 60000))

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
	t=0
	while :; do
		ws=$(write_seq)
		[ -n "$ws" ] && [ "$ws" -ge "$kill_at" ] && break
		if [ $t -ge 2000 ] || ! kill -0 "$pid_p" 2>/dev/null; then break; fi
		sleep 0.005
		t=$((t + 1))
	done
	case $victim in
	lossless) kill -9 "$pid_b" ;;
	lossy) kill -9 "$pid_c" ;;
	producer) kill -9 "$pid_p" ;;
	esac
	killed_at=$(write_seq)

	if [ "$victim" != producer ]; then
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
	[ -e "/dev/shm/rb-$ring" ] && fail "ring left behind"
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
			fail "process $pid left behind"
		fi
	done
	cleanup
	if [ "$ok" -eq 1 ]; then
		passed=$((passed + 1))
		echo "  ok $i: killed $victim at frame ${killed_at:-?}"
	else
		failed=$((failed + 1))
	fi
done
ring=""
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
