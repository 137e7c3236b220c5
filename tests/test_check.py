"""dlcourse.check: compare, Report, the oracles and the tools that grade student code fairly."""
import functools
import random
import sys

import numpy as np
import pytest
import torch

from dlcourse.data import gaussian
from dlcourse.check import (Comparison, Report, autograd_reference, call_student,
                            call_student_many, case_label, compare, forbid_calls, isolate,
                            numerical_gradient, own_code, seed_all, student_autograd,
                            upstream_gradient, verdict)

CASE = case_label(seed=3, N=6, D=2)


# ----------------------------------------------------------------------------- seed_all

def test_seed_all_makes_random_numpy_and_torch_reproducible():
    def draw():
        return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()

    seed_all(7)
    first = draw()
    seed_all(7)
    assert draw() == first
    seed_all(8)
    assert draw() != first


# ----------------------------------------------------------------------------- compare

def test_compare_reports_worst_index_and_both_values():
    c = compare("grad_w", np.array([0.1, -0.12]), np.array([0.1, 0.12]), case=CASE)
    assert not c.ok
    assert c.message == ("grad_w [seed=3, N=6, D=2]: max abs error 2.4e-01, max rel error "
                         "2.0e+00 at index (1,): yours -0.1200, expected 0.1200")
    assert (c.worst_index, c.yours, c.expected) == ((1,), -0.12, 0.12)
    assert c.max_abs == pytest.approx(0.24) and c.max_rel == pytest.approx(2.0)


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
    assert c.message == ("probs [seed=3, N=6, D=2]: yours is float32; compute in float64: "
                         "the inputs are float64")


def test_compare_dtype_kinds():
    assert "expected floating point" in compare("p", np.array([1, 0]), np.array([1.0, 0])).message
    assert "expected integers" in compare("M", np.eye(2), np.eye(2, dtype=int)).message
    assert compare("M", np.eye(2, dtype=np.int32), np.eye(2, dtype=np.int64)).ok
    assert compare("mask", np.array([True, False]), np.array([1, 0])).ok


@pytest.mark.parametrize("value, text", [
    ((1.0, 2.0), "a tuple of 2 items (several return values?)"), (None, "None"), ("0.5", "a str")])
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
    assert c.message == ("probs: yours has nan at index (0, 1) (expected 0.5000); "
                         "2 non-finite value(s) in all")
    assert compare("x", np.array([np.inf]), np.array([np.inf])).ok
    assert not compare("x", np.array([-np.inf]), np.array([np.inf])).ok


def test_compare_close_values_are_printed_apart():
    c = compare("x", np.array([0.12001]), np.array([0.12]))
    assert not c.ok and "yours 0.12001, expected 0.12" in c.message


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
        "  ✗ b [seed=1]: max abs error 1.0e+00, max rel error 5.0e-01: yours 1.0000, "
        "expected 2.0000",
        "  ✓ c [seed=1]: max abs error 0.0e+00, max rel error 0.0e+00",
    ]
    assert repr(_report()) == "<Report 'task': 2/3 quantities pass, 3 comparisons>"


def test_report_failed_call_fails_every_quantity_of_the_case_on_one_line():
    report = Report("task", ["loss", "grad"])
    report.failed_call(["loss", "grad"], "seed=1",
                       NotImplementedError("Lab 0, task binlogreg_loss_grad:\n write your code"))
    assert [c.message for c in report] == [
        f"{q} [seed=1]: raised NotImplementedError: Lab 0, task binlogreg_loss_grad: write "
        "your code" for q in ("loss", "grad")]
    assert report.points(3) == 0.0


def test_verdict_and_comparison_are_frozen():
    c = verdict("shape", True, "fine", case="n=3")
    assert c == Comparison("shape", "n=3", True, "shape [n=3]: fine")
    with pytest.raises(AttributeError):
        c.ok = False


# ----------------------------------------------------------------------------- oracles

A = np.random.default_rng(0).standard_normal((3, 2))


