#!/usr/bin/env python3
"""Replays every committed capture under captures/ and compares the JSON with
its NAME.expect.json: a subset match (every key in the expectation must be in
the output with an equal value; lists match element by element; null must be
null). Also checks that no committed capture makes the analyzer fail."""
import json
import subprocess
import sys
from pathlib import Path


def match(exp, got, path, errors):
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            errors.append(f"{path}: expected an object, got {got!r}")
            return
        for k, v in exp.items():
            if k not in got:
                errors.append(f"{path}.{k}: missing")
            else:
                match(v, got[k], f"{path}.{k}", errors)
    elif isinstance(exp, list):
        if not isinstance(got, list) or len(got) < len(exp):
            errors.append(f"{path}: expected at least {len(exp)} items, got {got!r}"[:300])
            return
        for i, v in enumerate(exp):
            match(v, got[i], f"{path}[{i}]", errors)
    elif isinstance(exp, float) or isinstance(got, float):
        if got is None or exp is None or abs(float(exp) - float(got)) > 0.05 * max(1.0, abs(float(exp))):
            errors.append(f"{path}: expected {exp!r}, got {got!r}")
    elif exp != got:
        errors.append(f"{path}: expected {exp!r}, got {got!r}")


def main():
    binary, root = sys.argv[1], Path(sys.argv[2])
    expects = sorted(root.glob("*.expect.json"))
    if not expects:
        print("no expectations found under", root)
        return 1
    passed = failed = 0
    for exp_path in expects:
        name = exp_path.name[: -len(".expect.json")]
        caps = [p for p in root.glob(name + ".*") if not p.name.endswith(".expect.json")]
        if len(caps) != 1:
            print(f"FAIL {name}: expected exactly one capture file, found {caps}")
            failed += 1
            continue
        proc = subprocess.run([binary, "replay", str(caps[0]), "--format", "json"], capture_output=True, text=True)
        errors = []
        if proc.returncode != 0:
            errors.append(f"exit {proc.returncode}: {proc.stderr.strip()}")
        else:
            match(json.loads(exp_path.read_text()), json.loads(proc.stdout), "$", errors)
        if errors:
            failed += 1
            print(f"FAIL {caps[0].name}")
            for e in errors:
                print("     ", e)
        else:
            passed += 1
            print(f"ok   {caps[0].name}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
