#!/bin/bash
# The README's capture + record + monitor pipeline, without systemd (meson
# test suite `systemd`): the ExecStart= lines of the configured units,
# expanded as systemd would from the example environment files (a unique
# ring for sensor0, port 0 (the kernel's choice, read back from the stream
# header) for 5000, a temporary directory for /var/lib/ringbuf), run as
# real processes; a udp-send stand-in sensor sends 1000 frames. Asserts
# that the recorder got every frame the capture made (lossless, no gap),
# that the lossy stats consumer accounts for each of them (seen + lost),
# and that all three end cleanly. Every wait is bounded.
#   check_pipeline.sh UNIT_DIR RB_PRODUCER RB_CONSUMER RB_CTL
set -u
units=$1 producer=$(realpath "$2") consumer=$(realpath "$3") ctl=$(realpath "$4")
ring="test-pipeline-$$"
work=$(mktemp -d /tmp/ringbuf-pipeline.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/rb-$ring"
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err; do [ -s "$f" ] && { echo "$f:"; cat "$f"; }; done; exit 1; }

# The value of KEY in an environment file (KEY=VALUE, the rest of the line).
env_get() { sed -n "s/^$2=//p" "$1" | tail -1; }

# The command of UNIT's ExecStart= for instance INSTANCE, with the
# variables of ENV_FILE (over the unit's Environment= defaults) expanded,
# one argument per line.
exec_start() {
	local unit=$1 instance=$2 env_file=$3 line word var val
	declare -A vars=()
	for word in $(sed -n 's/^Environment=//p' "$unit" | sed 's/"//g'); do
		[ "${word#*=}" != "$word" ] && vars[${word%%=*}]=${word#*=}
	done
	# "RB_CONSUMER_OPTIONS=--wait-ring 60s" in the unit: quoted, spaces.
	val=$(sed -n 's/^Environment=.*"\(RB_[A-Z_]*_OPTIONS\)=\([^"]*\)".*/\1=\2/p' "$unit")
	[ -n "$val" ] && vars[${val%%=*}]=${val#*=}
	if [ -f "$env_file" ]; then
		while IFS= read -r line; do
			case "$line" in '#'*|'') continue ;; esac
			vars[${line%%=*}]=${line#*=}
		done <"$env_file"
	fi
	line=$(sed -n 's/^ExecStart=//p' "$unit")
	for word in $line; do
		word=${word//%i/$instance}
		case "$word" in
		'${'*'}') var=${word#\$\{}; echo "${vars[${var%\}}]:-}" ;;
		'$'*) for val in ${vars[${word#\$}]:-}; do echo "$val"; done ;;
		*) echo "$word" ;;
		esac
	done
}

# Rewrites the documented names to this run's.
localise() { sed -e "s/sensor0/$ring/g" -e "s/:5000\b/:0/g" -e "s|/var/lib/ringbuf|$work|g"; }

for f in producer-sensor0 consumer-sensor0-record consumer-sensor0-stats; do
	localise <"$units/$f.env" >"$work/$f.env" || fail "no $units/$f.env"
done

start() { # NAME UNIT INSTANCE ENV_FILE PROGRAM
	local name=$1 args
	mapfile -t args < <(exec_start "$units/$2" "$3" "$4")
	[ "${#args[@]}" -gt 1 ] || fail "$2: no ExecStart"
	args[0]=$5 # this build's program, where the unit names the installed one
	echo "  $name: ${args[*]}"
	"${args[@]}" --json >"$work/$name.json" 2>"$work/$name.err" &
	pids+=($!)
}
start producer rb-producer@.service "$ring" "$work/producer-sensor0.env" "$producer"
start record rb-consumer@.service "$ring-record" "$work/consumer-sensor0-record.env" "$consumer"
start stats rb-consumer@.service "$ring-stats" "$work/consumer-sensor0-stats.env" "$consumer"

# The capture starts once both consumers are attached: wait for that.
for _ in $(seq 300); do
	n=$("$ctl" stat "$ring" 2>/dev/null | sed -n 's/^consumers //p')
	[ "${n:-0}" -ge 2 ] && break
	sleep 0.1
done
[ "${n:-0}" -ge 2 ] || fail "the consumers did not attach to $ring within 30 s"
# Then the stream begins, its header naming the port bound.
for _ in $(seq 300); do
	port=$("$ctl" info "$ring" 2>/dev/null | sed -n 's/^ *listen=127\.0\.0\.1:\([0-9]*\)$/\1/p')
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || fail "no listen= port in $ring's stream header within 30 s"
timeout 60 "$producer" --source udp-send --target "127.0.0.1:$port" --frame-size 64KiB \
	--count 1000 --rate 1000 >"$work/sender.out" 2>&1 || fail "udp-send: $(cat "$work/sender.out")"

# The sender's end marker ends the capture's stream, and so the consumers.
for i in 0 1 2; do
	for _ in $(seq 300); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
	kill -0 "${pids[$i]}" 2>/dev/null && fail "a program did not end within 30 s of the sender's end"
	wait "${pids[$i]}" || fail "exit status $? (${pids[$i]})"
done
pids=()

field() { grep -o "\"$2\":[0-9]*" "$work/$1.json" | head -1 | cut -d: -f2; }
made=$(field producer frames)
# Loopback UDP may drop a packet under load (the capture then counts the
# frame incomplete or missing): the consumers are held to what it made.
[ "${made:-0}" -ge 900 ] || fail "the capture made ${made:-no} frames of 1000: $(cat "$work/producer.json")"
[ "$(field record frames)" = "$made" ] && [ "$(field record recorded_frames)" = "$made" ] &&
	[ "$(field record gaps)" = 0 ] || fail "the recorder: $(cat "$work/record.json")"
[ $(( $(field stats frames) + $(field stats lost) )) = "$made" ] ||
	fail "the lossy stats consumer: $(cat "$work/stats.json")"
[ -s "$work/$ring.rbrec.000" ] || fail "no recording $work/$ring.rbrec.000"
echo "ok: capture $made frames, recorded $made (no gap), stats saw $(field stats frames) + lost $(field stats lost)"