def _tanh_layer(x, A):
    return torch.tanh(x @ A)


def test_autograd_reference_uses_random_upstream_gradient():
    x = np.random.default_rng(1).standard_normal((4, 3))
    y, grads = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], seed=5)
    g = upstream_gradient((4, 2), seed=5)
    expected = (g * (1 - np.tanh(x @ A) ** 2)) @ A.T
    np.testing.assert_allclose(y, np.tanh(x @ A), rtol=1e-12)
    np.testing.assert_allclose(grads["x"], expected, rtol=1e-12)
    assert grads["x"].dtype == np.float64 and set(grads) == {"x"}
    _, of_sum = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], grad_out=np.ones((4, 2)))
    assert not np.allclose(of_sum["x"], grads["x"])  # never a plain .sum()


def test_autograd_reference_scalar_output_and_float32_inputs():
    x = np.arange(3, dtype=np.float32)
    y, grads = autograd_reference(lambda x, unused: (x ** 2).sum(), {"x": x, "unused": 1.0},
                                  ["x", "unused"])
    assert y.shape == () and y.dtype == np.float64 and y == 5.0
    np.testing.assert_array_equal(grads["x"], [0.0, 2.0, 4.0])
    assert grads["unused"].shape == () and grads["unused"] == 0.0


def test_numerical_gradient_matches_autograd_and_restores_x():
    x = np.random.default_rng(2).standard_normal((4, 3))
    x_before = x.copy()
    g = upstream_gradient((4, 2), seed=1)
    numeric = numerical_gradient(lambda x: np.tanh(x @ A), x, grad_out=g)
    _, grads = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], grad_out=g)
    np.testing.assert_allclose(numeric, grads["x"], rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, x_before)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, x.astype(np.float32))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_autograd_reference_cuda_without_gpu_says_so():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        autograd_reference(_tanh_layer, {"x": np.ones((1, 3)), "A": A}, ["x"], device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autograd_reference_on_cuda_matches_cpu_and_restores_tf32():
    x = np.random.default_rng(3).standard_normal((64, 3))
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        seen = []

        def layer(x, A):
            seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
            return torch.tanh(x.float() @ A.float()).double()  # TF32 would lose ~1e-3 here

        y_gpu, g_gpu = autograd_reference(layer, {"x": x, "A": A}, ["x", "A"],
                                          device=torch.device("cuda"))
        y_cpu, g_cpu = autograd_reference(layer, {"x": x, "A": A}, ["x", "A"])
        assert seen[0] == (False, False)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        np.testing.assert_allclose(y_gpu, y_cpu, atol=1e-5)
        np.testing.assert_allclose(g_gpu["A"], g_cpu["A"], atol=1e-4)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ----------------------------------------------------------------------------- grading student code

def _reference(x):
    return x + 1


class _Model:
    def __init__(self):
        self.w = 2

    def forward(self, x):
        return self.w * x

    @staticmethod
    def helper(x):
        return x


def test_forbid_calls_catches_aliases_wrappers_and_partials():
    alias = _reference
    wrapped = functools.wraps(_reference)(lambda x: alias(x))
    with forbid_calls(_reference, _Model) as called:
        _reference(1)
    assert called == [f"{__name__}._reference"]
    for student in (alias, wrapped, functools.partial(_reference), lambda x: wrapped(x) * 2):
        with forbid_calls(_reference) as called:
            student(1)
        assert called == [f"{__name__}._reference"]


def test_forbid_calls_covers_methods_of_a_class_and_subclasses():
    class Mine(_Model):  # inherits the reference's code
        pass

    with forbid_calls(_Model) as called:
        Mine().forward(3)
        _Model.helper(1)
    assert called == [f"{__name__}._Model.__init__", f"{__name__}._Model.forward",
                      f"{__name__}._Model.helper"]


def test_forbid_calls_ignores_other_code_and_restores_the_profiler():
    before = sys.getprofile()
    with forbid_calls(_reference) as called:
        np.mean([1, 2]) and (lambda x: x)(1)
    assert called == [] and sys.getprofile() is before
    _reference(1)
    assert called == []
    with pytest.raises(TypeError, match="python functions"):
        with forbid_calls(len):
            pass


SUBSTITUTED = "original"


def _uses_global():
    return SUBSTITUTED


def test_isolate_substitutes_existing_globals_and_restores_them():
    with isolate(_uses_global, SUBSTITUTED="substitute", NOT_THERE=1) as names:
        assert _uses_global() == "substitute" and names == ["SUBSTITUTED"]
        assert "NOT_THERE" not in globals()
    assert _uses_global() == "original"
    with pytest.raises(ZeroDivisionError):
        with isolate(_uses_global, SUBSTITUTED="substitute"):
            1 / 0
    assert _uses_global() == "original"


def test_own_code_refuses_dlcourse_objects_and_non_callables():
    assert own_code(_reference, "f") is None
    assert own_code(_Model, "Model") is None
    assert "dlcourse.data.gaussian.sample_gmm_2d from the dlcourse package" in own_code(
        gaussian.sample_gmm_2d, "AP")
    assert "from the dlcourse package" in own_code(functools.partial(gaussian.sample_gmm_2d), "eval_AP")
    assert own_code(None, "eval_AP") == "eval_AP is None, not a function"


def test_call_student_catches_exceptions_wrong_outputs_and_forbidden_calls():
    report = Report("task", ["a", "b"])

    def stub(x):
        raise NotImplementedError("Lab 0, task t: write your code here")

    assert call_student(report, "seed=1", stub, 1, name="t") == (False, None)
    assert call_student(report, "seed=2", lambda x: 1.0, 1, name="t", outputs=2) == (False, None)
    assert call_student(report, "seed=3", lambda x: _reference(x), 1, name="t",
                        quantities=["b"], forbidden=[_reference]) == (False, None)
    assert call_student(report, "seed=4", lambda x: (x, x), 1, name="t",
                        outputs=2) == (True, (1, 1))
    messages = [c.message for c in report]
    assert messages[:2] == [f"{q} [seed=1]: raised NotImplementedError: Lab 0, task t: write your "
                            "code here" for q in "ab"]
    assert messages[2] == "a [seed=2]: t returned a float; expected a tuple of 2 values"
    assert messages[4].startswith(f"b [seed=3]: calls {__name__}._reference: write your own code")
    assert len(messages) == 5


def test_call_student_passes_copies():
    x = np.zeros(3)

    def mutates(x):
        x += 1
        return x

    ok, out = call_student(Report("t", ["a"]), "", mutates, x, name="mutates")
    assert ok and out.sum() == 3 and x.sum() == 0


def test_student_autograd_gives_gradients_of_the_inputs():
    """The student's function runs on the very input tensors (a copy would cut the gradients)."""
    inputs = dict(x=np.array([1.0, -2.0, 3.0]), y=np.array([0.5, 0.5, 0.5]))

    def weighted(x, y):
        return (x ** 2 * y).sum()

    report = Report("t", ["v"])
    ok, value, grads = student_autograd(report, "", weighted, inputs, ["x", "y"], name="weighted")
    assert ok and len(report) == 0
    np.testing.assert_allclose(value, 7.0)
    np.testing.assert_allclose(grads["x"], [1.0, -2.0, 3.0])
    np.testing.assert_allclose(grads["y"], [1.0, 4.0, 9.0])


def test_call_student_many_returns_every_result_or_the_first_failure():
    draws = iter([3, 1, 4])

    def sample(i):
        value = next(draws)
        if value == 4:
            raise ValueError("no more")
        return i + value

    report = Report("t", ["a", "b"])
    assert call_student_many(report, "seed=1", sample, [(10,), (20,)], name="sample") == \
        (True, [13, 21])
    assert call_student_many(report, "seed=2", sample, [(0,), (0,)], name="sample",
                             quantities=["b"]) == (False, [])
    assert [c.message for c in report] == ["b [seed=2]: raised ValueError: no more"]
