#!/usr/bin/env python3
"""Lab replay tests: one table of cases (tests/lab/replay_cases.toml), one runner.

  replay.py CASE [CASE..]     run these cases (exit 1 if any fails)
  replay.py --all             every case in the table, in order
  replay.py --list            the case names, one a line, "NAME long" for long = true
                              (CMake makes one CTest of each; long ones labelled long)

A case brings up its own lab (lab/lab.sh, LAB=t<pid>-<case>, so runs never share
namespaces) with the case's sysctls, runs its steps (listeners, servers, capture,
clients, hand-made SYNs, signals, snapshots of `ss -ltn` and `nstat`), checks
the capture and the server's counters independently of listenprobe (its `checks`,
Python expressions over lab/pcapsum.py's summary, `tcpdump -nn` lines and the
snapshots), then replays the capture with `$LP_BIN replay FILE --format json` and
matches the output against the case's `expect` with tests/lab/check_json.py.
Everything it started is stopped and the lab torn down, whatever happens.

Environment: LP_BIN (listenprobe), LP_BUILD (build dir with lab_listener and
lab_synsend), LP_ROOT (source dir); LP_KEEP=1 keeps the work dir (a failing case
always keeps it); LP_RECORD=1 also stores the capture and the expectation as
captures/lab-<case>.pcap and captures/lab-<case>.expect.json (before the replay is
compared, so a case the analyzer fails today is still recorded); LP_CASES names
another table. The table's format is described at its top and in docs/lab.md.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("LP_ROOT") or HERE.parent.parent).resolve()
BUILD = Path(os.environ.get("LP_BUILD") or ROOT / "build").resolve()
LP_BIN = Path(os.environ.get("LP_BIN") or BUILD / "listenprobe")
LABSH = ROOT / "lab" / "lab.sh"
CASES = Path(os.environ.get("LP_CASES") or HERE / "replay_cases.toml")
sys.path.insert(0, str(HERE))
from check_json import check  # noqa: E402

SRV_V4, CLI_V4 = "10.77.0.2", "10.77.0.1"
# The nstat counters every case logs (ground truth of the server's side).
KEY_COUNTERS = ["TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtSyncookiesSent",
                "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed", "TcpExtTCPReqQFullDoCookies",
                "TcpExtTCPReqQFullDrop"]


class CaseFailed(Exception):
    pass


class Terminated(Exception):
    pass


TERMINATED = []   # set once a signal asked us to stop: no further case starts


def load_cases(path=CASES):
    with open(path, "rb") as f:
        table = tomllib.load(f)
    cases = table.get("case", {})
    for name, c in cases.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise SystemExit(f"{path}: case name {name!r}: use lower case, digits and dashes")
        for key in ("description", "steps", "expect"):
            if key not in c:
                raise SystemExit(f"{path}: case {name} has no {key}")
    return cases


class Case:
    def __init__(self, name, spec):
        self.name = name
        self.spec = spec
        self.t0 = time.monotonic()
        self.lab = f"t{os.getpid()}-{name}"
        self.env = dict(os.environ, LAB=self.lab, LAB_QUIET="1", LP_BUILD=str(BUILD))
        self.work = Path(tempfile.mkdtemp(prefix=f"lp-lab-{name}."))
        self.pcap = self.work / f"lab-{name}.pcap"
        self.server = spec.get("server", f"{SRV_V4}:8081")
        self.procs = {}       # name -> Popen of what the case started itself
        self.pids = {}        # name -> pid to signal (servers, their workers)
        self.stopped = set()  # pids we sent SIGSTOP and did not continue yet
        self.snaps = {}
        self.capturing = False
        self.retry = False    # set when only setup checks failed: the caller may record again
        self.nstat_hist = self.work / "nstat.history"
        self.run_dir = Path(os.environ.get("LAB_RUN_DIR") or ROOT / "lab" / "run") / self.lab

    # ---- small helpers -------------------------------------------------------------
    def log(self, msg):
        print(f"[{self.name} {time.monotonic() - self.t0:.1f}s] {msg}", file=sys.stderr, flush=True)

    def fail(self, msg):
        raise CaseFailed(msg)

    def labsh(self, *args, env=None, check=True):
        # Output through files, not pipes: lab.sh leaves helpers running in the background.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run([str(LABSH), *map(str, args)], env=env or self.env, text=True,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(args, rc, out.read(), err.read())
        if check and p.returncode != 0:
            self.fail(f"lab.sh {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.strip()}")
        return p

    def ns(self, side):
        return f"lp-{self.lab}-{side}"

    def in_ns(self, side, argv):
        return ["ip", "netns", "exec", self.ns(side), *argv]

    def expand(self, text):
        """{work}, {build}, {root}, {python} in commands and arguments."""
        return (str(text).replace("{work}", str(self.work)).replace("{build}", str(BUILD))
                .replace("{root}", str(ROOT)).replace("{python}", sys.executable))

    def args(self, step, key="args"):
        v = step.get(key, [])
        return [self.expand(a) for a in (shlex.split(v) if isinstance(v, str) else v)]

    def wait_until(self, what, pred, timeout, interval=0.02):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(interval)
        self.fail(f"timed out after {timeout} s waiting for {what}")

    # ---- ground truth on the server -----------------------------------------------
    def listeners(self):
        out = subprocess.run(self.in_ns("srv", ["ss", "-ltnH"]), capture_output=True, text=True).stdout
        res = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 4 and f[0] == "LISTEN":
                res[f[3]] = {"recvq": int(f[1]), "sendq": int(f[2])}
        return res

    def snapshot(self, name):
        env = dict(os.environ, NSTAT_HISTORY=str(self.nstat_hist))
        out = subprocess.run(self.in_ns("srv", ["nstat", "-asz", "--json"]), capture_output=True,
                             text=True, env=env).stdout
        counters = {}
        try:
            for group in json.loads(out).values():
                counters.update(group)
        except json.JSONDecodeError:
            self.fail(f"nstat printed no JSON: {out[:200]}")
        tan = subprocess.run(self.in_ns("srv", ["ss", "-tanH"]), capture_output=True, text=True).stdout
        states = {}
        for line in tan.splitlines():
            f = line.split()
            if f and f[0] != "LISTEN":
                states[f[0]] = states.get(f[0], 0) + 1
        snap = {"ss": self.listeners(), "nstat": counters, "states": states}
        self.snaps[name] = snap
        ls = " ".join(f"{k} Recv-Q {v['recvq']} Send-Q {v['sendq']}" for k, v in snap["ss"].items())
        cs = " ".join(f"{k[len('TcpExt'):]}={counters.get(k, 0)}" for k in KEY_COUNTERS)
        self.log(f"snapshot {name}: {ls or 'no listener'}; {cs}; sockets {states}")

    # ---- servers the case starts itself --------------------------------------------
    def start_bg(self, name, side, argv, log, err_log=None, env=None):
        f = open(log, "w")
        e = open(err_log, "w") if err_log else None
        p = subprocess.Popen(self.in_ns(side, argv), stdout=f, stderr=e or subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env or self.env, start_new_session=True)
        f.close()
        if e:
            e.close()
        self.procs[name] = p
        return p

    def wait_listening(self, addr, what, proc):
        def up():
            if proc.poll() is not None:
                self.fail(f"{what} exited ({proc.returncode}); see {self.work}")
            return addr in self.listeners()
        self.wait_until(f"{what} to listen on {addr}", up, 10)

    def start_nginx(self, step):
        port, backlog = step.get("port", 8081), step["backlog"]
        addr = step.get("addr", SRV_V4)
        params = step.get("params", "")  # more listen parameters, e.g. "deferred"
        prefix = self.work / "nginx"
        for d in ("", "tmp", "logs"):
            (prefix / d).mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(f"""# nginx for the lab case {self.name}: its own prefix, one worker.
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_timeout 0;
    server {{
        listen {addr}:{port} {params} backlog={backlog};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", f"{prefix}/logs/error.log",
                "-g", "daemon off; master_process on;"]
        p = self.start_bg("nginx", "srv", argv, prefix / "logs" / "stderr.log")
        self.wait_listening(f"{addr}:{port}", "nginx", p)

        def worker():
            kids = [pid for pid in child_pids(p.pid) if "worker process" in cmdline(pid)]
            if len(kids) == 1:
                self.pids["nginx-worker"] = kids[0]
                return True
            return False
        self.wait_until("exactly one nginx worker", worker, 10)
        self.pids["nginx"] = p.pid
        self.log(f"nginx master {p.pid}, worker {self.pids['nginx-worker']}, listen {addr}:{port} {params} backlog={backlog}")

    def start_pyhttp(self, step):
        port, addr = step.get("port", 8081), step.get("addr", SRV_V4)
        www = self.work / "www"
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text("ok\n")
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", addr, "--directory", str(www)]
        # stderr (one line per request) apart from stdout ("Serving HTTP on ..."), unbuffered
        p = self.start_bg("pyhttp", "srv", argv, self.work / "pyhttp-stdout.log", self.work / "pyhttp.log",
                          env=dict(self.env, PYTHONUNBUFFERED="1"))
        self.wait_listening(f"{addr}:{port}", "python3 -m http.server", p)
        self.pids["pyhttp"] = p.pid
        self.log(f"python3 -m http.server pid {p.pid} on {addr}:{port}")

    # ---- the steps -----------------------------------------------------------------
    def step(self, st):
        do = st["do"]
        if do == "listen":
            env = dict(self.env)
            if "addr" in st:
                env["LISTEN_ADDR"] = st["addr"]
            if "args" in st:
                env["LISTEN_ARGS"] = " ".join(self.args(st))
            extra = [st["accept_every"]] if "accept_every" in st else []
            self.labsh("listen", st.get("port", 8081), st["backlog"], *extra, env=env)
            self.log(f"lab_listener on port {st.get('port', 8081)}, backlog {st['backlog']}")
        elif do == "capture":
            env = dict(self.env, SNAPLEN=str(st.get("snaplen", 128)))
            if "iface" in st:
                env["CAPTURE_IFACE"] = st["iface"]
            self.labsh("capture-start", self.pcap, *shlex.split(st.get("filter", "tcp port 8081")), env=env)
            self.capturing = True
        elif do == "capture-stop":
            self.labsh("capture-stop")
            self.capturing = False
            n = len(tcpdump_lines(self.pcap))
            self.log(f"capture: {self.pcap.stat().st_size} bytes, {n} packets")
        elif do == "clients":
            p = self.labsh("clients", st["name"], *self.args(st))
            (self.work / f"clients-{st['name']}.log").write_text(p.stdout)
            self.log(f"clients {st['name']}: " + ", ".join(
                json.loads(l)["result"] for l in p.stdout.splitlines() if l.startswith("{")))
        elif do == "clients-bg":
            self.labsh("clients-bg", st["name"], *self.args(st))
        elif do == "clients-stop":
            self.labsh("clients-stop", st["name"])
        elif do == "wait-clients":
            # until `count` result lines of clients NAME match `result` (default ok)
            log = self.run_dir / f"clients-{st['name']}.log"
            want, result = st["count"], st.get("result", "ok")

            def enough():
                try:
                    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
                except (OSError, json.JSONDecodeError):
                    return False
                return sum(1 for l in lines if l.get("result") == result) >= want
            self.wait_until(f"{want} {result} results of clients {st['name']}", enough, st.get("timeout", 30))
        elif do == "wait-file":
            # until the file has `lines` lines (e.g. a server's log of the first request); polled
            # every 0.5 ms, so a signal step after it lands within about a millisecond
            path, want = Path(self.expand(st["path"])), st.get("lines", 1)

            def has_lines():
                try:
                    return path.read_bytes().count(b"\n") >= want
                except OSError:
                    return False
            self.wait_until(f"{want} line(s) in {path}", has_lines, st.get("timeout", 30), interval=0.0005)
        elif do == "synsend":
            args = self.args(st)
            if "--src" not in args:
                args = ["--src", CLI_V4] + args
            if "--dst" not in args:
                args = ["--dst", SRV_V4] + args
            with open(self.work / "synsend.log", "a") as f:
                p = subprocess.run(self.in_ns("cli", [str(BUILD / "lab_synsend"), *args]), stdout=f,
                                   stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                self.fail(f"lab_synsend exited {p.returncode}: {p.stderr.strip()}")
        elif do == "sleep":
            time.sleep(st["s"])
        elif do == "snapshot":
            self.snapshot(st["name"])
        elif do == "nginx":
            self.start_nginx(st)
        elif do == "pyhttp":
            self.start_pyhttp(st)
        elif do == "signal":
            pid = self.pids.get(st["target"])
            if pid is None:
                self.fail(f"signal: no process {st['target']!r}")
            sig = getattr(signal, "SIG" + st["sig"])
            os.kill(pid, sig)
            if sig == signal.SIGSTOP:
                self.stopped.add(pid)
            elif sig == signal.SIGCONT:
                self.stopped.discard(pid)
            self.log(f"SIG{st['sig']} to {st['target']} ({pid})")
        elif do == "run":
            # a command in a namespace (side cli by default); bg = true returns at once
            name, side = st["name"], st.get("side", "cli")
            argv = [self.expand(a) for a in shlex.split(st["cmd"])]
            p = self.start_bg(name, side, argv, self.work / f"{name}.log")
            self.log(f"run {name} ({side}): {st['cmd']}")
            if not st.get("bg", False):
                self.wait_proc(name, st.get("timeout", 60), st.get("ok_rc", [0]))
        elif do == "wait":
            self.wait_proc(st["name"], st.get("timeout", 60), st.get("ok_rc", [0]))
        else:
            self.fail(f"unknown step {do!r}")

    def wait_proc(self, name, timeout, ok_rc):
        p = self.procs[name]
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{name} did not finish within {timeout} s")
        self.log(f"{name} exited {rc}")
        if rc not in ok_rc:
            self.fail(f"{name} exited {rc}; log: {self.work / (name + '.log')}")

    # ---- checks, replay, teardown -----------------------------------------------------
    def run_checks(self):
        lines = tcpdump_lines(self.pcap)
        sums = {}

        def summary(server):
            if server not in sums:
                out = subprocess.run([sys.executable, str(ROOT / "lab" / "pcapsum.py"), str(self.pcap),
                                      "--server", server, "--json"], capture_output=True, text=True, check=True)
                sums[server] = json.loads(out.stdout)
                (self.work / f"pcapsum-{re.sub('[^0-9a-zA-Z]', '_', server)}.json").write_text(out.stdout)
            return sums[server]

        logs = {p.name[:-4]: p.read_text(errors="replace") for p in self.work.glob("*.log")}
        last = self.snaps.get("end", {})
        failed, setup_failed = 0, []
        for chk in self.spec.get("checks", []):
            s = summary(chk.get("server", self.server))
            scope = {"conns": s["connections"], "s": s, "tcpdump": lines, "snap": self.snaps,
                     "ss": last.get("ss", {}), "nstat": last.get("nstat", {}), "states": last.get("states", {}),
                     "logs": logs, "re": re, "server": chk.get("server", self.server)}
            try:
                # one namespace as globals, so generator expressions in a check see it too
                ok = bool(eval(chk["expr"], dict(scope, __builtins__=__builtins__)))
            except Exception as e:  # a check that cannot be evaluated has failed
                ok = False
                self.log(f"check raised {type(e).__name__}: {e}")
            if ok:
                self.log(f"check ok: {chk['msg']}")
            elif chk.get("setup"):
                # the run did not show the pattern the case is about (a race it cannot
                # control was lost): not a failure of listenprobe, the caller may re-record
                setup_failed.append(chk["msg"])
                self.log(f"SETUP CHECK FAILED: {chk['msg']}\n    expr: {chk['expr']}")
            else:
                failed += 1
                self.log(f"CHECK FAILED: {chk['msg']}\n    expr: {chk['expr']}")
                for c in s["connections"]:
                    print("      ", json.dumps(c), file=sys.stderr)
        if failed:
            self.fail(f"{failed} check(s) of the capture or the counters failed")
        return setup_failed

    def replay(self, record=True):
        try:
            expect = json.loads(self.spec["expect"])
        except json.JSONDecodeError as e:
            self.fail(f"expect is not valid JSON: {e}")
        exp_file = self.work / "expect.json"
        exp_file.write_text(json.dumps(expect, indent=4, ensure_ascii=False) + "\n")
        if record and os.environ.get("LP_RECORD") == "1":
            dest = ROOT / "captures" / f"lab-{self.name}"
            shutil.copy(self.pcap, dest.with_suffix(".pcap"))
            shutil.copy(exp_file, dest.with_name(dest.name + ".expect.json"))
            self.log(f"recorded captures/lab-{self.name}.pcap ({self.pcap.stat().st_size} bytes)")
        if not os.access(LP_BIN, os.X_OK):
            self.fail(f"listenprobe is not built ({LP_BIN})")
        p = subprocess.run([str(LP_BIN), "replay", str(self.pcap), "--format", "json"], capture_output=True, text=True)
        (self.work / "out.json").write_text(p.stdout)
        if p.returncode != 0:
            self.fail(f"listenprobe replay exited {p.returncode}: {p.stderr.strip()}")
        out = json.loads(p.stdout)
        for l in out.get("listeners", []):
            aq, sq, sa = l.get("accept_queue", {}), l.get("syn_queue", {}), l.get("synack", {})
            self.log(f"listenprobe: {l.get('address')}:{l.get('port')} {l.get('port_state')} capacity "
                     f"{aq.get('capacity')} [{aq.get('capacity_at_least')}, {aq.get('capacity_at_most')}] "
                     f"backlog {aq.get('backlog')}, on_full {l.get('on_full')}, syncookies {l.get('syncookies')}, "
                     f"syn_queue {sq.get('capacity')} (>= {sq.get('capacity_at_least')}), retries "
                     f"{sa.get('retries')} (>= {sa.get('retries_at_least')}), fates {l.get('fate_counts')}")
        errors = check(expect, out)
        if errors:
            for e in errors:
                print("MISMATCH " + e, file=sys.stderr)
            self.fail("verdicts do not match the truth")
        self.log("verdicts match")
        # Checks of listenprobe's output against the capture's own summary (episodes, counts),
        # on a capture that came out as designed (its setup checks passed).
        failed = 0
        for chk in self.spec.get("output_checks", []) if record else []:
            conns = json.loads((self.work / f"pcapsum-{re.sub('[^0-9a-zA-Z]', '_', self.server)}.json")
                               .read_text())["connections"]
            scope = {"out": out, "l": out["listeners"][0] if out.get("listeners") else {}, "conns": conns, "re": re}
            try:
                ok = bool(eval(chk["expr"], dict(scope, __builtins__=__builtins__)))
            except Exception as e:
                ok = False
                self.log(f"output check raised {type(e).__name__}: {e}")
            if ok:
                self.log(f"output check ok: {chk['msg']}")
            else:
                failed += 1
                self.log(f"OUTPUT CHECK FAILED: {chk['msg']}\n    expr: {chk['expr']}")
                print("       episodes: " + json.dumps(scope["l"].get("episodes")), file=sys.stderr)
        if failed:
            self.fail(f"{failed} check(s) of listenprobe's output failed")

    def cleanup(self):
        for pid in list(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if self.capturing:
            self.labsh("capture-stop", check=False)
        for name, p in self.procs.items():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(3)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait(3)
        self.labsh("down", check=False)

    def run(self, again=False):
        """again: another attempt follows if only setup checks fail (its work dir goes)"""
        ok = False
        try:
            self.log(self.spec["description"].strip().splitlines()[0])
            sysctls = {k: str(v) for k, v in self.spec.get("sysctls", {}).items()}
            self.labsh("up", env=dict(self.env, **sysctls))
            self.log("lab up " + " ".join(f"{k}={v}" for k, v in sysctls.items()))
            for st in self.spec["steps"]:
                self.step(st)
            if self.capturing:
                self.fail("the steps never stop the capture (capture-stop)")
            self.snapshot("end")
            for f in self.run_dir.glob("*.log"):  # the lab's own logs (clients, listeners), for the checks
                shutil.copy(f, self.work / f.name)
            setup_failed = self.run_checks()
            # the verdicts must be right (or honestly unknown) on every capture, also on
            # one whose scenario came out otherwise than designed
            self.replay(record=not setup_failed)
            if setup_failed:
                self.retry = True
                self.fail("the scenario came out otherwise: " + "; ".join(setup_failed))
            ok = True
        except CaseFailed as e:
            print(f"FAIL [{self.name}]: {e}", file=sys.stderr)
        except Terminated:
            TERMINATED.append(1)
            print(f"FAIL [{self.name}]: terminated", file=sys.stderr)
        finally:
            old = signal.signal(signal.SIGTERM, signal.SIG_IGN), signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.cleanup()
            signal.signal(signal.SIGTERM, old[0])
            signal.signal(signal.SIGINT, old[1])
            keep = os.environ.get("LP_KEEP") == "1" or (not ok and not (self.retry and again))
            if keep:
                print(f"[{self.name}] work dir kept: {self.work}", file=sys.stderr)
            else:
                shutil.rmtree(self.work, ignore_errors=True)
            print(f"[{self.name}] {'PASS' if ok else 'FAIL'} in {time.monotonic() - self.t0:.1f} s", file=sys.stderr)
        return ok


def tcpdump_lines(pcap):
    p = subprocess.run(["tcpdump", "-nn", "-tt", "-r", str(pcap)], capture_output=True, text=True)
    return p.stdout.splitlines()


def child_pids(ppid):
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == ppid:
                kids.append(int(d.name))
    return kids


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def preflight():
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces)"
    for t in ("ip", "tcpdump", "ss", "nstat"):
        if not shutil.which(t):
            return f"{t} is not installed"
    for t in ("lab_listener", "lab_synsend"):
        if not os.access(BUILD / t, os.X_OK):
            return f"{BUILD / t} is not built"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    cases = load_cases()
    if a.list:
        # "NAME" or "NAME long": cases marked long = true depend on timing they cannot
        # control (a server's accept() racing a client burst) and run outside CI.
        print("\n".join(f"{n} long" if c.get("long") else n for n, c in cases.items()))
        return 0
    names = list(cases) if a.all else a.cases
    if not names:
        ap.error("name a case, or --all")
    unknown = [n for n in names if n not in cases]
    if unknown:
        print(f"unknown case(s): {' '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    why = preflight()
    if why:
        print(f"FAIL: {why}", file=sys.stderr)
        return 1

    def on_term(*_):
        raise Terminated()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    results = {}
    for n in names:
        if TERMINATED:
            break
        attempts = int(cases[n].get("attempts", 1))
        for k in range(1, attempts + 1):
            case = Case(n, cases[n])
            results[n] = case.run(again=k < attempts)
            if results[n] or not case.retry or TERMINATED:
                break
            if k < attempts:
                print(f"[{n}] recording again (attempt {k + 1} of {attempts})", file=sys.stderr)
    if len(names) > 1:
        for n, ok in results.items():
            print(f"{'PASS' if ok else 'FAIL'} {n}", file=sys.stderr)
        print(f"{sum(results.values())} passed, {len(names) - sum(results.values())} failed")
    return 0 if len(results) == len(names) and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
