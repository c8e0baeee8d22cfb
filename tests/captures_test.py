#!/usr/bin/env python3
"""Replays every committed capture under captures/ and compares the JSON with
its NAME.expect.json, with the lab tests' subset matcher (tests/lab/check_json.py:
named keys must match, lists element by element and of equal length, null must
be null, floats within timer tolerance). Also checks that no committed capture
makes the analyzer fail."""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lab"))
from check_json import match  # noqa: E402


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
