#!/usr/bin/env python3
"""Unit test of the lab tests' subset matcher (tests/lab/check_json.py), above all
its truth expectations {"$truth": V[, "$exact": true]}: what must pass and what
must fail. Run by CTest (`check_json`)."""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lab"))
from check_json import check  # noqa: E402

T6 = {"$truth": 6}
T6X = {"$truth": 6, "$exact": True}


def aq(capacity, at_least=None, at_most=None, backlog=None):
    return {"accept_queue": {"capacity": capacity, "capacity_at_least": at_least,
                             "capacity_at_most": at_most, "backlog": backlog}}


class Plain(unittest.TestCase):
    def test_subset_rules_unchanged(self):
        self.assertEqual(check({"a": 1, "b": None, "c": "x"}, {"a": 1, "b": None, "c": "x", "d": 5}), [])
        self.assertEqual(check({"t": 1.0}, {"t": 1.2}), [])
        self.assertTrue(check({"t": 1.0}, {"t": 1.3}))
        self.assertTrue(check({"a": 1}, {"a": None}))
        self.assertTrue(check({"a": None}, {"a": 0}))
        self.assertTrue(check({"l": [{}, {}]}, {"l": [{}]}))
        self.assertTrue(check({"a": 1}, {}))
        self.assertEqual(check({}, {"x": 1}), [])


class CapacityTruth(unittest.TestCase):
    def ok(self, exp, out):
        self.assertEqual(check({"accept_queue": {"capacity": exp}}, out), [], out)

    def bad(self, exp, out):
        self.assertTrue(check({"accept_queue": {"capacity": exp}}, out), out)

    def test_equal_passes(self):
        self.ok(T6, aq(6))
        self.ok(T6X, aq(6))
        self.ok(T6X, aq(6, 6, 6))

    def test_other_value_fails(self):
        self.bad(T6, aq(5))
        self.bad(T6, aq(7))
        self.bad(T6X, aq(7))

    def test_null_with_bounds_around_truth(self):
        self.ok(T6, aq(None))
        self.ok(T6, aq(None, 6, None))
        self.ok(T6, aq(None, None, 6))
        self.ok(T6, aq(None, 2, 9))

    def test_null_with_a_bound_that_excludes_the_truth(self):
        self.bad(T6, aq(None, 7, None))
        self.bad(T6, aq(None, None, 5))
        self.bad(T6, aq(None, 7, 9))
        self.bad(T6, aq(None, 1, 5))

    def test_exact_refuses_null(self):
        self.bad(T6X, aq(None))
        self.bad(T6X, aq(None, 6, 6))

    def test_a_bound_next_to_the_right_value_must_contain_it(self):
        self.bad(T6, aq(6, 7, None))
        self.bad(T6X, aq(6, None, 5))

    def test_missing_siblings_are_no_bound(self):
        self.ok(T6, {"accept_queue": {"capacity": None}})
        self.ok(T6, {"accept_queue": {"capacity": 6}})

    def test_missing_key_fails(self):
        self.bad(T6, {"accept_queue": {}})
        self.bad(T6, {})

    def test_not_a_count_fails(self):
        self.bad(T6, aq("6"))
        self.bad(T6, aq(True))
        self.bad(T6, aq(None, "7"))

    def test_syn_queue_has_only_a_lower_bound(self):
        exp = {"syn_queue": {"capacity": {"$truth": 5}}}
        self.assertEqual(check(exp, {"syn_queue": {"capacity": None, "capacity_at_least": 5}}), [])
        self.assertEqual(check(exp, {"syn_queue": {"capacity": 5, "capacity_at_least": None}}), [])
        self.assertTrue(check(exp, {"syn_queue": {"capacity": None, "capacity_at_least": 6}}))
        self.assertTrue(check(exp, {"syn_queue": {"capacity": 6, "capacity_at_least": None}}))


class BacklogTruth(unittest.TestCase):
    def test_backlog(self):
        e = {"accept_queue": {"backlog": {"$truth": 5}}}
        ex = {"accept_queue": {"backlog": {"$truth": 5, "$exact": True}}}
        self.assertEqual(check(e, aq(None, backlog=5)), [])
        self.assertEqual(check(e, aq(None, backlog=None)), [])
        self.assertTrue(check(e, aq(None, backlog=4)))
        self.assertEqual(check(ex, aq(6, backlog=5)), [])
        self.assertTrue(check(ex, aq(None, backlog=None)))
        self.assertTrue(check(ex, aq(7, backlog=6)))


class RetriesTruth(unittest.TestCase):
    def run_case(self, exp, retries, at_least):
        return check({"synack": {"retries": exp}}, {"synack": {"retries": retries, "retries_at_least": at_least}})

    def test_retries(self):
        t = {"$truth": 5}
        self.assertEqual(self.run_case(t, 5, 5), [])
        self.assertEqual(self.run_case(t, None, 3), [])
        self.assertEqual(self.run_case(t, None, 5), [])
        self.assertEqual(self.run_case(t, None, None), [])
        self.assertTrue(self.run_case(t, None, 6))
        self.assertTrue(self.run_case(t, 4, 4))
        self.assertTrue(self.run_case(t, 6, 6))
        self.assertTrue(self.run_case(t, 5, 6))

    def test_exact_retries(self):
        t = {"$truth": 2, "$exact": True}
        self.assertEqual(self.run_case(t, 2, 2), [])
        self.assertTrue(self.run_case(t, None, 2))


class StringTruth(unittest.TestCase):
    def test_verdicts(self):
        e = {"syncookies": {"$truth": "on-overflow"}, "on_full": {"syn": {"$truth": "drop"}}}
        self.assertEqual(check(e, {"syncookies": "on-overflow", "on_full": {"syn": "drop"}}), [])
        self.assertEqual(check(e, {"syncookies": "unknown", "on_full": {"syn": "unknown"}}), [])
        self.assertEqual(len(check(e, {"syncookies": "off", "on_full": {"syn": "rst"}})), 2)
        self.assertTrue(check(e, {"syncookies": None, "on_full": {"syn": "drop"}}))

    def test_exact_verdict(self):
        e = {"port_state": {"$truth": "open", "$exact": True}}
        self.assertEqual(check(e, {"port_state": "open"}), [])
        self.assertTrue(check(e, {"port_state": "unknown"}))
        self.assertTrue(check(e, {"port_state": "closed"}))

    def test_fate_in_a_list(self):
        e = {"connections": [{"fate": {"$truth": "queued"}}, {"fate": {"$truth": "syn-dropped", "$exact": True}}]}
        self.assertEqual(check(e, {"connections": [{"fate": "unknown"}, {"fate": "syn-dropped"}]}), [])
        self.assertTrue(check(e, {"connections": [{"fate": "cookie"}, {"fate": "syn-dropped"}]}))
        self.assertTrue(check(e, {"connections": [{"fate": "queued"}, {"fate": "unknown"}]}))


class BadExpectations(unittest.TestCase):
    def test_errors_in_the_expectation(self):
        self.assertTrue(check({"port": {"$truth": 8081}}, {"port": 8081}))
        self.assertTrue(check({"accept_queue": {"capacity": {"$truth": 6, "$exactly": True}}}, aq(6)))
        self.assertTrue(check({"accept_queue": {"capacity": {"$truth": 6, "$exact": 1}}}, aq(6)))
        self.assertTrue(check({"accept_queue": {"capacity": {"$truth": 6.0}}}, aq(6)))
        self.assertTrue(check({"l": [{"$truth": 1}]}, {"l": [1]}))


if __name__ == "__main__":
    unittest.main(verbosity=1)
