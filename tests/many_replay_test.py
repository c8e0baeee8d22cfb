#!/usr/bin/env python3
"""Several inputs in one command (src/cli/many.hpp), on the committed captures:
`replay FILE...` gives one JSON line per listener of each file, each file's verdicts
the same as its own replay; --shard 1/2 and 2/2 partition the list; --resume skips
what an earlier output has; a file that is not a capture gets a line of type error
(its exit status and message) without stopping the others, and the run's status is
its failure; --format json with several inputs is a usage error; --parallel 3 gives
the same lines as one at a time.

usage: many_replay_test.py LISTENPROBE CAPTURES_DIR"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FAILS = 0


def check(what, cond):
    global FAILS
    print(("ok: " if cond else "FAIL: ") + what)
    FAILS += 0 if cond else 1


def run(binary, args):
    p = subprocess.run([binary, *args], capture_output=True, text=True)
    return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")], p.stderr


def verdicts(listener_line):
    l = listener_line["listener"]
    return json.dumps({k: l[k] for k in ("accept_queue", "on_full", "synack", "syncookies", "syn_queue",
                                         "fate_counts", "episodes")}, sort_keys=True)


def main():
    binary, caps = sys.argv[1], Path(sys.argv[2])
    files = sorted(str(p) for p in caps.glob("lab-*.pcap"))[:8]
    rc, lines, err = run(binary, ["replay", *files, "--format", "jsonl"])
    check(f"replay of {len(files)} files: exit 0 ({err.strip().splitlines()[-1:]})", rc == 0)
    paths = [l["source"]["path"] for l in lines if l["type"] == "listener"]
    check("a listener line for every file, in list order (one at a time)", paths == files)
    same = True
    for f in files[:3]:
        _, own, _ = run(binary, ["replay", f, "--format", "jsonl"])
        mine = [l for l in lines if l["source"]["path"] == f]
        same = same and [verdicts(x) for x in own] == [verdicts(x) for x in mine]
    check("each file's verdicts as its own replay gives them", same)

    _, l1, _ = run(binary, ["replay", *files, "--format", "jsonl", "--shard", "1/2"])
    _, l2, _ = run(binary, ["replay", *files, "--format", "jsonl", "--shard", "2/2"])
    p1, p2 = {l["source"]["path"] for l in l1}, {l["source"]["path"] for l in l2}
    check(f"--shard 1/2 ({len(p1)}) and 2/2 ({len(p2)}) partition the list", not (p1 & p2) and p1 | p2 == set(files)
          and abs(len(p1) - len(p2)) <= 1)

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.jsonl"
        subprocess.run([binary, "replay", *files, "--format", "jsonl", "--shard", "1/2"], stdout=out.open("w"), check=True)
        rc, lr, err = run(binary, ["replay", *files, "--format", "jsonl", "--resume", str(out)])
        check(f"--resume skips the files the output has: the other shard's ({err.strip().splitlines()[:1]})",
              rc == 0 and {l["source"]["path"] for l in lr} == p2)
        rc, lr, _ = run(binary, ["replay", *files, "--format", "jsonl", "--resume", str(Path(d) / "new.jsonl")])
        check("--resume with a file that does not exist yet: everything", rc == 0 and len(lr) == len(lines))

        junk = Path(d) / "junk.pcap"
        junk.write_bytes(b"not a capture at all\n" * 4)
        rc, lj, err = run(binary, ["replay", files[0], str(junk), files[1], "--format", "jsonl"])
        errs = [l for l in lj if l["type"] == "error"]
        check(f"a garbage file: exit 1, one error line, the others reported (rc {rc})",
              rc == 1 and len(errs) == 1 and errs[0]["given"] == str(junk) and errs[0]["exit_status"] == 1
              and errs[0]["message"] and len([l for l in lj if l["type"] == "listener"]) == 2)
        check("... and the message on stderr names the file", str(junk) + ":" in err)

    rc, lp, _ = run(binary, ["replay", *files, "--format", "jsonl", "--parallel", "3"])
    check("--parallel 3: the same lines (in the order they finish)",
          rc == 0 and sorted(verdicts(x) + x["source"]["path"] for x in lp) ==
          sorted(verdicts(x) + x["source"]["path"] for x in lines))
    rc, _, err = run(binary, ["replay", *files[:2], "--format", "json"])
    check(f"--format json with several inputs: usage error, exit 2 ({err.strip()})", rc == 2 and err.count("\n") == 1)
    rc, _, err = run(binary, ["replay", *files[:2], "--shard", "3/2"])
    check(f"--shard 3/2: usage error ({err.strip()})", rc == 2)
    print(f"{FAILS} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
