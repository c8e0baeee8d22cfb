#!/usr/bin/env python3
"""The text report as a person at a terminal gets it (docs/report.md): for every
committed capture, `replay --format text` prints at most 30 lines per listener,
each verdict once and no lanes or events; `-v`/`--events` add them; colours
follow --color (auto: only on a terminal that is not dumb, without NO_COLOR; a
pseudo-terminal stands in for one); -v leaves the JSON alone; probe has the
same options.

usage: report_text_test.py LISTENPROBE CAPTURES_DIR"""
import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

LINES_PER_LISTENER = 30
ESC = "\x1b"
VERDICT_KEYS = ("  accept queue ", "  when full ", "  SYN-ACK ", "  syncookies ")


def run(binary, args, env=None):
    p = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def run_on_terminal(binary, args, env):
    """Runs with stdout on a pseudo-terminal; returns (exit status, what it printed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([binary, *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.wait(timeout=30)
    return p.returncode, out.decode("utf-8", "replace").replace("\r\n", "\n")


def blocks(text):
    """The listener blocks: from each 'listener ' line to the next blank line."""
    out, cur = [], None
    for line in text.split("\n"):
        if line.startswith("listener ") and cur is None:
            cur = []
            out.append(cur)
        elif line == "":
            cur = None
        if cur is not None:
            cur.append(line)
    return out


def main():
    binary, root = sys.argv[1], Path(sys.argv[2])
    caps = sorted(p for p in root.iterdir()
                  if p.suffix in (".pcap", ".pcapng") or (p.suffix == ".txt" and p.name.startswith("seed-")))
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
        return cond

    base_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    longest = 0
    for cap in caps:
        name = cap.name
        rc, text, err = run(binary, ["replay", str(cap), "--format", "text"], base_env)
        if not check(rc == 0, f"{name}: exit {rc}: {err.strip()}"):
            continue
        bl = blocks(text)
        check(len(bl) >= 1, f"{name}: no listener block")
        for b in bl:
            longest = max(longest, len(b))
            check(len(b) <= LINES_PER_LISTENER, f"{name}: a listener block of {len(b)} lines (> {LINES_PER_LISTENER})")
            for key in VERDICT_KEYS:
                n = sum(1 for line in b if line.startswith(key))
                check(n == 1, f"{name}: verdict {key.strip()!r} shown {n} times")
            for token in ("tcp_abort_on_overflow=", "tcp_syncookies=", "tcp_synack_retries"):
                n = sum(line.count(token) for line in b if not line.startswith("  warning ["))
                check(n <= 1, f"{name}: {token} said {n} times")
            check(not any("on overflow" in line for line in b), f"{name}: the old wording 'on overflow'")
        check("\nlanes " not in text and "\nevents " not in text, f"{name}: lanes or events without -v")
        check(ESC not in text, f"{name}: ESC in the text report on a pipe (--color=auto)")
        check(len(text.split("\n")) <= 2 + len(bl) * (1 + LINES_PER_LISTENER) + text.count("  note: "),
              f"{name}: {len(text.splitlines())} lines for {len(bl)} listener(s)")

        _, never, _ = run(binary, ["replay", str(cap), "--format", "text", "--color=never"], base_env)
        check(ESC not in never, f"{name}: ESC with --color=never")
        _, always, _ = run(binary, ["replay", str(cap), "--format", "text", "--color=always"], base_env)
        check(ESC in always, f"{name}: no ESC with --color=always")
        for flag in ("-v", "--events"):
            _, full, _ = run(binary, ["replay", str(cap), "--format", "text", flag], base_env)
            check("\nlanes " in full and "\nevents " in full, f"{name}: {flag} shows no lanes and events")
            check(ESC not in full, f"{name}: ESC with {flag} on a pipe")
        _, j1, _ = run(binary, ["replay", str(cap), "--format", "json"], base_env)
        _, j2, _ = run(binary, ["replay", str(cap), "--format", "json", "-v", "--color=always"], base_env)
        # the run object records the command line and its options (and times): the rest is the same
        def body(t):
            d = json.loads(t)
            d.pop("run", None)
            return d
        check(ESC not in j2 and body(j1) == body(j2), f"{name}: -v or --color changed the JSON")

    # --color=auto on a terminal: colours unless TERM is dumb or unset, or NO_COLOR is set.
    cap = str(root / "lab-overflow-drop.pcap")
    term = dict(base_env, TERM="xterm")
    cases = [
        ("a terminal, TERM=xterm", [], term, True),
        ("a terminal, --color=never", ["--color=never"], term, False),
        ("a terminal, --color=auto", ["--color=auto"], term, True),
        ("a terminal, NO_COLOR=1", [], dict(term, NO_COLOR="1"), False),
        ("a terminal, TERM=dumb", [], dict(base_env, TERM="dumb"), False),
        ("a terminal, TERM unset", [], base_env, False),
        ("a terminal, TERM=dumb --color=always", ["--color=always"], dict(base_env, TERM="dumb"), True),
    ]
    for what, extra, env, want in cases:
        rc, out = run_on_terminal(binary, ["replay", cap, *extra], env)
        check(rc == 0, f"{what}: exit {rc}")
        check(out.startswith("pcap "), f"{what}: not the text report: {out[:60]!r}")
        check((ESC in out) == want, f"{what}: ESC {'missing' if want else 'present'}")
        check("\nlanes " not in out, f"{what}: lanes without -v")
    rc, out = run_on_terminal(binary, ["replay", cap, "-v"], term)
    plain = re.sub("\x1b\\[[0-9;]*m", "", out)
    check(rc == 0 and "\nlanes " in plain and "\nevents " in plain and ESC in out, "a terminal, -v: no coloured lanes")

    rc, _, err = run(binary, ["replay", cap, "--color=sometimes"], base_env)
    check(rc == 2 and err.count("\n") == 1, f"--color=sometimes: exit {rc}, {err!r}")
    rc, out, _ = run(binary, ["probe", "--help"], base_env)
    check(rc == 0 and "--color" in out and "--events" in out and "-v" in out, "probe --help lacks --color or -v")

    for f in failures:
        print("FAIL", f)
    print(f"{len(caps)} captures, longest listener block {longest} lines; "
          f"{'0 failed' if not failures else f'{len(failures)} failed'}")
    return 1 if failures or not caps else 0


if __name__ == "__main__":
    sys.exit(main())
