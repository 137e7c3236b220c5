"""The grader's link to a student's kernel: data comes back by value, requests leave no trace."""

from __future__ import annotations

import pickle

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from autograder.config import KERNEL_ARGS
from autograder.rpc import Link, Remote
from dlcourse.check import RemoteError

NOTEBOOK = (
    "import numpy as np\ndef scale(x, k=2):\n    return k * x\n"
    "def fail(x):\n    raise ValueError('no')\n"
)


@pytest.fixture(scope="module")
def kernel():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)])
    client = NotebookClient(nb, kernel_name="python3", extra_arguments=KERNEL_ARGS, timeout=60)
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)

        def execute(code: str):
            cell = nbformat.v4.new_code_cell(code)
            client.execute_cell(cell, 0, store_history=False)
            return cell.outputs

        yield execute


@pytest.mark.parametrize("through_folder", [True, False])
def test_calls_bring_back_arrays_by_value(kernel, tmp_path, through_folder):
    link = Link(kernel, str(tmp_path) if through_folder else None)
    scale = link.request("lookup", "scale")
    assert isinstance(scale, Remote)
    x = np.random.default_rng(0).normal(size=(100, 100))
    np.testing.assert_array_equal(scale(x, k=3), 3 * x)
    assert list(tmp_path.iterdir()) == []  # each request file is gone once read


def test_student_errors_come_back_as_remote_errors(kernel, tmp_path):
    link = Link(kernel, str(tmp_path))
    with pytest.raises(RemoteError, match="ValueError: no"):
        link.request("lookup", "fail")(1)
    with pytest.raises(RemoteError, match="not defined"):
        link.request("lookup", "missing")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- references by source

BLOCKER = """
import sys

class _NoReferences:  # the sandbox hides autograder/reference/ from a grading kernel
    def find_spec(self, name, path=None, target=None):
        if name == "autograder.reference" or name.startswith("autograder.reference."):
            raise ImportError(f"{name} is not visible here")
        return None

for _name in [m for m in sys.modules if m.startswith("autograder.reference")]:
    del sys.modules[_name]
sys.meta_path.insert(0, _NoReferences())
"""
GAUSSIAN_NOTEBOOK = """
class Random2DGaussian:  # the student's, wrong on purpose: one fixed mean
    def __init__(self):
        self.mean = np.array([5.0, 5.0])
    def get_sample(self, n):
        return np.random.multivariate_normal(self.mean, np.eye(2), n)

def draw(n):
    np.random.seed(0)
    return Random2DGaussian().get_sample(n)

def gaussian_module():
    return Random2DGaussian.__module__
"""


@pytest.fixture(scope="module")
def blocked_kernel():
    """A kernel in which ``autograder.reference`` cannot be imported, as in the OS sandbox."""
    cells = [nbformat.v4.new_code_cell(code) for code in (BLOCKER, NOTEBOOK, GAUSSIAN_NOTEBOOK)]
    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(
        nb, kernel_name="python3", extra_arguments=KERNEL_ARGS, timeout=60, allow_errors=True
    )
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)

        def execute(code: str):
            cell = nbformat.v4.new_code_cell(code)
            client.execute_cell(cell, 0, store_history=False)
            return cell.outputs

        yield execute


def _printed(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


def test_references_travel_by_source_into_a_kernel_that_cannot_import_them(
    blocked_kernel, tmp_path
):
    from autograder.reference import lab0
    from dlcourse.check import isolate

    assert "ImportError" in str(blocked_kernel("import autograder.reference.lab0"))
    link = Link(blocked_kernel, str(tmp_path))
    draw, module_of = link.request("lookup", "draw"), link.request("lookup", "gaussian_module")
    np.random.seed(0)
    expected = lab0.Random2DGaussian().get_sample(4)
    for _ in range(2):  # the module is built once, however often it is sent
        with isolate(draw, Random2DGaussian=lab0.Random2DGaussian):
            assert module_of() == "autograder.reference.lab0"
            np.testing.assert_array_equal(draw(4), expected)
    assert module_of() == "__main__"  # the student's class is back
    assert np.allclose(draw(20000).mean(axis=0), 5.0, atol=0.1)
    state = _printed(
        blocked_kernel(
            "import sys, autograder.kernel as k\n"
            "print(sorted(m for m in sys.modules if m.startswith('autograder.reference')))\n"
            "print(len(k._references), sorted(n for m in k._references.values() for n in vars(m)"
            " if not n.startswith('__')))"
        )
    )
    # not importable by name, built once, and only what the substitute needs: no other answer
    assert state.splitlines() == ["[]", "1 ['Random2DGaussian', 'annotations', 'np']"]


def test_a_reference_not_at_its_module_top_level_is_refused():
    from autograder.rpc import _dumps

    def local():
        return None

    local.__module__ = "autograder.reference.lab0"
    with pytest.raises(pickle.PicklingError, match="only top-level functions and classes"):
        _dumps(local)


def test_a_grader_s_call_runs_only_the_function_in_the_kernel(kernel, tmp_path):
    """The kernel's own_code and call watch decide nothing while grading (here own_code refuses
    everything and the forbidden object could not even travel): the grader checks the rules on
    the source, and the shape of the result here."""
    from dlcourse.check import Report, call_student

    link = Link(kernel, str(tmp_path))
    kernel(
        "import dlcourse.check.student as _c\n"
        "_saved, _c.own_code = _c.own_code, lambda fn, name: 'no'"
    )
    try:
        scale = link.request("lookup", "scale")
        report = Report("t", ["v"])
        assert call_student(report, "a", scale, 2.0, name="scale", forbidden=[lambda x: x]) == (
            True,
            4.0,
        )
        assert call_student(report, "b", scale, 2.0, name="scale", outputs=2) == (False, None)
        assert [c.message for c in report] == [
            "v [b]: scale returned a float; expected a tuple of 2 values"
        ]
    finally:
        kernel("_c.own_code = _saved")


def test_a_test_cell_frees_the_kernel_objects_it_held(kernel, tmp_path):
    """The kernel keeps an object while the grader holds a proxy of it; a test cell's proxies
    are used up when it ends, so the kernel lets them go (a class of notebooks must not pile
    up every model a check built)."""
    from autograder.rpc import run_test_cell

    count = "__import__('autograder.kernel').kernel._handles.__len__()"
    held = lambda: int(kernel(count)[0]["data"]["text/plain"])  # noqa: E731
    kernel("class Box:\n    pass\ndef boxes(n):\n    return [Box() for _ in range(n)]")
    before = held()
    link = Link(kernel, str(tmp_path))
    outputs = run_test_cell("len(boxes(3))", link)
    assert outputs[-1]["data"]["text/plain"] == "3"  # boxes and its 3 boxes came as proxies
    assert held() == before
