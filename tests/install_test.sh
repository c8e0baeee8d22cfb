#!/usr/bin/env bash
# `cmake --install` gives a tool that works on its own, wherever its prefix is put:
#   tests/install_test.sh BUILD_DIR
# Installs BUILD_DIR into a temporary prefix, copies nothing else, moves the prefix to
# another directory (nothing may point back into the build or the source tree), and from
# an unrelated working directory, without LISTENPROBE_PLANS, checks that the installed
# binary prints its version, lists the installed plans (and still does with the source
# tree's probes/ out of reach), finds a plan by name for a probe, replays a capture, and
# that `man -l` shows the page and bash loads the completion.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
src=$(cat "$build/listenprobe-source-dir")
work=$(mktemp -d /tmp/lp-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
unset LISTENPROBE_PLANS
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
mv "$work/prefix" "$work/moved"
p=$work/moved
bin=$p/bin/listenprobe
for f in bin/listenprobe share/listenprobe/probes/all.toml share/listenprobe/probes/baseline.toml \
    share/man/man1/listenprobe.1.gz share/bash-completion/completions/listenprobe; do
    if [[ -f $p/$f ]]; then ok "installed $f"; else bad "not installed: $f"; fi
done
# No path into the build or source tree in what is installed (the binary stripped of its
# debug information, which names the sources it was compiled from, as any debug info does).
# A sanitizer build keeps source file names for its reports: there only the plan
# directory and the build directory must not appear.
strip -o "$work/stripped" "$bin"
pats=(-e "$build" -e "$src/probes")
grep -q '^LP_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" || pats+=(-e "$src")
named=$( (grep -rlF "${pats[@]}" "$p" --exclude=listenprobe; grep -lF "${pats[@]}" "$work/stripped") || true)
if [[ -n $named ]]; then
    bad "installed files name the build or source directory: $named"
else
    ok "no installed file names the build or source directory (the binary checked stripped)"
fi

mkdir "$work/elsewhere"
cd "$work/elsewhere"
if v=$("$bin" --version) && [[ $v =~ ^listenprobe\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [^\)]+\)$ ]]; then
    ok "--version: $v"
else
    bad "--version printed: ${v:-nothing}"
fi

check_plans() {  # check_plans WHAT: the installed binary lists the plans of the installed tree
    local out expected
    expected=$(cd "$p/share/listenprobe/probes" && ls -- *.toml | sed 's/\.toml$//' | sort | tr '\n' ' ')
    if out=$("$bin" plans 2>&1) && [[ $(awk '{print $1}' <<<"$out" | sort | tr '\n' ' ') == "$expected" ]]; then
        ok "$1: plans lists $expected"
    else
        bad "$1: plans printed: $out (expected $expected)"
    fi
}
check_plans "moved prefix, other cwd"
# The plans come from the installed tree, not from the source tree: with a plan added to
# the installed directory only, and the source tree's probes/ out of reach, it is listed.
printf 'description = "installed only"\nsteps = ["baseline"]\n' >"$p/share/listenprobe/probes/zz-installed-only.toml"
check_plans "a plan only the installed tree has"
if "$bin" plans | grep -q '^zz-installed-only  *installed only$'; then ok "its description is shown"; else bad "zz-installed-only not shown"; fi
rm "$p/share/listenprobe/probes/zz-installed-only.toml"
# Without the installed plans, nothing else is found: no source or build path is compiled in.
mv "$p/share/listenprobe/probes" "$p/share/listenprobe/probes.away"
if out=$("$bin" plans 2>&1); then
    bad "plans exited 0 without any plan directory: $out"
elif [[ $out == "listenprobe: no probe plans found (looked in $p/share/listenprobe/probes; set LISTENPROBE_PLANS)" ]]; then
    ok "without its plans: $out"
else
    bad "without its plans it printed: $out"
fi
mv "$p/share/listenprobe/probes.away" "$p/share/listenprobe/probes"
# A plan named for a probe is looked up the same way (the probe then stops at the privilege
# check, or at the missing route: either way after the plan was found).
out=$("$bin" probe 127.0.0.1:9 --plan nosuchplan 2>&1) || true
if [[ $out == *"no plan named nosuchplan in $p/share/listenprobe/probes"* ]]; then
    ok "probe --plan looks in the installed plans: $out"
else
    bad "probe --plan nosuchplan printed: $out"
fi
cp "$src/captures/lab-overflow-drop.pcap" "$work/elsewhere/c.pcap"
if "$bin" replay c.pcap --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["listeners"]'; then
    ok "replay of a capture works"
else
    bad "replay of a capture failed"
fi

if page=$(MANPAGER=cat MANWIDTH=80 man -l "$p/share/man/man1/listenprobe.1.gz" 2>&1) &&
    grep -q 'LISTENPROBE(1)' <<<"$page" && grep -q 'EXIT STATUS' <<<"$page" && grep -q 'replay' <<<"$page"; then
    ok "man -l shows the page ($(wc -l <<<"$page") lines)"
else
    bad "man -l: ${page:0:300}"
fi
warn=$(MANPAGER=cat MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$p/share/man/man1/listenprobe.1.gz" 2>&1 >/dev/null || true)
if [[ -z $warn ]]; then ok "man --warnings: none"; else bad "man --warnings: ${warn:0:300}"; fi
if comp=$(bash -c 'source "$1" && complete -p listenprobe' _ "$p/share/bash-completion/completions/listenprobe" 2>&1) &&
    [[ $comp == "complete -F _listenprobe listenprobe" ]]; then
    ok "bash completion loads: $comp"
else
    bad "bash completion: $comp"
fi
words=$(bash -c 'source "$1"; COMP_WORDS=(listenprobe re); COMP_CWORD=1; _listenprobe; echo "${COMPREPLY[*]}"' _ \
    "$p/share/bash-completion/completions/listenprobe" 2>&1)
if [[ $words == replay ]]; then ok "completion of 're': $words"; else bad "completion of 're': $words"; fi
words=$(PATH=$p/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(listenprobe probe x --plan ba); COMP_CWORD=4; _listenprobe; echo "${COMPREPLY[*]}"' _ \
    "$p/share/bash-completion/completions/listenprobe" 2>&1)
if [[ $words == baseline ]]; then ok "completion of --plan 'ba': $words"; else bad "completion of --plan 'ba': $words"; fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
