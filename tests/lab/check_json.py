#!/usr/bin/env python3
"""Subset matcher for listenprobe JSON output.

  check_json.py EXPECT ACTUAL

EXPECT and ACTUAL are JSON files ("-" reads stdin; EXPECT may also be the JSON
text itself when it starts with "{"). Rules, applied recursively:
  - object: every key of the expectation must be present in the output and match;
    keys the expectation does not name are ignored;
  - list: same length, matched element by element, in order;
  - null: the output must be null;
  - string, true/false: must be equal;
  - integer: the output must be a number equal to it;
  - float (a number written with a decimal point, e.g. 1.0): the output must be a
    number within max(0.25, 10 %) of it — kernel timers are coalesced.
Prints every mismatch with its path and exits 1 if there is any, 0 otherwise.
"""
import json
import sys


def tolerance(expected: float) -> float:
    return max(0.25, 0.10 * abs(expected))


def match(exp, act, path, errors):
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errors.append(f"{path}: expected an object, got {json.dumps(act)}")
            return
        for k, v in exp.items():
            if k not in act:
                errors.append(f"{path}.{k}: missing (expected {json.dumps(v)})")
            else:
                match(v, act[k], f"{path}.{k}", errors)
    elif isinstance(exp, list):
        if not isinstance(act, list):
            errors.append(f"{path}: expected a list, got {json.dumps(act)}")
            return
        if len(exp) != len(act):
            errors.append(f"{path}: expected {len(exp)} elements, got {len(act)}: {json.dumps(act)[:300]}")
        for i, (e, a) in enumerate(zip(exp, act)):
            match(e, a, f"{path}[{i}]", errors)
    elif exp is None:
        if act is not None:
            errors.append(f"{path}: expected null, got {json.dumps(act)}")
    elif isinstance(exp, bool) or isinstance(exp, str):
        if act != exp or type(act) is not type(exp):
            errors.append(f"{path}: expected {json.dumps(exp)}, got {json.dumps(act)}")
    elif isinstance(exp, int):
        if isinstance(act, bool) or not isinstance(act, (int, float)) or act != exp:
            errors.append(f"{path}: expected {exp}, got {json.dumps(act)}")
    elif isinstance(exp, float):
        if isinstance(act, bool) or not isinstance(act, (int, float)) or abs(act - exp) > tolerance(exp):
            errors.append(f"{path}: expected {exp} ± {tolerance(exp):.2f}, got {json.dumps(act)}")
    else:
        errors.append(f"{path}: unsupported expectation {json.dumps(exp)}")


def load(arg: str):
    if arg == "-":
        return json.load(sys.stdin)
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg) as f:
        return json.load(f)


def check(expected, actual):
    errors = []
    match(expected, actual, "$", errors)
    return errors


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        expected, actual = load(sys.argv[1]), load(sys.argv[2])
    except (OSError, json.JSONDecodeError) as e:
        print(f"check_json: {e}", file=sys.stderr)
        return 2
    errors = check(expected, actual)
    for e in errors:
        print("MISMATCH " + e)
    if not errors:
        print("check_json: all expectations met")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
