"""Shared fixtures: the data root, and a tiny course ("toy") to test the grading harness fast."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course
from autograder.integrity import RULES_FILE

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

if "DLCOURSE_DATA" not in os.environ and SHARED_DATA.is_dir():
    # Real datasets for tests and benchmarks, through the package's data-root setting.
    os.environ["DLCOURSE_DATA"] = str(SHARED_DATA)

TEST_SECRET = "dlcourse-tests"
"""The course secret of every test run (``dlcourse.check.hidden``): the same hidden cases each
time, whatever secret the machine's environment holds, and no secret file in course folders."""
os.environ["DLCOURSE_HIDDEN_SECRET"] = TEST_SECRET

TOY_SOLUTION = '''def double(x):
    """Return 2 x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION'''

TOY_TEST = """import sys
print("a warning on stderr must not cost points", file=sys.stderr)
passed = [double(2) == 4]
### BEGIN HIDDEN TESTS
passed.append(double(-7) == -14)
### END HIDDEN TESTS
2.0 * sum(passed) / len(passed)"""


SQUARE_SOLUTION = '''def square(x):
    """Return x squared."""
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION'''

SQUARE_TEST = """from dlcourse.check import Report, call_student, compare

report = Report("square", ["value"])
for x in [3.0]:
    ok, y = call_student(report, f"x={x}", square, x, name="square")
    if ok:
        report.add(compare("value", y, x * x, case=f"x={x}"))
### BEGIN HIDDEN TESTS
for x in [-1.5, 7.0]:
    ok, y = call_student(report, f"x={x}", square, x, name="square")
    if ok:
        report.add(compare("value", y, x * x, case=f"x={x}"))
### END HIDDEN TESTS
report.points(2)"""
"""A task checked with dlcourse.check, as the labs' are: the target of the tampering corpus."""

TOY_RULES = {
    "square": [
        "AUTODIFF",
        "NUMERIC",
        {
            "why": "that is a library's square: multiply x by itself",
            "uses": [
                "numpy.square",
                "numpy.power",
                "math.pow",
                "operator.pow",
                "torch.square",
                "torch.pow",
            ],
        },
    ]
}
"""The toy lab's own rules, as a course declares a lab's in its folder (autograder.integrity):
``square`` is to be written as a product, not taken from a library or a derivative."""


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tests of tiny torch models run on one thread: faster, and far faster on a busy machine,
    where threads of other processes interrupt torch's workers. Restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cell(cell_id: str, source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, id=cell_id)
    if nbgrader:
        cell.metadata.nbgrader = {**nbgrader, "schema_version": 3}
    return cell


def toy_notebook() -> nbformat.NotebookNode:
    """A two-task lab: `double` (2 points: one visible, one hidden case, plain asserts) and
    `square` (2 points, checked with dlcourse.check like the labs' tasks)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy lab", id="intro"),
        _cell(
            "solution",
            TOY_SOLUTION,
            grade=False,
            solution=True,
            locked=False,
            grade_id="double_code",
        ),
        _cell(
            "test", TOY_TEST, grade=True, solution=False, locked=True, grade_id="double", points=2
        ),
        _cell(
            "square-solution",
            SQUARE_SOLUTION,
            grade=False,
            solution=True,
            locked=False,
            grade_id="square_code",
        ),
        _cell(
            "square-test",
            SQUARE_TEST,
            grade=True,
            solution=False,
            locked=True,
            grade_id="square",
            points=2,
        ),
    ]
    return nb


@pytest.fixture(scope="session")
def toy_course(tmp_path_factory) -> Course:
    """A course folder with the toy lab assigned."""
    root = tmp_path_factory.mktemp("toy")
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(toy_notebook(), root / "solutions" / "toy" / "toy.ipynb")
    (root / "solutions" / "toy" / RULES_FILE).write_text(json.dumps(TOY_RULES))
    course = Course(root / "course", solutions=root / "solutions", cell_timeout=5)
    course.assign("toy")
    return course


def solved_toy(course: Course) -> nbformat.NotebookNode:
    """The released toy notebook with a correct answer typed in, as a student would."""
    nb = nbformat.read(course.release_notebook("toy"), as_version=4)
    nb.cells[1].source = 'def double(x):\n    """Return 2 x."""\n    return x + x'
    nb.cells[3].source = 'def square(x):\n    """Return x squared."""\n    return x ** 2'
    return copy.deepcopy(nb)


def write_submission(root: Path, student: str, lab: str, nb: nbformat.NotebookNode | str) -> Path:
    """Put a notebook (or raw text) at <root>/<student>/<lab>/<lab>.ipynb."""
    path = root / student / lab / f"{lab}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path
