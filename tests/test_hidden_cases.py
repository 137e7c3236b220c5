"""Hidden cases stay hidden: a graded wrong submission's feedback says which hidden case failed
and how far off, never its seed or sizes; the seeds come from the course's secret, which no
student kernel sees."""

from __future__ import annotations

import os
import re
import stat
from html import unescape

import nbformat
import pytest

from autograder import sandbox
from autograder.course import SECRET_FILE, Course, course_secret
from dlcourse import check
from tests.conftest import _cell, write_submission

SOLUTION = '''import numpy as np

def square(x):
    """Return x squared, elementwise: x (N, 3) -> (N, 3)."""
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION'''

TEST = """from dlcourse.check import Report, call_student, case_label, compare, start_case

cases = [dict(seed=1, N=4)]
### BEGIN HIDDEN TESTS
from dlcourse.check import hidden
cases += [dict(seed=hidden(1), N=101), dict(seed=hidden(2), N=57)]
### END HIDDEN TESTS
report = Report("square", ["value"], worth=2)
for params in cases:
    part, rng = start_case("square", ["value"], params["seed"], points=2)
    case = case_label(**params)
    x = rng.standard_normal((params["N"], 3))
    ok, y = call_student(part, case, square, x, name="square")
    if ok:
        part.add(compare("value", y, x * x, case=case))
    report += part
print(report)
report.points()"""

WRONG = '''import os

def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""

print("own:", os.environ.get("DLCOURSE_HIDDEN_SECRET"), b"HIDDEN_SECRET" in _environ("self"))
print("others:", [p for p in os.listdir("/proc")
                  if p.isdigit() and b"HIDDEN_SECRET" in _environ(p)])

def square(x):
    """Transposed for large inputs; says the size when it fails."""
    if len(x) == 57:
        raise ValueError(f"no luck with N={len(x)}")
    return (x * x).T if len(x) > 50 else x * x'''
"""A submission that fails both hidden cases in ways whose messages would name their sizes, and
looks for the course's secret in its kernel's environment and every process's it can read."""


def _notebook(solution: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell(
            "solution", solution, grade=False, solution=True, locked=False, grade_id="square_code"
        ),
        _cell("test", TEST, grade=True, solution=False, locked=True, grade_id="square", points=2),
    ]
    return nb


@pytest.fixture(scope="module", params=[False, True], ids=["sandboxed", "unsafe"])
def graded(request, tmp_path_factory):
    """A one-task course graded with a wrong submission: (course, the hidden seeds, the text
    output of its solution cell and of its test cell)."""
    root = tmp_path_factory.mktemp("hidden")
    (root / "solutions" / "hid").mkdir(parents=True)
    nbformat.write(_notebook(SOLUTION), root / "solutions" / "hid" / "hid.ipynb")
    course = Course(
        root / "course",
        solutions=root / "solutions",
        hidden_secret="this-term",
        unsafe_no_sandbox=request.param,
    )
    course.assign("hid")
    submission = nbformat.read(course.release_notebook("hid"), as_version=4)
    submission.cells[0].source = WRONG
    course.autograde("eve", "hid", write_submission(root / "submitted", "eve", "hid", submission))
    seeds = [int(check.hidden(k)) for k in (1, 2)]  # as the grader drew them
    check.use_secret(None)
    text = {
        cell.metadata.nbgrader["grade_id"]: "".join(o.get("text", "") for o in cell.outputs)
        for cell in course.autograded_notebook("eve", "hid").cells
        if "nbgrader" in cell.metadata
    }
    return course, seeds, (text["square_code"], text["square"])


@pytest.mark.slow
def test_hidden_cases_say_what_failed_without_seed_or_size(graded):
    course, seeds, (_, report) = graded
    assert "✓ value [seed=1, N=4]: max abs error" in report  # a visible case in full
    assert "✗ value [hidden case 1]: fails\n" in report  # transposed: no shape shown
    assert "✗ value [hidden case 2]: fails: raised ValueError\n" in report
    told = [str(s) for s in seeds] + ["101", "57", "(3, 101)", "no luck"]
    assert [t for t in told if t in report] == []
    course.feedback("hid", "eve")
    html = course.feedback_file("eve", "hid").read_text()
    page = unescape(re.sub(r"<[^>]+>", "", html))
    shown = page[page.index("Grade cell: square") :]  # the test cell and its output
    assert "✗ value [hidden case 2]: fails: raised ValueError" in shown
    assert [t for t in told + ["hidden("] if t in shown] == []


@pytest.mark.slow
def test_hidden_seeds_are_the_course_secrets(graded):
    course, seeds, _ = graded
    for secret, same in (("this-term", True), ("last-term", False)):
        check.use_secret(secret)
        try:
            assert (seeds == [int(check.hidden(k)) for k in (1, 2)]) is same
        finally:
            check.use_secret(None)
    assert course.settings["hidden_secret"] == "this-term"  # what grading jobs carry
    assert not (course.root / SECRET_FILE).exists()


@pytest.mark.slow
def test_no_student_kernel_sees_the_secret(graded, request):
    """Not in its environment; in the OS sandbox, in no process's it can see. Without it
    (``--unsafe-no-sandbox``) the grader's own environment, where the secret may have come from,
    can be read like any of its files: the price of grading without the sandbox."""
    _, _, (solution, _) = graded
    assert "own: None False" in solution
    if "sandboxed" in request.node.name:
        assert "others: []" in solution


def test_the_course_secret_is_made_once_per_course_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(check.SECRET_ENV)
    course = Course(tmp_path)
    assert not (tmp_path / SECRET_FILE).exists()  # not for assign, feedback, export
    first = course.settings["hidden_secret"]  # made for grading
    assert "made a new secret" in capsys.readouterr().err
    assert course_secret(tmp_path) == first and len(first) == 32
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    (tmp_path / "next-term").mkdir()
    assert course_secret(tmp_path / "next-term") != first
    monkeypatch.setenv(check.SECRET_ENV, "from-env")
    assert course_secret(tmp_path) == "from-env"


def test_kernels_inherit_no_secret():
    env = {"PATH": "/bin", check.SECRET_ENV: "x"}
    assert sandbox.kernel_environment(env) == {"PATH": "/bin"}
    assert check.SECRET_ENV in sandbox.GRADER_ONLY_ENV
