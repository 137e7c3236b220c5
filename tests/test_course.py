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

from autograder.course import Course, GradingError
from autograder.gradesheet import gradesheet
from autograder.grading import grade_folder
from tests.conftest import solved_toy, toy_notebook, write_submission
from tests.corpus import bad_input

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(toy_course, tmp_path_factory):
    """Grade the whole bad-input corpus in one run (two jobs); returns (cases, sheet, notes)."""
    folder = tmp_path_factory.mktemp("submissions")
    cases = bad_input.cases(toy_course)
    for student, case in cases.items():
        path = write_submission(folder, student, "toy", case.submission)
        for name, data in case.extra_files.items():
            (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
            (path.parent / name).write_bytes(data)
    renamed = write_submission(folder, "renamed", "toy", solved_toy(toy_course))
    renamed.rename(renamed.with_name("toy (1).ipynb"))
    cases["renamed"] = bad_input.Case(None, {"double": 2, "square": 2}, "named 'toy (1).ipynb'")
    outcomes = grade_folder(toy_course, folder, ["toy"], workers=2)
    sheet = gradesheet(toy_course, ["toy"])
    notes = {o.student: " | ".join(o.notes) for o in outcomes}
    return cases, sheet, notes


@pytest.mark.parametrize(
    "student",
    [
        "correct",
        "untouched",
        "visible_only",
        "warns",
        "deleted_test",
        "reordered",
        "edited_test",
        "duplicate_test",
        "other_kernel",
        "nbformat_v3",
        "corrupt",
        "not_a_notebook",
        "binary",
        "extra_files",
        "huge_notebook",
        "huge_outputs",
        "hangs",
        "exits",
        "segfault",
        "out_of_memory",
        "renamed",
    ],
)
def test_each_submission_scores_what_it_earned(graded, student):
    cases, sheet, notes = graded
    case = cases[student]
    got = {task: sheet.rows[student][f"toy:{task}"] for task in case.scores}
    assert got == case.scores, notes[student]
    assert case.note in notes[student]
    if not case.note:
        assert notes[student] == ""


def test_the_corpus_is_run_whole(graded):
    cases, _, notes = graded
    assert set(notes) == set(cases)  # every case graded, none dropped


def test_a_hanging_cell_is_stopped_by_the_timeout_and_the_run_goes_on(graded, toy_course):
    autograded = toy_course.root / "autograded" / "hangs" / "toy" / "toy.ipynb"
    errors = [
        f"{o.ename}: {o.evalue}"
        for c in nbformat.read(autograded, as_version=4).cells
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert any(e.startswith("CellTimeout: ") for e in errors), errors
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
    assert "double(2)" in text  # the visible test is shown
    assert "double(-7)" not in text  # the hidden one is not
    assert "HIDDEN TESTS" not in text


def test_feedback_names_each_task_and_renders_formulas_offline(graded, toy_course):
    toy_course.feedback("toy", "correct")
    html = toy_course.feedback_file("correct", "toy").read_text()
    contents = html[html.index('id="toc"') : html.index("</ol>")]
    assert ">double</a>" in contents and ">square</a>" in contents and "Test cell" not in contents
    assert (
        "cdn" not in html.lower()
        and 'src="../../_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full' in html
    )
    assert (toy_course.root / "feedback" / "_mathjax" / "MathJax.js").is_file()


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
    with pytest.raises(GradingError, match=r"duplicate grade ids: 'double' in cells \[3, 6\]"):
        course.assign("toy")


def test_record_scores_owns_every_score_of_an_autograded_cell(toy_course):
    """A manual score or extra credit on a test cell came from no TA (a kernel writing the
    gradebook, say): recording the grader's scores resets it."""
    from nbgrader.api import Gradebook

    toy_course.record_scores("mallory", "toy", {"double": 2.0})
    with Gradebook(toy_course.coursedir.db_url, toy_course.coursedir.course_id) as gb:
        for grade in gb.find_submission_notebook("toy", "toy", "mallory").grades:
            grade.manual_score, grade.extra_credit = 2.0, 5.0
        gb.db.commit()
    toy_course.record_scores("mallory", "toy", {"double": 2.0})
    assert toy_course.scores("toy", "mallory") == {"mallory": {"double": 2.0, "square": 0.0}}
