# Sourced by tools/run and tools/test: installs what the build and the
# tests need on a fresh Debian 12 machine (as root), and nothing when it is
# all there already.
rb_packages="meson ninja-build pkg-config gcc g++ liburing-dev libck-dev libisal-dev catch2 clang libclang-rt-14-dev python3-dev python3-numpy python3-pytest"

rb_install_deps() {
	local missing=""
	for pkg in $rb_packages "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $pkg"
		fi
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing" >&2
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq >&2 || return 1
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}
