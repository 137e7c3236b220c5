"""dlcourse.check.report: compare, rel_error, the messages and the Report."""

import numpy as np
import pytest
import torch

from dlcourse.check import Comparison, Report, case_label, compare, rel_error, verdict

CASE = case_label(seed=3, N=6, D=2)


# ----------------------------------------------------------------------------- compare


def test_compare_reports_worst_index_and_both_values():
    c = compare("grad_w", np.array([0.1, -0.12]), np.array([0.1, 0.12]), case=CASE)
    assert not c.ok
    assert c.message == (
        "grad_w [seed=3, N=6, D=2]: max abs error 2.4e-01, max rel error "
        "1.0e+00 at index (1,): yours -0.1200, expected 0.1200"
    )
    assert (c.worst_index, c.yours, c.expected) == ((1,), -0.12, 0.12)
    assert c.max_abs == pytest.approx(0.24) and c.max_rel == pytest.approx(1.0)


def test_compare_worst_index_is_furthest_outside_tolerance_in_2d():
    expected = np.arange(6.0).reshape(2, 3)
    yours = expected.copy()
    yours[0, 1] += 1e-3
    yours[1, 2] += 1e-2
    c = compare("W", yours, expected)
    assert c.worst_index == (1, 2) and "at index (1, 2): yours 5.0100, expected 5.0000" in c.message


def test_compare_passes_within_isclose_tolerance():
    expected = np.array([1.0, 0.0, -3.0])
    c = compare("x", expected + np.array([5e-6, 5e-7, -2e-5]), expected)
    assert c.ok and c.message.startswith("x: max abs error 2.0e-05")
    assert not compare("x", expected + np.array([0, 2e-6, 0]), expected).ok  # atol on a zero


def test_compare_reports_shape_before_values():
    c = compare("grad_w", np.full((2, 1), 99.0), np.array([0.1, 0.12]), case=CASE)
    assert not c.ok and c.max_abs is None
    assert c.message == "grad_w [seed=3, N=6, D=2]: yours has shape (2, 1), expected (2,)"


def test_compare_scalar_shapes():
    assert compare("loss", 0.5, np.array(0.5)).ok
    assert compare("loss", np.float64(0.5), 0.5).ok
    c = compare("loss", np.array([0.5]), 0.5)
    assert not c.ok and "shape (1,), expected () (a scalar)" in c.message


def test_compare_dtype_float32_reported_before_values():
    c = compare("probs", np.array([9.0], dtype=np.float32), np.array([0.5]), case=CASE)
    assert c.message == (
        "probs [seed=3, N=6, D=2]: yours is float32; compute in float64: " "the inputs are float64"
    )


def test_compare_dtype_kinds():
    assert "expected floating point" in compare("p", np.array([1, 0]), np.array([1.0, 0])).message
    assert "expected integers" in compare("M", np.eye(2), np.eye(2, dtype=int)).message
    assert compare("M", np.eye(2, dtype=np.int32), np.eye(2, dtype=np.int64)).ok
    assert compare("mask", np.array([True, False]), np.array([1, 0])).ok


@pytest.mark.parametrize(
    "value, text",
    [((1.0, 2.0), "a tuple of 2 items (several return values?)"), (None, "None"), ("0.5", "a str")],
)
def test_compare_rejects_non_arrays_clearly(value, text):
    c = compare("loss", value, np.array([1.0, 2.0]), case=CASE)
    assert not c.ok
    assert c.message == f"loss [seed=3, N=6, D=2]: yours is {text}; expected an array or a number"


def test_compare_accepts_lists_and_tensors():
    assert compare("p", [0.25, 0.75], np.array([0.25, 0.75])).ok
    t = torch.tensor([0.25, 0.75], dtype=torch.float64, requires_grad=True)
    assert compare("p", t, np.array([0.25, 0.75])).ok
    assert "yours is float32" in compare("p", t.float(), np.array([0.25, 0.75])).message
    assert "bfloat16" in compare("p", t.bfloat16(), np.array([0.25, 0.75])).message


def test_compare_nan_and_inf_where_reference_is_finite():
    c = compare("probs", np.array([[0.5, np.nan], [np.inf, 1.0]]), np.full((2, 2), 0.5))
    assert not c.ok
    assert c.message == (
        "probs: yours has nan at index (0, 1) (expected 0.5000); " "2 non-finite value(s) in all"
    )
    assert compare("x", np.array([np.inf]), np.array([np.inf])).ok
    assert not compare("x", np.array([-np.inf]), np.array([np.inf])).ok


