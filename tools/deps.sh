# Sourced by tools/run and tools/test: installs what the build and the
# tests need on a fresh Debian 12 machine (as root), and nothing when it is
# all there already.
rb_packages="meson ninja-build pkg-config gcc g++ liburing-dev libck-dev libisal-dev catch2 clang libclang-rt-14-dev python3-dev python3-numpy python3-pytest libjansson-dev libmicrohttpd-dev nodejs chromium prometheus python3-websocket"

rb_install_deps() {
	local missing=""
	for pkg in $rb_packages "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $pkg"
		fi
	done
	# npm: Debian's package, unless a node.js that brings its own is there.
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
	if [ -n "$missing" ]; then
		echo "installing:$missing" >&2
		local sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		$sudo apt-get update -qq >&2 || return 1
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2 ||
			return 1
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
	echo "installing: uplot (npm ci in $web)" >&2
	(cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
}
