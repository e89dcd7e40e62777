# Sourced by tools/run and tools/test: installs what the build and the
# tests need on a fresh Debian 12 machine (as root), and nothing when it is
# all there already; and the steps both scripts show while they install and
# build (each with its elapsed time, ninja's own progress line on a
# terminal), so that a first run is never silent for minutes.
rb_packages="meson ninja-build pkg-config gcc g++ liburing-dev libck-dev libisal-dev catch2 clang libclang-rt-14-dev python3-dev python3-numpy python3-pytest libjansson-dev libmicrohttpd-dev nodejs chromium prometheus python3-websocket scdoc man-db systemd"
# rb-ctl export (issue 16): HDF5's C library, and h5py to read its output back in the tests.
rb_packages="$rb_packages libhdf5-dev python3-h5py"
# rb-bridge (issue 14): ZeroMQ 4.3; iproute2 and util-linux for its two-namespace tests.
rb_packages="$rb_packages libzmq3-dev iproute2 util-linux"

# The name progress lines start with (tools/run, tools/test).
rb_prog=tools/$(basename "$0")

# Seconds since $1 (an $EPOCHREALTIME), to a tenth.
rb_elapsed() {
	local t0=${1//[.,]/} t1=${EPOCHREALTIME//[.,]/}
	local d=$(( (10#$t1 - 10#$t0) / 100000 ))
	echo "$((d / 10)).$((d % 10))"
}

# rb_step LABEL COMMAND...: runs COMMAND between two progress lines on
# stderr, the second with the elapsed time and whether it worked.
rb_step() {
	local label=$1 t0=$EPOCHREALTIME rc
	shift
	echo "$rb_prog: $label ..." >&2
	"$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "$rb_prog: $label: done in $(rb_elapsed "$t0") s" >&2
	else
		echo "$rb_prog: $label: FAILED after $(rb_elapsed "$t0") s" >&2
	fi
	return $rc
}

# rb_logged LOG COMMAND...: COMMAND's output to LOG, its tail shown if it
# fails.
rb_logged() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 || { tail -n 60 "$log" >&2; return 1; }
}

# rb_ninja LOG DIR [TARGETS...]: on a terminal ninja shows its own progress
# line ([123/456] ...); elsewhere (CI, a pipe) its output goes to LOG and
# only a failure's tail is shown.
rb_ninja() {
	local log=$1
	shift
	if [ -t 1 ]; then
		ninja -C "$@"
	else
		rb_logged "$log" ninja -C "$@"
	fi
}

# rb_build DIR LOGDIR [MESON_OPTIONS...]: configures DIR once, then builds
# it (RB_TARGETS, space-separated, limits what is built), as two steps.
rb_build() {
	local dir=$1 logs=$2 name
	shift 2
	name=$(basename "$dir")
	if [ ! -f "$dir/build.ninja" ]; then
		rb_step "meson setup $dir${*:+ $*}" rb_logged "$logs/setup-$name.log" meson setup "$dir" "$@" ||
			return 1
	fi
	# shellcheck disable=SC2086 # RB_TARGETS is a list
	rb_step "ninja -C $dir" rb_ninja "$logs/build-$name.log" "$dir" ${RB_TARGETS:-}
}

rb_install_deps() {
	local missing="" n=0 quiet=-qq
	for pkg in $rb_packages "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $pkg"
			n=$((n + 1))
		fi
	done
	# npm: Debian's package, unless a node.js that brings its own is there.
	if ! command -v npm >/dev/null 2>&1; then
		missing="$missing npm"
		n=$((n + 1))
	fi
	if [ -n "$missing" ]; then
		echo "$rb_prog: $n packages to install:$missing" >&2
		local sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		# On a terminal apt says which package it is at.
		[ -t 2 ] && quiet=-q
		rb_step "apt-get update" $sudo apt-get update -qq >&2 || return 1
		# shellcheck disable=SC2086 # lists
		rb_step "apt-get install ($n packages)" $sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y $quiet --no-install-recommends $missing >&2 || return 1
	fi
	rb_install_web_deps
}

# The monitor page's charting library (uPlot, from the npm registry, at the
# version package-lock.json pins) into tools/ctl/serve/web/node_modules,
# which is not committed; meson install ships it under share/ringbuf/web.
rb_install_web_deps() {
	local web
	web="$(dirname "${BASH_SOURCE[0]}")/ctl/serve/web"
	[ -f "$web/node_modules/uplot/dist/uPlot.iife.min.js" ] && return 0
	rb_step "npm ci (uPlot, for the monitor page)" \
		sh -c 'cd "$1" && npm ci --no-audit --no-fund --loglevel=error >&2' sh "$web"
}