def test_compare_close_values_are_printed_apart():
    c = compare("x", np.array([0.12001]), np.array([0.12]))
    assert not c.ok and "yours 0.12001, expected 0.12" in c.message


# ----------------------------------------------------------------------------- rel_error


def test_rel_error_is_cs231n_s():
    """max |x - y| / max(1e-8, |x| + |y|): symmetric, at most 1, and no division by ~0."""
    x, y = np.array([1.0, 2.0, -3.0]), np.array([1.0, 2.5, -3.0])
    assert rel_error(x, y) == rel_error(y, x) == pytest.approx(0.5 / 4.5)
    assert rel_error(x, x) == 0.0 and rel_error(1.0, -1.0) == 1.0 and rel_error(0.0, 2.0) == 1.0
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)  # the floor
    assert rel_error(torch.ones(2, requires_grad=True), [1.0, 1.0]) == 0.0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0


def test_rel_error_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match=r"one shape, not \(2,\) and \(3,\)"):
        rel_error(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="y is a tuple of 2 items"):
        rel_error(np.ones(2), (1.0, 1.0))


def test_compare_prints_rel_error_and_keeps_its_tolerance():
    """The message's "max rel error" is rel_error; passing is still atol + rtol * |expected|."""
    expected = np.array([1.0, -4.0, 1e-3])
    yours = expected + np.array([2e-6, -1e-5, 5e-7])
    c = compare("x", yours, expected)
    assert c.ok and c.max_rel == rel_error(yours, expected)
    assert f"max rel error {rel_error(yours, expected):.1e}" in c.message
    assert not compare("x", expected + np.array([0, 0, 2e-6]), expected).ok  # 2e-6 > 1e-6 + 1e-8


# ----------------------------------------------------------------------------- Report


def _report() -> Report:
    report = Report("task", ["a", "b", "c"])
    report.add(compare("a", 1.0, 1.0, case="seed=1"))
    report.add(compare("b", 1.0, 2.0, case="seed=1"))
    report.add(compare("c", 1.0, 1.0, case="seed=1"))
    return report


def test_report_points_per_quantity_over_all_cases():
    report = _report()
    other = Report("task", ["a", "b", "c"])
    other.add(compare("a", 1.0, 1.0, case="seed=2"))
    other.add(compare("b", 2.0, 2.0, case="seed=2"))
    other.add(compare("c", 0.0, 1.0, case="seed=2"))
    report += other
    assert report.quantities == ["a", "b", "c"]
    assert [report.passed(q) for q in "abc"] == [True, False, False]
    points = report.points(3)
    assert points == 1.0 and type(points) is float
    assert _report().points(2) == pytest.approx(1.333333) and not report.ok


def test_report_declared_quantity_without_comparison_does_not_pass():
    report = Report("task", ["a", "b"])
    report.add(compare("a", 1.0, 1.0))
    assert not report.passed("b") and report.points(2) == 1.0
    assert "✗ b: not checked" in str(report)
    assert Report().points(5) == 0.0


def test_report_str_has_one_line_per_quantity_and_case():
    text = str(_report())
    assert text.splitlines() == [
        "task: 2 of 3 quantities pass",
        "  ✓ a [seed=1]: max abs error 0.0e+00, max rel error 0.0e+00",
        "  ✗ b [seed=1]: max abs error 1.0e+00, max rel error 3.3e-01: yours 1.0000, "
        "expected 2.0000",
        "      ↳ yours is off by one: do you count from 0 where the count starts at 1 (or the "
        "other way), or include an end that should be left out?",
        "  ✓ c [seed=1]: max abs error 0.0e+00, max rel error 0.0e+00",
    ]
    assert repr(_report()) == "<Report 'task': 2/3 quantities pass, 3 comparisons>"


def test_report_failed_call_fails_every_quantity_of_the_case_on_one_line():
    report = Report("task", ["loss", "grad"])
    report.failed_call(
        ["loss", "grad"],
        "seed=1",
        NotImplementedError("Lab 0, task binlogreg_loss_grad:\n write your code"),
    )
    assert [c.message for c in report] == [
        f"{q} [seed=1]: raised NotImplementedError: Lab 0, task binlogreg_loss_grad: write "
        "your code"
        for q in ("loss", "grad")
    ]
    assert report.points(3) == 0.0


def test_verdict_and_comparison_are_frozen():
    c = verdict("shape", True, "fine", case="n=3")
    assert c == Comparison("shape", "n=3", True, "shape [n=3]: fine")
    with pytest.raises(AttributeError):
        c.ok = False
