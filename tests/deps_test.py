#!/usr/bin/env python3
"""Every external command the scripts and tests run comes from a package `deps` installs.

Usage: deps_test.py SOURCE_DIR [--list]

Scans lab/*.sh, tests/**/*.sh, tests/**/*.py, Makefile.helpers (recipes), .ci/run,
fuzz/run.sh, bench/*.sh and completion/*.bash for the commands they invoke:
  * shell: the word in command position (start of a line, after ; & | && || ( { $( `
    and after then/do/else/elif/if/while/until/!), also after exec, command, env,
    timeout, nice, nohup, xargs, setpriv/capsh/unshare options, `ip netns exec NS` and
    `sh -c '...'`; comments, here-documents and case patterns are skipped, $(...) and
    backquotes inside double quotes are scanned, `command -v X` / `type X` name X;
  * Python: the first string of a command list passed to subprocess.* or a sh() helper,
    a list literal whose first string is followed by an option string, and the
    argument of shutil.which().
Then each command is looked up on PATH and `dpkg -S` names the package that ships it. It
must be in PACKAGES (Makefile.helpers), in what they depend on (Depends/Pre-Depends,
recursively: apt installs those), or in the base system every Debian has (Essential: yes
or Priority: required, which is what a minimal Debian root holds, and apt, which the deps
target runs).

What is not a command: shell builtins and keywords (BUILTINS below), functions and
variables the scripts define, the project's own programs and scripts (PROJECT), and words
the scanner cannot tell from a command (NOT_COMMANDS, each with the reason). A command
that is not installed at all fails too (it cannot come from PACKAGES).
Prints one line per command; exits 1 if any fails. --list only prints what was found.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Bash builtins and keywords (bash(1) SHELL BUILTIN COMMANDS, RESERVED WORDS).
BUILTINS = set("""
    . : [ [[ ]] alias bg bind break builtin caller case cd command compgen complete compopt continue
    declare dirs disown do done echo elif else enable esac eval exec exit export false fc fg fi for
    function getopts hash help history if in jobs kill let local logout mapfile popd printf pushd pwd
    read readarray readonly return select set shift shopt source suspend test then time times trap
    true type typeset ulimit umask unalias unset until wait while { } ! coproc
""".split())

# The project's own programs and scripts (built here, or in the tree).
PROJECT = {"listenprobe", "lab_listener", "lab_synsend", "lp_gencap", "lp_bareloop", "lp_guard_check",
           "fuzz_decode", "fuzz_replay", "fuzz_tcpdump_text", "lp_unit_tests", "lp_probe_unit_tests"}

# Words in command position that are not commands, with the reason.
NOT_COMMANDS = {
    "NF": "awk's $(NF) inside a single-quoted awk program",
    "i": "awk's $(i) inside a single-quoted awk program",
    "chromium-browser": "what other distributions call chromium: tests/render_svg.sh looks it up only "
                        "when chromium is missing",
    "_init_completion": "bash-completion's helper, called by the completion only when it is loaded",
}
# listenprobe's subcommands: first in the argument lists tests/bad_input_test.py builds.
NOT_COMMANDS.update({sub: "a listenprobe subcommand in an argument list"
                     for sub in ("replay", "probe", "timeline", "plans", "cleanup")})

# Commands that wrap another command: skip their options (and N leading operands), then
# the next word is a command too.
WRAPPERS = {"exec": 0, "command": 0, "env": 0, "nice": 0, "nohup": 0, "xargs": 0, "stdbuf": 0,
            "timeout": 1, "setpriv": 0, "unshare": 0, "taskset": 1, "chroot": 1, "sudo": 0}

SEPARATORS = {";", "&", "|", "&&", "||", "(", "{", "$(", "`", "then", "do", "else", "elif", "if", "while",
              "until", "!", "time", ";;", "|&", "))", "(("}


def shell_tokens(text):
    """Tokens of shell text: (kind, value, line). kind: word, op, sq (single-quoted), sub (text of $( )
    or backquotes found inside double quotes). Here-document bodies and comments are dropped."""
    toks = []
    i, n, line = 0, len(text), 1
    heredocs = []
    word = ""
    word_line = 1

    def flush():
        nonlocal word
        if word:
            toks.append(("word", word, word_line))
            word = ""

    while i < n:
        c = text[i]
        if c == "\n":
            flush()
            toks.append(("op", "\n", line))
            line += 1
            i += 1
            # here-document bodies start on the next line
            for delim in heredocs:
                while i < n:
                    end = text.find("\n", i)
                    end = n if end < 0 else end
                    body_line = text[i:end]
                    i = end + 1
                    line += 1
                    if body_line.strip() == delim:
                        break
            heredocs = []
            continue
        if c in " \t":
            flush()
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                line += 1
                i += 2
                continue
            if not word:
                word_line = line
            word += text[i + 1]
            i += 2
            continue
        if c == "#" and not word:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "'":
            end = text.find("'", i + 1)
            end = n if end < 0 else end
            content = text[i + 1:end]
            if not word:
                word_line = line
            toks.append(("sq", content, line))
            word += "\x00sq"  # a quoted piece: the word is not a plain command name
            line += content.count("\n")
            i = end + 1
            continue
        if c == '"':
            j, subs = scan_dq(text, i)
            if not word:
                word_line = line
            for sub in subs:
                toks.append(("sub", sub, line))
            word += "\x00dq:" + text[i + 1:j - 1]
            line += text.count("\n", i, j)
            i = j
            continue
        if text.startswith("$((", i) or (text.startswith("((", i) and not word):
            # arithmetic: no command inside
            j = skip_parens(text, i + (1 if c == "$" else 0))
            if c == "$":
                if not word:
                    word_line = line
                word += "\x00arith"
            else:
                flush()
            line += text.count("\n", i, j)
            i = j
            continue
        if c == "(" and word.endswith("=") and re.match(r"^[A-Za-z_]\w*\+?=$", word):
            # an array assignment VAR=( ... )
            j = skip_parens(text, i)
            word += "\x00array"
            line += text.count("\n", i, j)
            i = j
            continue
        if c == "$" and text.startswith("$(", i) and not text.startswith("$((", i):
            flush()
            toks.append(("op", "$(", line))
            i += 2
            continue
        if c == "$" and i + 1 < n and text[i + 1] == "{":
            depth, j = 0, i + 1
            while j < n:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if not word:
                word_line = line
            word += text[i:j + 1]
            i = j + 1
            continue
        if c == "<" and text.startswith("<<", i) and not text.startswith("<<<", i):
            m = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", text[i:])
            if m:
                flush()
                heredocs.append(m.group(2))
                i += m.end()
                continue
        for op in ("&>>", "&>", ">&", "<&", ">>", "&&", "||", ";;", "|&", "))", ";", "&", "|", "(", ")", "`", "<",
                   ">"):
            if text.startswith(op, i):
                flush()
                toks.append(("op", op, line))
                i += len(op)
                break
        else:
            if not word:
                word_line = line
            word += c
            i += 1
    flush()
    return toks


def skip_parens(text, i):
    """Index after the parenthesis that closes the one at text[i] (quotes respected)."""
    depth, j, n = 0, i, len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            e = text.find("'", j + 1)
            j = n if e < 0 else e + 1
            continue
        if c == '"':
            j, _ = scan_dq(text, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return n


def scan_dq(text, i):
    """text[i] is a double quote: (index after the closing quote, command texts of the $( )
    and backquotes inside, which may hold quotes of their own)."""
    subs, j, n = [], i + 1, len(text)
    while j < n and text[j] != '"':
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith("$((", j):
            j = skip_parens(text, j + 1)
            continue
        if text.startswith("$(", j):
            e = skip_parens(text, j + 1)
            subs.append(text[j + 2:e - 1])
            j = e
            continue
        if text[j] == "`":
            e = text.find("`", j + 1)
            e = n if e < 0 else e
            subs.append(text[j + 1:e])
            j = e + 1
            continue
        j += 1
    return j + 1, subs


def substitutions(s):
    """The command texts of $( ... ) and `...` in a text (single-quoted code for eval)."""
    return scan_dq('"' + s.replace('"', "'") + '"', 0)[1]


def shell_commands(text, where, found, defined, depth=0):
    """Adds (command -> [where:line]) for shell text; records function names in `defined`."""
    toks = shell_tokens(text)
    for m in re.finditer(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\s*\)", text, re.M):
        defined.add(m.group(1))
    for m in re.finditer(r"^\s*function\s+([A-Za-z_][\w-]*)", text, re.M):
        defined.add(m.group(1))
    for m in re.finditer(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\s*\)\s*\{", text, re.M):
        name, body = m.group(1), function_body(text, m.end() - 1)
        # A function that runs its arguments ("$@") is a wrapper: after its own operands
        # (one per `shift`), the next word is a command.
        if re.search(r'(?:^|[;{&|]\s*|\b(?:timeout\s+\S+|exec|env|command|ip\s+netns\s+exec\s+\S+)\s+)"\$@"',
                     body, re.M):
            WRAPPER_FUNCTIONS[name] = len(re.findall(r"\bshift\b", body))
    for m in re.finditer(r"^\s*function\s+([A-Za-z_][\w-]*)", text, re.M):
        defined.add(m.group(1))
    at_cmd = True
    case_depth = 0
    in_pattern = False
    wrapper = None  # (name, operands to skip)
    k = 0
    while k < len(toks):
        kind, val, line = toks[k]
        if kind == "sub":
            shell_commands(val, f"{where}:{line}", found, defined, depth + 1)
            k += 1
            continue
        if kind == "sq":
            # Single-quoted text is code only for eval-like callers; scan its $( ) (check '...', trap '...').
            for sub in substitutions(val):
                shell_commands(sub, f"{where}:{line}", found, defined, depth + 1)
            k += 1
            continue
        if kind == "op":
            if val in ("\n", ";", "&", "|", "&&", "||", "(", "$(", "`", "|&", "((", "))"):
                at_cmd = True
                wrapper = None
            if val == ";;" or val == ";&":
                in_pattern = case_depth > 0
                at_cmd = not in_pattern
            if val == ")" and in_pattern:
                in_pattern = False
                at_cmd = True
            if val in ("<", ">", ">>", ">&", "<&", "&>", "&>>"):
                k += 2 if k + 1 < len(toks) and toks[k + 1][0] == "word" else 1  # a redirection target
                continue
            k += 1
            continue
        # a word
        if in_pattern:
            k += 1
            continue
        if val == "case":
            case_depth += 1
            at_cmd = False
            # skip to `in`
            while k < len(toks) and not (toks[k][0] == "word" and toks[k][1] == "in"):
                k += 1
            in_pattern = True
            k += 1
            continue
        if val == "esac":
            case_depth -= 1
            in_pattern = False
            at_cmd = False
            k += 1
            continue
        if in_pattern is False and case_depth > 0 and at_cmd and k + 1 < len(toks) and \
                toks[k + 1] == ("op", ")", toks[k + 1][2]) and toks[k - 1][1] == "\n":
            # a case pattern on its own line after `in` or `;;`
            k += 1
            continue
        if not at_cmd:
            k += 1
            continue
        if val in SEPARATORS:
            k += 1
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", val):  # VAR=value before a command
            k += 1
            continue
        if wrapper:
            name, skip = wrapper
            if val.startswith("-") or (name == "env" and "=" in val):
                if name == "timeout" and val in ("-s", "-k", "--signal", "--kill-after"):
                    k += 2
                    continue
                k += 1
                continue
            if skip > 0:
                wrapper = (name, skip - 1)
                k += 1
                continue
        at_cmd = False
        wrapper = None
        name = val
        if name in ("for", "select"):
            k += 1
            continue
        if name in BUILTINS and name not in WRAPPERS:
            if name in ("command", "type") or name == "hash":
                pass
            k += 1
            # `command -v X`, `type -P X`: X is a command the script looks for
            if name in ("type",):
                while k < len(toks) and toks[k][0] == "word" and toks[k][1].startswith("-"):
                    k += 1
                if k < len(toks) and toks[k][0] == "word":
                    add(found, toks[k][1], f"{where}:{toks[k][2]}")
            continue
        if name == "command" and k + 1 < len(toks) and toks[k + 1][1] in ("-v", "-V"):
            k += 2
            while k < len(toks) and toks[k][0] == "word":
                if toks[k][1].isdigit() and k + 1 < len(toks) and toks[k + 1][1][:1] in "<>":
                    break  # 2>/dev/null: a redirection, not a name
                add(found, toks[k][1], f"{where}:{toks[k][2]}")
                k += 1
            continue
        if name in WRAPPERS or name in WRAPPER_FUNCTIONS:
            if name in WRAPPERS and name not in BUILTINS:
                add(found, name, f"{where}:{line}")
            wrapper = (name, WRAPPERS.get(name, WRAPPER_FUNCTIONS.get(name, 0)))
            at_cmd = True
            k += 1
            continue
        if re.fullmatch(r"\x00dq:\$\{[A-Za-z_]\w*\[@\]\}", name):
            # "${PREFIX[@]}" in command position: an array holding a command prefix
            at_cmd = True
            k += 1
            continue
        add(found, name, f"{where}:{line}")
        # ip netns exec NS CMD: CMD is a command too
        if name == "ip" and k + 3 < len(toks) and toks[k + 1][1] == "netns" and toks[k + 2][1] == "exec":
            k += 4
            at_cmd = True
            continue
        # sh -c 'CMD', bash -c 'CMD'
        if name in ("sh", "bash") and k + 2 < len(toks) and toks[k + 1][1] == "-c" and toks[k + 2][0] == "sq":
            shell_commands(toks[k + 2][1], f"{where}:{line}", found, defined, depth + 1)
            k += 3
            continue
        k += 1


WRAPPER_FUNCTIONS = {}


def function_body(text, i):
    """The text between the brace at text[i] and the one that closes it (quotes respected)."""
    depth, j, n = 0, i, len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            e = text.find("'", j + 1)
            j = n if e < 0 else e + 1
            continue
        if c == '"':
            j, _ = scan_dq(text, j)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
        j += 1
    return text[i + 1:]


def add(found, name, where):
    found.setdefault(name, []).append(where)


PY_CALL = re.compile(r"""(?:subprocess\.(?:run|Popen|call|check_call|check_output)|\bsh)\(\s*\[?\s*["']([^"'\s]+)["']""")
PY_LIST = re.compile(r"""\[\s*["']([A-Za-z][\w.+-]*)["']\s*,\s*["'](-[^"']*)["']""")
PY_WHICH = re.compile(r"""shutil\.which\(\s*["']([^"']+)["']""")


def python_commands(text, where, found):
    for rx in (PY_CALL, PY_LIST, PY_WHICH):
        for m in rx.finditer(text):
            add(found, m.group(1), f"{where}:{text.count(chr(10), 0, m.start()) + 1}")


def makefile_recipes(text):
    """The recipe lines of a makefile as shell text ($$ -> $, make variables -> a placeholder)."""
    text = text.replace("\\\n", " ")
    lines = [ln[1:] for ln in text.split("\n") if ln.startswith("\t")]
    sh = "\n".join(lines).replace("$$", "\x01")
    sh = re.sub(r"\$\((MAKE)\)", "make", sh)
    while True:
        again = re.sub(r"\$\([^()]*\)", "MAKEVAR", sh)
        again = re.sub(r"\$\{[^{}]*\}", "MAKEVAR", again)
        if again == sh:
            break
        sh = again
    sh = sh.replace("\x01", "$").replace("@", "")
    return sh


def packages_of_makefile(text):
    m = re.search(r"^PACKAGES\s*:?=((?:.*\\\n)*.*)$", text, re.M)
    return m.group(1).replace("\\\n", " ").split() if m else []


def dpkg_db():
    fmt = "${Package}\t${Essential}\t${Priority}\t${Depends}\t${Pre-Depends}\t${Provides}\t${db:Status-Status}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    pkgs, provides = {}, {}
    for ln in out.splitlines():
        f = ln.split("\t")
        if len(f) < 7 or f[6] != "installed":
            continue
        name = f[0]
        deps = []
        for field in (f[3], f[4]):
            for alt in filter(None, (x.strip() for x in field.split(","))):
                deps.append([re.sub(r"[\s(:].*", "", a.strip()) for a in alt.split("|")])
        pkgs[name] = {"base": f[1] == "yes" or f[2] == "required", "deps": deps}
        for p in filter(None, (x.strip() for x in f[5].split(","))):
            provides.setdefault(re.sub(r"[\s(:].*", "", p), []).append(name)
    return pkgs, provides


def closure(roots, pkgs, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        for real in ([p] if p in pkgs else []) + provides.get(p, []):
            if real in seen:
                continue
            seen.add(real)
            for alt in pkgs[real]["deps"]:
                todo.extend(a for a in alt if a in pkgs or a in provides)
    return seen


def candidates(cmd_path):
    """The paths dpkg may know cmd_path by: itself, the links it goes through (alternatives),
    the file it resolves to, each with and without the /usr merge."""
    tried = []
    p = cmd_path
    for _ in range(10):
        tried.append(p)
        if not os.path.islink(p):
            break
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    tried.append(os.path.realpath(cmd_path))
    out = []
    for cand in tried:
        out.append(cand)
        if cand.startswith("/usr/bin/") or cand.startswith("/usr/sbin/"):
            out.append(cand[4:])
        elif cand.startswith("/bin/") or cand.startswith("/sbin/"):
            out.append("/usr" + cand)
    return list(dict.fromkeys(os.path.normpath(c) for c in out))


def owners(paths):
    """path -> package, for the paths dpkg knows (one dpkg -S for all)."""
    if not paths:
        return {}
    r = subprocess.run(["dpkg", "-S"] + sorted(set(paths)), capture_output=True, text=True)
    found = {}
    for ln in r.stdout.splitlines():
        pkg, sep, path = ln.partition(": ")
        if sep and not pkg.startswith("diversion"):
            found.setdefault(path.strip(), pkg.split(",")[0].split(":")[0].strip())
    return found


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(sys.argv[1]).resolve()
    list_only = "--list" in sys.argv
    files = []
    for pat in ("lab/*.sh", "tests/**/*.sh", "tests/**/*.py", "fuzz/run.sh", "bench/*.sh", ".ci/run",
                "Makefile.helpers", "completion/*.bash"):
        files += sorted(Path(p) for p in glob.glob(str(root / pat), recursive=True))
    found, defined = {}, set()
    for f in files:
        rel = str(f.relative_to(root))
        text = f.read_text(errors="replace")
        if f.suffix == ".py":
            python_commands(text, rel, found)
        elif f.name == "Makefile.helpers":
            shell_commands(makefile_recipes(text), rel, found, defined)
        else:
            shell_commands(text, rel, found, defined)
            # Python inside here-documents (python3 - <<'PY' ... PY) may run commands too.
            for m in re.finditer(r"<<-?\s*'?PY'?\n(.*?)\nPY\n", text, re.S):
                python_commands(m.group(1), rel, found)
    packages = packages_of_makefile((root / "Makefile.helpers").read_text())
    if not packages:
        print("FAIL no PACKAGES in Makefile.helpers")
        return 1
    pkgs, provides = dpkg_db()
    missing_pkgs = [p for p in packages if p not in pkgs]
    allowed = closure([p for p in packages if p in pkgs], pkgs, provides)
    # apt: the deps target itself runs apt-get, so every root it works on has it (a minimal
    # root made by mmdebstrap/debootstrap --variant=minbase holds it with Priority: important)
    base = {p for p, v in pkgs.items() if v["base"]} | ({"apt"} & set(pkgs))
    allowed_base = closure(base, pkgs, provides)

    search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    paths = {cmd: shutil.which(cmd, path=search) for cmd in found}
    cands = {cmd: candidates(p) for cmd, p in paths.items() if p}
    known = owners([c for cs in cands.values() for c in cs])
    passed = failed = 0
    for p in missing_pkgs:
        print(f"FAIL package {p} of PACKAGES is not installed (run make -f Makefile.helpers deps)")
        failed += 1
    for cmd in sorted(found):
        uses = found[cmd]
        shown = f"{cmd:<16} ({uses[0]}{', +%d more' % (len(uses) - 1) if len(uses) > 1 else ''})"
        if (cmd in BUILTINS or cmd in defined or cmd in PROJECT or cmd in NOT_COMMANDS or "/" in cmd or
                "$" in cmd or "\x00" in cmd or cmd == "MAKEVAR" or not re.match(r"^[A-Za-z0-9_][\w.+-]*$", cmd)):
            continue
        if list_only:
            print(shown)
            continue
        path = paths[cmd]
        if not path:
            print(f"FAIL {shown}: not installed; add the package that provides it to PACKAGES")
            failed += 1
            continue
        pkg = next((known[c] for c in cands[cmd] if c in known), None)
        if pkg is None:
            print(f"FAIL {shown}: {path} belongs to no Debian package (installed by hand?)")
            failed += 1
        elif pkg in allowed:
            print(f"ok   {shown}: {pkg}" + ("" if pkg in packages else " (pulled in by PACKAGES)"))
            passed += 1
        elif pkg in allowed_base:
            print(f"ok   {shown}: {pkg} (base system)")
            passed += 1
        else:
            print(f"FAIL {shown}: {pkg} is not in PACKAGES nor pulled in by them")
            failed += 1
    if list_only:
        return 0
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
