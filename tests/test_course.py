"""The grading harness on the toy lab: every nbgrader trap, each with the score it must get.

Each case is a submission a student could really hand in; correct work keeps its points whatever
happened to the notebook, and wrong or missing work earns nothing.
"""
from __future__ import annotations

import copy
import re
from html import unescape

import nbformat
import pytest

from autograder.cli import grade_folder
from autograder.course import Course, GradingError
from autograder.gradesheet import gradesheet
from tests.conftest import solved_toy, toy_notebook, write_submission

pytestmark = pytest.mark.slow


def _variants(course: Course) -> dict[str, tuple[object, float, str]]:
    """student -> (notebook or raw text, expected score out of 2, expected note substring)."""
    solved = solved_toy(course)
    released = nbformat.read(course.release_notebook("toy"), as_version=4)

    def edit(change):
        nb = copy.deepcopy(solved)
        change(nb)
        return nb

    def swap(nb):
        nb.cells[1], nb.cells[2] = nb.cells[2], nb.cells[1]

    def answer(source):
        return lambda nb: setattr(nb.cells[1], "source", source)

    def kernel(nb):
        nb.metadata.kernelspec = {"name": "conda-env-mine-py", "display_name": "mine", "language": "python"}

    def cheat(nb):
        nb.cells[2].source = "2.0"
        nb.cells[1].source = "def double(x):\n    return 0"

    v3 = nbformat.writes(nbformat.convert(copy.deepcopy(solved), 3), version=3)
    return {
        "correct": (solved, 2, ""),
        "untouched": (released, 0, ""),
        "visible_only": (edit(answer("def double(x):\n    return 4 if x == 2 else 0")), 1, ""),
        "warns": (edit(answer("import warnings\ndef double(x):\n    warnings.warn('slow')\n    return 2 * x")), 2, ""),
        "deleted_test": (edit(lambda nb: nb.cells.pop(2)), 2, "'double' was deleted"),
        "reordered": (edit(swap), 2, "reordered"),
        "edited_test": (edit(cheat), 0, "'double' was edited"),
        "duplicate_test": (edit(lambda nb: nb.cells.insert(1, copy.deepcopy(nb.cells[2]))), 2, "more than once"),
        "other_kernel": (edit(kernel), 2, ""),
        "nbformat_v3": (v3, 2, ""),
        "corrupt": ('{"cells": [', 0, "not a readable notebook"),
        "hangs": (edit(answer("def double(x):\n    while True:\n        pass")), 0, ""),
    }


@pytest.fixture(scope="module")
def graded(toy_course, tmp_path_factory):
    """Grade every variant in one run; returns (variants, scores, notes)."""
    folder = tmp_path_factory.mktemp("submissions")
    variants = _variants(toy_course)
    for student, (nb, _, _) in variants.items():
        write_submission(folder, student, "toy", nb)
    renamed = write_submission(folder, "renamed", "toy", solved_toy(toy_course))
    renamed.rename(renamed.with_name("toy (1).ipynb"))
    variants["renamed"] = (None, 2, "named 'toy (1).ipynb'")
    outcomes = grade_folder(toy_course, folder, ["toy"])
    sheet = gradesheet(toy_course, ["toy"])
    notes = {o.student: " | ".join(o.notes) for o in outcomes}
    return variants, sheet, notes


@pytest.mark.parametrize("student", [
    "correct", "untouched", "visible_only", "warns", "deleted_test", "reordered", "edited_test",
    "duplicate_test", "other_kernel", "nbformat_v3", "corrupt", "hangs", "renamed",
])
def test_each_submission_scores_what_it_earned(graded, student):
    variants, sheet, notes = graded
    _, expected_score, expected_note = variants[student]
    assert sheet.rows[student]["toy:double"] == expected_score, notes[student]
    assert expected_note in notes[student]
    if not expected_note:
        assert notes[student] == ""


def test_a_hanging_cell_is_stopped_by_the_timeout_and_the_run_goes_on(graded, toy_course):
    autograded = toy_course.root / "autograded" / "hangs" / "toy" / "toy.ipynb"
    errors = [f"{o.ename}: {o.evalue}" for c in nbformat.read(autograded, as_version=4).cells
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("CellTimeoutError" in e for e in errors), errors
    _, sheet, _ = graded
    assert sheet.rows["correct"]["toy:double"] == 2  # graded after it in the same run


def test_stubs_name_their_task(toy_course):
    source = nbformat.read(toy_course.release_notebook("toy"), as_version=4).cells[1].source
    assert "raise NotImplementedError('toy, task double: write your code here')" in source
    assert "return 2 * x" not in source


def test_released_notebook_has_no_hidden_tests(toy_course):
    text = toy_course.release_notebook("toy").read_text()
    assert "double(-7)" not in text and "HIDDEN" not in text


def test_feedback_shows_results_but_never_hidden_test_source(graded, toy_course):
    toy_course.feedback("toy", "correct")
    html = toy_course.feedback_file("correct", "toy").read_text()
    text = unescape(re.sub(r"<[^>]+>", "", html))  # code is split into highlighted spans
    assert "double(2)" in text            # the visible test is shown
    assert "double(-7)" not in text       # the hidden one is not
    assert "HIDDEN TESTS" not in text


def test_feedback_starts_with_the_grading_notes(graded, toy_course):
    toy_course.feedback("toy", "reordered")
    html = toy_course.feedback_file("reordered", "toy").read_text()
    assert "Grading notes" in html and "graded cells were put back in the assignment" in html


def test_duplicate_grade_ids_in_solutions_are_refused_clearly(tmp_path):
    nb = toy_notebook()
    nb.cells.append(copy.deepcopy(nb.cells[2]))
    nb.cells[-1].id = "test-copy"
    (tmp_path / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "solutions" / "toy" / "toy.ipynb")
    course = Course(tmp_path / "course", solutions=tmp_path / "solutions")
    with pytest.raises(GradingError, match=r"duplicate grade ids: 'double' in cells \[3, 4\]"):
        course.assign("toy")
