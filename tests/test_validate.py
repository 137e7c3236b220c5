"""`validate` tells a student, per task, what passes and what is missing."""
from __future__ import annotations

import nbformat
import pytest

from autograder.cli import main
from autograder.validate import report, run_notebook, task_results
from tests.conftest import solved_toy

pytestmark = pytest.mark.slow


def test_untouched_notebook_reports_the_missing_task(toy_course, tmp_path):
    path = tmp_path / "toy.ipynb"
    path.write_bytes(toy_course.release_notebook("toy").read_bytes())
    nb = run_notebook(path, cell_timeout=10)
    results = task_results(nb)
    text = report(path, nb, results)
    assert [(r.task, r.score, r.points) for r in results] == [("double", 0.0, 2.0), ("square", 0.0, 2.0)]
    assert "✗ double" in text and "NotImplementedError: toy, task double" in text
    assert "Still to do: double, square" in text


def test_solved_notebook_passes_and_exit_code_says_so(toy_course, tmp_path, capsys):
    path = tmp_path / "toy.ipynb"
    nbformat.write(solved_toy(toy_course), path)
    assert main(["validate", str(path)]) == 0
    assert "All pass" in capsys.readouterr().out


def test_missing_notebook_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
