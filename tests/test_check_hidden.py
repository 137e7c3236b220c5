"""dlcourse.check.hidden and the redaction of hidden cases (``dlcourse.check.report``)."""

import pickle

import numpy as np
import pytest

from dlcourse import check
from dlcourse.check import (
    SECRET_ENV,
    Report,
    call_student,
    case_label,
    compare,
    hidden,
    start_case,
    verdict,
)

# ----------------------------------------------------------------------------- hidden cases


@pytest.fixture
def secret():
    """Sets the course secret for a test (``check.use_secret``); unset before and after."""
    check.use_secret(None)
    yield check.use_secret
    check.use_secret(None)


def test_hidden_seeds_come_from_the_secret_and_the_case_number(secret):
    secret("term-1")
    first = [int(hidden(k)) for k in (1, 2, 3)]
    assert [int(hidden(k)) for k in (1, 2, 3)] == first  # one secret: the same cases
    assert len(set(first)) == 3 and all(0 <= s < 2**31 for s in first)
    secret("term-2")
    assert not set(int(hidden(k)) for k in (1, 2, 3)) & set(first)  # a new term: new cases


def test_a_hidden_seed_prints_as_its_case_and_travels_as_a_plain_int(secret):
    secret("term-1")
    seed = hidden(2)
    assert (repr(seed), str(seed), f"{seed}") == ("hidden(2)",) * 3
    assert type(pickle.loads(pickle.dumps(seed))) is int  # what a student's kernel gets
    assert pickle.loads(pickle.dumps(seed)) == seed and seed + 1 == int(seed) + 1


def test_hidden_needs_the_course_secret(secret, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(RuntimeError, match="hidden cases need the course's secret"):
        hidden(1)
    monkeypatch.setenv(SECRET_ENV, "instructor")  # the instructors' own runs
    from_env = int(hidden(1))
    secret("instructor")
    assert int(hidden(1)) == from_env


def test_a_hidden_case_is_labelled_by_its_number_only(secret):
    secret("term-1")
    assert case_label(seed=hidden(4), N=101, D=7) == "hidden case 4"
    assert case_label(N=101, seed=hidden(4)) == "hidden case 4"
    assert case_label(seed=4, N=101) == "seed=4, N=101"


class Shape101Error(Exception):
    """An exception whose name a student chose to carry a hidden case's size."""


def _hidden_report(seed: int) -> Report:
    """A hidden case's report that fails in every way a check records: a shape, values, a
    property, exceptions (a builtin one and a student's own), all mentioning the case's size."""
    report, _ = start_case("t", ["shape", "values", "property", "call", "own"], seed, points=5)
    case = case_label(seed=seed, N=101)
    report.add(compare("shape", np.zeros((3, 101)), np.zeros((101, 3)), case=case))
    report.add(compare("values", np.full(101, 2.0), np.ones(101), case=f"{case}, w.r.t. x"))
    report.add(verdict("property", False, "101 rows, expected 3", case=case))

    def fails(error):
        raise error

    call_student(report, case, fails, ValueError("N=101"), name="f", quantities=["call"])
    call_student(report, case, fails, Shape101Error(), name="f", quantities=["own"])
    return report


def test_hidden_case_results_show_what_failed_but_no_size_value_or_message(secret):
    secret("term-1")
    seed = hidden(1)
    text = str(_hidden_report(seed))
    assert "101" not in text and str(int(seed)) not in text
    assert text.splitlines()[1:] == [
        "  ✗ shape [hidden case 1]: fails",
        "  ✗ values [hidden case 1]: fails: max abs error ~1e+00, max rel error ~1e+00",
        "      ↳ yours is off by one: do you count from 0 where the count starts at 1 (or the "
        "other way), or include an end that should be left out?",
        "  ✗ property [hidden case 1]: fails",
        "  ✗ call [hidden case 1]: fails: raised ValueError",
        "  ✗ own [hidden case 1]: fails: raised an exception",
    ]
    assert all(c.worst_index is c.yours is c.expected is None for c in _hidden_report(seed))


def test_a_visible_case_keeps_its_full_messages():
    text = str(_hidden_report(3))
    assert "shape [seed=3, N=101]: yours has shape (3, 101), expected (101, 3)" in text
    assert "call [seed=3, N=101]: raised ValueError: N=101" in text


def test_redaction_keeps_verdicts_and_points(secret):
    secret("term-1")
    report = Report("t", ["a", "b"], worth=2)
    case = case_label(seed=hidden(1), N=5)
    report.add(compare("a", np.ones(5), np.ones(5), case=case))  # also without start_case
    report.add(compare("b", np.full(5, 38.0), np.full(5, 1.0), case=f"{case}, w.r.t. x"))
    assert [c.message for c in report] == [
        "a [hidden case 1]: passes: max abs error ~0, max rel error ~0",
        "b [hidden case 1]: fails: max abs error ~1e+02, max rel error ~1e+00",
    ]
    assert report.passed("a") and not report.passed("b") and report.points() == 1.0
    visible = Report("t", ["a"])
    visible += report  # merged: stays redacted
    assert [c.message for c in visible] == [c.message for c in report]
