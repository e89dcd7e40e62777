#!/usr/bin/env python3
"""The man pages' check (meson test suite `man`).

1. Every built page renders with `man -l` without a warning (groff's
   warnings on, output thrown away).
2. Every long option that a program's --help lists (for rb-ctl: its own
   and each command's) appears in that program's page source
   (man/PROGRAM.1.scd). A missing one is named with its page, so that a
   new option is easy to document.
3. Every function the public headers declare (--headers) has a page or a
   link to one (--names, from man/meson.build's table), and is named in
   that page's source.

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


def declared_calls(path):
    """The functions a C header declares at file scope: comments and
    preprocessor lines dropped, then each `rb_name(` outside braces and
    parentheses (function pointers and struct members are inside them)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    # C++'s `extern "C" {` wraps the whole header; its braces are no scope.
    text = text.replace('extern "C" {', " ")
    names, depth = set(), 0
    for m in re.finditer(r"[{}()]|\b(rb_[a-z0-9_]+)\s*\(", text):
        tok = m.group(0)
        if m.group(1) is not None:
            if depth == 0:
                names.add(m.group(1))
            depth += 1  # the match took the opening parenthesis too
        elif tok in "{(":
            depth += 1
        else:
            depth = max(depth - 1, 0)
    return names


def page_sources(source):
    """{page name: its source text} for the section-3 pages."""
    out = {}
    for f in os.listdir(source):
        if f.endswith(".3.scd"):
            with open(os.path.join(source, f), encoding="utf-8") as fh:
                out[f[:-len(".3.scd")]] = fh.read()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--pages", nargs="+", required=True)
    ap.add_argument("--programs", nargs="*", default=[])
    ap.add_argument("--headers", nargs="*", default=[])
    ap.add_argument("--names", nargs="*", default=[])
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

    if a.headers:
        names = set(a.names)
        sources = "\n".join(page_sources(a.source).values())
        calls = set()
        for h in a.headers:
            calls |= declared_calls(h)
        for call in sorted(calls):
            if call not in names:
                failures.append(f"{call}: declared in a public header but has no man page "
                                f"or link (man/meson.build's man_pages)")
            elif not re.search(r"\b" + re.escape(call) + r"\b", sources):
                failures.append(f"{call}: linked in man/meson.build but no page describes it")
        if len(calls) < 40:
            failures.append(f"only {len(calls)} calls found in {a.headers}: the parser is broken")
        if not any(f.startswith("rb_") for f in failures):
            print(f"ok: all {len(calls)} public calls have a man page")

    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
