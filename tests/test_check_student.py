"""dlcourse.check.student: calling student code fairly, here or where a grader's proxy lives."""

import functools
import pickle
import sys

import numpy as np
import pytest

from dlcourse.check import (
    Report,
    call_student,
    call_student_many,
    case_label,
    forbid_calls,
    hidden,
    isolate,
    own_code,
    run_where,
    student_autograd,
    use_secret,
)
from dlcourse.data import gaussian

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
    assert called == [
        f"{__name__}._Model.__init__",
        f"{__name__}._Model.forward",
        f"{__name__}._Model.helper",
    ]


def test_forbid_calls_ignores_other_code_and_restores_the_profiler():
    before = sys.getprofile()
    with forbid_calls(_reference) as called:
        assert np.mean([1, 2]) and (lambda x: x)(1)
    assert called == [] and sys.getprofile() is before
    _reference(1)
    assert called == []
    with pytest.raises(TypeError, match="python functions"), forbid_calls(len):
        pass


SUBSTITUTED = "original"


def _uses_global():
    return SUBSTITUTED


def test_isolate_substitutes_existing_globals_and_restores_them():
    with isolate(_uses_global, SUBSTITUTED="substitute", NOT_THERE=1) as names:
        assert _uses_global() == "substitute" and names == ["SUBSTITUTED"]
        assert "NOT_THERE" not in globals()
    assert _uses_global() == "original"
    with pytest.raises(ZeroDivisionError), isolate(_uses_global, SUBSTITUTED="substitute"):
        _ = 1 / 0
    assert _uses_global() == "original"


def test_own_code_refuses_dlcourse_objects_and_non_callables():
    assert own_code(_reference, "f") is None
    assert own_code(_Model, "Model") is None
    assert "dlcourse.data.gaussian.sample_gmm_2d from the dlcourse package" in own_code(
        gaussian.sample_gmm_2d, "AP"
    )
    assert "from the dlcourse package" in own_code(
        functools.partial(gaussian.sample_gmm_2d), "eval_AP"
    )
    assert own_code(None, "eval_AP") == "eval_AP is None, not a function"


def test_call_student_catches_exceptions_wrong_outputs_and_forbidden_calls():
    report = Report("task", ["a", "b"])

    def stub(x):
        raise NotImplementedError("Lab 0, task t: write your code here")

    assert call_student(report, "seed=1", stub, 1, name="t") == (False, None)
    assert call_student(report, "seed=2", lambda x: 1.0, 1, name="t", outputs=2) == (False, None)
    assert call_student(
        report,
        "seed=3",
        lambda x: _reference(x),
        1,
        name="t",
        quantities=["b"],
        forbidden=[_reference],
    ) == (False, None)
    assert call_student(report, "seed=4", lambda x: (x, x), 1, name="t", outputs=2) == (
        True,
        (1, 1),
    )
    messages = [c.message for c in report]
    assert messages[:2] == [
        f"{q} [seed=1]: raised NotImplementedError: Lab 0, task t: write your " "code here"
        for q in "ab"
    ]
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
        return (x**2 * y).sum()

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
    assert call_student_many(report, "seed=1", sample, [(10,), (20,)], name="sample") == (
        True,
        [13, 21],
    )
    assert call_student_many(
        report, "seed=2", sample, [(0,), (0,)], name="sample", quantities=["b"]
    ) == (False, [])
    assert [c.message for c in report] == ["b [seed=2]: raised ValueError: no more"]


# ----------------------------------------------------------------------------- where the code lives


class _Proxy:
    """A grader's proxy of ``fn`` as ``autograder.rpc.Remote`` is one: ``remote_run`` runs the
    work beside ``fn`` and only what the kernel can send back (``autograder.kernel.encode``)
    returns; calling it directly is a mistake here (the helpers must go through run_where)."""

    __dlcourse_remote__ = True

    def __init__(self, fn):
        self.fn, self.runs = fn, []

    def remote_run(self, work, *args, **kwargs):
        from autograder.kernel import encode
        from autograder.rpc import Link

        self.runs.append(work.__name__)
        args = [self.fn if a is self else a for a in args]  # the kernel resolves its handles
        return Link(lambda code: []).decode(encode(work(*args, **kwargs)))

    def __call__(self, *args, **kwargs):
        raise AssertionError("a grader never calls the student's function in its own process")


def _failing_layer(x):
    raise ValueError(f"shape {tuple(x.shape)}")


def _detached_layer(x):
    return x.detach() * 2


def test_run_where_runs_beside_the_student_s_code():
    proxy = _Proxy(_reference)
    assert run_where(proxy, pickle.loads, pickle.dumps(3)) == 3 and proxy.runs == ["loads"]
    assert run_where(_reference, _reference, 1) == 2  # here: just the call


@pytest.mark.parametrize(
    "layer, why",
    [
        (_failing_layer, "raised ValueError: shape (3,)"),
        (_detached_layer, "layer's output does not depend on its inputs through autograd"),
        (lambda x: (x, x), "layer returned a tuple of 2 items; expected a float tensor"),
    ],
)
def test_student_autograd_fails_the_same_here_and_in_a_kernel(layer, why):
    """Through a grader's proxy the work runs in the kernel and only data comes back; the
    comparisons are made here, whole: the same ones as for a local call."""
    inputs = dict(x=np.ones(3))
    reports = []
    for fn in (layer, _Proxy(layer)):
        report = Report("t", ["out", "grad_x"])
        assert student_autograd(
            report, "seed=1", fn, inputs, ["x"], name="layer", quantities=["grad_x"]
        ) == (False, None, {})
        reports.append(report.comparisons)
    assert reports[0] == reports[1] and len(reports[0]) == 1
    assert reports[0][0].message.startswith(f"grad_x [seed=1]: {why}")


def test_student_autograd_through_a_proxy_brings_back_output_and_gradients():
    proxy = _Proxy(lambda x: (x**2).sum())
    ok, value, grads = student_autograd(
        Report("t", ["v"]), "", proxy, dict(x=np.array([1.0, 3.0])), ["x"], name="square"
    )
    assert ok and proxy.runs == ["_autograd_here"] and value == 10.0
    np.testing.assert_allclose(grads["x"], [2.0, 6.0])


def test_call_student_and_isolate_go_through_the_proxy():
    proxy = _Proxy(_uses_global)
    report = Report("t", ["a"])
    assert call_student(report, "", proxy, name="f") == (True, "original")
    assert call_student_many(report, "", proxy, [(), ()], name="f") == (True, ["original"] * 2)
    with isolate(proxy, SUBSTITUTED="substitute"):
        assert call_student(report, "", proxy, name="f") == (True, "substitute")
    assert proxy.runs == [
        "_run_student",
        "_run_student_many",
        "_swap_globals",
        "_run_student",
        "_swap_globals",
    ]


def test_a_hidden_case_failing_through_a_proxy_is_redacted_here_once():
    """The kernel sends only why it failed; the grader's report redacts it: the builtin
    exception's type is kept, the message (here the case's size) is not."""
    use_secret("term-1")
    try:
        case = case_label(seed=hidden(1), N=3)
        for fn in (_failing_layer, _Proxy(_failing_layer)):
            report = Report("t", ["grad_x"])
            student_autograd(report, case, fn, dict(x=np.ones(3)), ["x"], name="layer")
            assert [c.message for c in report] == [
                "grad_x [hidden case 1]: fails: raised ValueError"
            ]
    finally:
        use_secret(None)
