#!/bin/sh
# systemd-analyze verify over the units (meson test suite `systemd`):
#   check_units.sh BUILD_DIR MAN_DIR TIMER RB_PRODUCER RB_CONSUMER RB_CTL UNIT...
# UNITs are the test-* copies configured with this build's programs; they
# are verified under their real names, in a directory of their own, with
# the programs linked where the copies point (BUILD_DIR/test-bin). Any
# message from systemd-analyze (an unknown key is only a warning to it)
# fails the test. The units' Documentation=man:... pages are looked up
# among this build's pages (MAN_DIR), so they must exist too. Exits 77 (skipped, as meson counts it) with the reason
# when systemd-analyze is missing.
set -u
build=$1 man_dir=$2 timer=$3 producer=$4 consumer=$5 ctl=$6
shift 6
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (Debian package systemd): the units were not verified"
	exit 77
fi
bin="$build/test-bin"
units=$(mktemp -d /tmp/ringbuf-units.XXXXXX)
trap 'rm -rf "$units"' EXIT
mkdir -p "$bin"
ln -sf "$(realpath "$producer")" "$bin/rb-producer"
ln -sf "$(realpath "$consumer")" "$bin/rb-consumer"
ln -sf "$(realpath "$ctl")" "$bin/rb-ctl"
# man's layout (man1/, man3/) over the built pages, for Documentation=.
mkdir -p "$units/man/man1" "$units/man/man3"
for page in "$man_dir"/*.1 "$man_dir"/*.3; do
	[ -e "$page" ] && ln -s "$(realpath "$page")" "$units/man/man${page##*.}/"
done
for unit in "$@"; do
	cp "$unit" "$units/$(basename "$unit" | sed 's/^test-//')"
done
cp "$timer" "$units/"
status=0
for unit in "$units"/*.service "$units"/*.timer; do
	# A template is verified as an instance of it.
	name=$(basename "$unit")
	case "$name" in
	*@.service) cp "$unit" "$units/${name%@.service}@sensor0.service"; target="$units/${name%@.service}@sensor0.service" ;;
	*@*) continue ;;
	*) target=$unit ;;
	esac
	out=$(cd "$units" && MANPATH="$units/man" systemd-analyze verify "$target" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: $name: systemd-analyze verify (exit $rc):"
		echo "$out"
		status=1
	else
		echo "ok: $name"
	fi
done
exit $status
