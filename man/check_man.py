#!/usr/bin/env python3
"""The man pages' check (meson test suite `man`).

1. Every built page renders with `man -l` without a warning (groff's
   warnings on, output thrown away).
2. Every long option that a program's --help lists (for rb-ctl: its own
   and each command's) appears in that program's page source
   (man/PROGRAM.1.scd). A missing one is named with its page, so that a
   new option is easy to document.

Exits 77 (skipped, as meson counts it) with the reason when `man` is not
installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])--([a-z0-9][a-z0-9-]*)")


def help_text(argv):
    r = subprocess.run(argv + ["--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} --help: exit {r.returncode}: {r.stderr}")
    return r.stdout


def ctl_commands(text):
    """The command names of rb-ctl's --help ("Commands:" block)."""
    names, inside = [], False
    for line in text.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = re.match(r"^  ([a-z]+)\b", line)
            if m:
                names.append(m.group(1))
    return names


def options_of(program):
    """{option: where --help lists it} for one program."""
    text = help_text([program])
    found = {o: "--help" for o in OPTION.findall(text)}
    if os.path.basename(program) == "rb-ctl":
        for cmd in ctl_commands(text):
            for o in OPTION.findall(help_text([program, cmd])):
                found.setdefault(o, f"{cmd} --help")
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--pages", nargs="+", required=True)
    ap.add_argument("--programs", nargs="*", default=[])
    a = ap.parse_args()

    failures = []
    man = shutil.which("man")
    if man is None:
        print("SKIP: `man` is not installed (Debian man-db; tools/deps.sh installs it): "
              "the pages were not rendered")
        return 77
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    for page in a.pages:
        r = subprocess.run([man, "--warnings=all", "-l", page], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            failures.append(f"{os.path.basename(page)}: man -l: exit {r.returncode}: "
                            f"{r.stderr.strip()}")
        else:
            print(f"ok: {os.path.basename(page)} renders without warnings")

    for program in a.programs:
        name = os.path.basename(program)
        src = os.path.join(a.source, name + ".1.scd")
        if not os.path.exists(src):
            failures.append(f"{name}: no page (expected man/{name}.1.scd)")
            continue
        with open(src, encoding="utf-8") as f:
            page = f.read()
        opts = options_of(program)
        missing = [o for o in sorted(opts)
                   if not re.search(r"--" + re.escape(o) + r"(?![a-z0-9-])", page)]
        for o in missing:
            failures.append(f"{name}: option --{o} ({name} {opts[o]}) is missing from "
                            f"man/{name}.1.scd")
        if not missing:
            print(f"ok: man/{name}.1.scd has all {len(opts)} options of {name}'s --help")

    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
