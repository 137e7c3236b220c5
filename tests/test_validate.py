"""`validate` tells a student, per task, what passes and what is missing."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.validate import TaskResult, report, run_notebook, task_results
from tests.conftest import solved_toy

pytestmark = pytest.mark.slow


def test_untouched_notebook_reports_the_missing_task(toy_course, tmp_path):
    path = tmp_path / "toy.ipynb"
    path.write_bytes(toy_course.release_notebook("toy").read_bytes())
    nb = run_notebook(path, cell_timeout=10)
    results = task_results(nb)
    text = report(path, nb, results)
    assert [(r.task, r.score, r.points) for r in results] == [
        ("double", 0.0, 2.0),
        ("square", 0.0, 2.0),
    ]
    assert "✗ double  0/2  not started" in text  # one line for an untouched task, no stub text
    assert "NotImplementedError" not in text
    assert "Still to do: double, square" in text


def test_solved_notebook_passes_and_exit_code_says_so(toy_course, tmp_path, capsys):
    path = tmp_path / "toy.ipynb"
    nbformat.write(solved_toy(toy_course), path)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("running your notebook toy.ipynb") and "All pass" in out


def test_missing_notebook_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def _result(task, score, points, problems=(), bonus=False):
    return TaskResult(task, score, points, list(problems), bonus)


def test_long_lists_are_cut_with_a_count():
    """A started task shows its first problems and how many more; the to-do list is cut too."""
    problems = [f"✗ grad [seed={i}]: max abs error 1e-1" for i in range(8)]
    results = [_result("rnn_backward", 1, 7, problems)]
    results += [_result(f"task{i}", 0, 1, ["NotImplementedError: Lab 3, task"]) for i in range(12)]
    text = report(Path("lab3.ipynb"), nbformat.v4.new_notebook(), results)
    lines = text.splitlines()
    at = lines.index("  ✗ rnn_backward  1/7")
    assert lines[at + 1 : at + 7] == [f"      {p}" for p in problems[:5]] + ["      +3 more"]
    assert sum("not started" in line for line in lines) == 12
    assert lines[-1].endswith("task8, +3 more.") and "task9" not in lines[-1]


def test_bonus_counts_apart_from_the_maximum():
    results = [_result("ptdeep", 4, 4), _result("batchnorm", 0, 4, ["✗ eval: wrong"], bonus=True)]
    text = report(Path("lab1.ipynb"), nbformat.v4.new_notebook(), results)
    assert "✗ batchnorm (bonus)  0/4" in text
    assert text.endswith("Visible checks: 4/4 points (bonus 0/4). All pass: ready to submit.")


def test_a_failed_check_shows_its_hint_under_it():
    """The hint line (↳) the checks print under a failed comparison reaches the student."""
    from dlcourse.validate import _problems

    cell = nbformat.v4.new_code_cell()
    cell.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stdout",
            text="t: 0 of 1 quantities pass\n  ✗ grad_w [seed=1]: max abs error 3e-1\n"
            "      ↳ yours is exactly the expected value with the sign flipped: ...?\n"
            "  ✓ loss [seed=1]: max abs error 0\n",
        )
    ]
    problems = _problems(cell)
    assert problems == [
        "✗ grad_w [seed=1]: max abs error 3e-1\n"
        "        ↳ yours is exactly the expected value with the sign flipped: ...?"
    ]
    text = report(Path("lab0.ipynb"), nbformat.v4.new_notebook(), [_result("t", 0, 2, problems)])
    assert "      ✗ grad_w [seed=1]: max abs error 3e-1\n        ↳ yours is exactly" in text


def test_empty_written_answers_are_listed():
    nb = nbformat.v4.new_notebook()
    for gid, text in (("q_a", "YOUR ANSWER HERE"), ("q_b", "Because the loss is convex.")):
        cell = nbformat.v4.new_markdown_cell(text)
        cell.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": gid}
        nb.cells.append(cell)
    text = report(Path("lab0.ipynb"), nb, [_result("t", 2, 2)])
    assert text.splitlines()[-1] == (
        "Written answers: 1 of 2 answered (a TA grades them); still empty: q_a."
    )
    assert "Written answers" not in report(Path("x.ipynb"), nbformat.v4.new_notebook(), [])
