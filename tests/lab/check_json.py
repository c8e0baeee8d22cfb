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

Truth expectations: where a value is the configured truth that the capture may
or may not prove, write {"$truth": V} (the analyzer may say "not proven", but
nothing that contradicts V) or {"$truth": V, "$exact": true} (the capture
proves V: only V itself passes). By the key they stand on:
  - "capacity" (accept_queue, syn_queue): the output's capacity == V; or it is
    null and its siblings capacity_at_least (when non-null) <= V and
    capacity_at_most (when non-null) >= V. A non-null bound that excludes V
    fails even next to capacity == V (a bound must always contain the truth).
    With $exact only capacity == V passes (bounds still checked).
  - "backlog": == V, or null (with $exact: == V).
  - "retries" (synack): == V; or null with retries_at_least (when non-null) <= V.
    A retries_at_least above V fails in either case. With $exact: == V.
  - a string V (syncookies, on_full.syn, on_full.ack, port_state, a
    connection's fate): == V, or "unknown" (with $exact: == V).
The key must be present in the output. A truth on any other key, or a truth
object with keys besides $truth and $exact, is an error in the expectation.
Prints every mismatch with its path and exits 1 if there is any, 0 otherwise.
"""
import json
import sys


def tolerance(expected: float) -> float:
    return max(0.25, 0.10 * abs(expected))


def is_truth(exp) -> bool:
    return isinstance(exp, dict) and "$truth" in exp


def is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def match_truth(key, exp, parent, path, errors):
    """A {"$truth": V[, "$exact": true]} expectation on parent[key] (see the docstring)."""
    extra = set(exp) - {"$truth", "$exact"}
    exact = exp.get("$exact", False)
    truth = exp["$truth"]
    if extra or not isinstance(exact, bool):
        errors.append(f"{path}: bad truth expectation {json.dumps(exp)}")
        return
    act = parent[key]
    shown = f"{json.dumps(act)} (truth {json.dumps(truth)}{', exact' if exact else ''})"
    if isinstance(truth, str):
        if act == truth or (act == "unknown" and not exact):
            return
        alt = "" if exact else ' or "unknown"'
        errors.append(f"{path}: expected {json.dumps(truth)}{alt}, got {shown}")
        return
    if not is_count(truth):
        errors.append(f"{path}: unsupported truth {json.dumps(exp)}")
        return
    if act is not None and not is_count(act):
        errors.append(f"{path}: expected a count or null, got {shown}")
        return
    if key == "capacity":
        lo, hi = parent.get("capacity_at_least"), parent.get("capacity_at_most")
        if lo is not None and (not is_count(lo) or lo > truth):
            errors.append(f"{path[:-len(key)]}capacity_at_least: {json.dumps(lo)} excludes the truth {truth}")
        if hi is not None and (not is_count(hi) or hi < truth):
            errors.append(f"{path[:-len(key)]}capacity_at_most: {json.dumps(hi)} excludes the truth {truth}")
    elif key == "retries":
        lo = parent.get("retries_at_least")
        if lo is not None and (not is_count(lo) or lo > truth):
            errors.append(f"{path[:-len(key)]}retries_at_least: {json.dumps(lo)} exceeds the truth {truth}")
    elif key != "backlog":
        errors.append(f"{path}: a numeric truth is only defined on capacity, backlog and retries")
        return
    if act == truth:
        return
    if act is None and not exact:
        return
    errors.append(f"{path}: expected {truth}{'' if exact else ' or null'}, got {shown}")


def match(exp, act, path, errors):
    if is_truth(exp):
        errors.append(f"{path}: a truth expectation must be the value of an object key")
        return
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errors.append(f"{path}: expected an object, got {json.dumps(act)}")
            return
        for k, v in exp.items():
            if k not in act:
                errors.append(f"{path}.{k}: missing (expected {json.dumps(v)})")
            elif is_truth(v):
                match_truth(k, v, act, f"{path}.{k}", errors)
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
