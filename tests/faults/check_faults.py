#!/usr/bin/env python3
"""The checks of run_faults.sh that read nested JSON (the programs' summaries
and `rb-ctl info --json`). Prints one line per failed check and nothing when
all hold; the exit status is 0 either way (the script counts the lines).

    check_faults.py producers WORK SURVIVOR_PID DEAD_PID COUNT WRITE_SEQ
        one of two producers was killed: WORK holds p.json (the survivor's
        summary) and a.json, b.json (lossless verify), c.json (lossy verify)
    check_faults.py member WORK COUNT HELD
        a group member holding HELD frames was killed (HELD "?" if rb-ctl
        could not say): WORK holds a.json (plain verify), m2.json, m3.json
        (the surviving members)
    check_faults.py held INFO_JSON PID
        prints the frames consumer PID holds, from `rb-ctl info --json`
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError) as e:
        print(f"{path}: no summary ({e})")
        return None


def producer_entry(summary, pid):
    for p in summary.get("producers") or []:
        if p["id"] == pid:
            return p
    return None


def check_producers(work, survivor, dead, count, write_seq):
    p = load(f"{work}/p.json")
    if p is not None and p["frames"] != count:
        print(f"surviving producer made {p['frames']} frames, not {count}")
    dead_frames = {}
    for name in ("a", "b"):
        c = load(f"{work}/{name}.json")
        if c is None:
            continue
        for key in ("errors", "gaps", "lost"):
            if c[key] != 0:
                print(f"{name}: {key} {c[key]}")
        if c["end"] != "eos":
            print(f"{name}: ended with {c['end']}, not the end of the stream")
        if not c.get("tagged"):
            print(f"{name}: the stream was not tagged by producer")
        live = producer_entry(c, survivor)
        if live is None or live["frames"] != count or live["first_number"] != 0 \
                or live["last_number"] != count - 1 or live["gaps"] != 0:
            print(f"{name}: the survivor's frames are not all there: {live}")
        gone = producer_entry(c, dead)
        n = 0
        if gone is not None:
            # Complete up to where it died: numbers 0..k, none missing.
            if gone["first_number"] != 0 or gone["gaps"] != 0 or \
                    gone["frames"] != gone["last_number"] + 1:
                print(f"{name}: the dead producer's frames have holes: {gone}")
            n = gone["frames"]
        dead_frames[name] = n
        if c["frames"] != count + n:
            print(f"{name}: {c['frames']} frames, not {count} + {n} of the dead one")
        # Every seq the ring handed out: frames, abandoned, one end marker.
        if c["frames"] + c["abandoned"] + 1 != write_seq:
            print(f"{name}: frames {c['frames']} + abandoned {c['abandoned']} + 1 "
                  f"marker != write_seq {write_seq}")
        if c["next_seq"] != write_seq:
            print(f"{name}: stopped at seq {c['next_seq']}, not {write_seq}")
    if len(set(dead_frames.values())) > 1:
        print(f"the lossless consumers disagree on the dead producer's frames: {dead_frames}")
    c = load(f"{work}/c.json")
    if c is not None:
        if c["errors"] != 0:
            print(f"c: errors {c['errors']}")
        if c["frames"] + c["abandoned"] + c["lost"] + 1 != write_seq:
            print(f"lossy: frames {c['frames']} + abandoned {c['abandoned']} + lost "
                  f"{c['lost']} + 1 != write_seq {write_seq}")
    a = load(f"{work}/a.json")
    if a is not None:
        print(f"abandoned={a['abandoned']} dead_frames={dead_frames.get('a', 0)}",
              file=sys.stderr)


def check_member(work, count, held):
    a = load(f"{work}/a.json")
    if a is not None and (a["frames"] != count or a["errors"] or a["gaps"]):
        print(f"plain consumer: frames {a['frames']} of {count}, errors {a['errors']}, "
              f"gaps {a['gaps']}")
    members = [m for m in (load(f"{work}/m2.json"), load(f"{work}/m3.json")) if m]
    if len(members) != 2:
        return
    for m in members:
        if m["errors"] != 0:
            print(f"member {m['label']}: errors {m['errors']}")
        if m["end"] != "eos":
            print(f"member {m['label']}: ended with {m['end']}")
        if m["frames"] == 0:
            print(f"member {m['label']} got no frames")
    # Each member reports the group's figures just before it left. The
    # snapshot with the fewest members still attached is the latest; the
    # members it still counted add their own final figures. (Both may have
    # looked before either left: then both count.)
    last = min(members, key=lambda m: m["group"].get("members", 99))
    g = last["group"]
    attached = members if g.get("members") == 2 else [last]
    if g.get("members") not in (1, 2):
        print(f"group snapshot with {g.get('members')} members: {g}")
        return
    handed = g["claim_seq"] - g["start_seq"]
    if handed != count + 1:
        print(f"group handed out {handed} seqs, not {count} frames + 1 marker")
    own = sum(m["frames"] + m["lost"] for m in attached)
    if handed != own + g["lost"] + g["frames_departed"] + g["markers"]:
        print(f"group accounting: {handed} != members' frames + lost {own} + group lost "
              f"{g['lost']} + departed {g['frames_departed']} + markers {g['markers']}")
    if held != "?" and g["lost"] != int(held):
        print(f"group lost {g['lost']}, but the dead member held {held}")
    survivors = sum(m["frames"] for m in members)
    print(f"group_lost={g['lost']} held={held} survivors={survivors}", file=sys.stderr)


def held_of(info_path, pid):
    try:
        with open(info_path) as f:
            info = json.load(f)
        for c in info.get("consumers", []):
            if c.get("pid") == pid and "held" in c:
                print(c["held"])
                return
    except (OSError, ValueError):
        pass
    print("?")


def main(argv):
    what = argv[1]
    if what == "producers":
        check_producers(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), int(argv[6]))
    elif what == "member":
        check_member(argv[2], int(argv[3]), argv[4])
    elif what == "held":
        held_of(argv[2], int(argv[3]))
    else:
        print(f"check_faults.py: unknown check {what}")


if __name__ == "__main__":
    main(sys.argv)
