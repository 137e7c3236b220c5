"""End to end: assign -> autograde the bundled samples -> exact expected scores, CSV, feedback."""

from __future__ import annotations

import csv
import re
from html import unescape

import nbformat
import pytest

from autograder import grading, samples
from autograder.cli import main
from autograder.course import Course, lab_ids
from autograder.gradesheet import gradesheet
from autograder.grading import grade_folder
from dlcourse import tasks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("course"))
    for lab in lab_ids():
        course.assign(lab)
    grade_folder(
        course, samples.SAMPLES_DIR, lab_ids(), workers=grading.default_workers()
    )  # as the CLI
    return course


@pytest.mark.parametrize("lab", lab_ids())
def test_samples_get_exactly_their_expected_scores(graded, lab):
    """The automatic part exactly; the written answers of reference and flawed wait for a TA,
    untouched's are "No response." (0, nothing to grade)."""
    sheet = gradesheet(graded, [lab])
    assert samples.mismatches(lab, graded.tasks(lab), sheet.rows, sheet.pending) == []


@pytest.mark.parametrize("lab", lab_ids())
def test_reference_samples_run_every_cell(graded, lab):
    """The solutions run end to end with grading budgets: no cell of the graded reference sample,
    experiments included, raised an error."""
    nb = nbformat.read(
        graded.root / "autograded" / "reference" / lab / f"{lab}.ipynb", as_version=4
    )
    errors = [
        f"cell {i}: {o.ename}: {o.evalue}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]
    assert errors == []


def test_mismatches_name_a_wrong_score():
    tasks = [("a", 2.0), ("b", 1.0)]
    rows = {
        "reference": {"toy:a": 2.0, "toy:b": 0.5},
        "untouched": {"toy:a": 0.0, "toy:b": 0.0},
        "flawed": {"toy:a": 2.0},
    }  # a lab without flaws: flawed must score full marks too
    assert samples.mismatches("toy", tasks, rows) == [
        "reference/toy:b scored 0.5, expected 1",
        "flawed/toy:b scored None, expected 1",
    ]


def test_mismatches_name_answers_left_to_a_ta_wrongly():
    """lab0's reference answers every question: all of them wait for a TA, untouched's none."""
    tasks_ = [(t, float(p)) for t, p in {**tasks.points("lab0"), **tasks.questions("lab0")}.items()]
    expected = samples.expected_scores("lab0", tasks_)
    rows = {s: {f"lab0:{t}": v for t, v in e.items()} for s, e in expected.items()}
    assert expected["reference"]["q_gmm_failure"] == 0  # waiting: no score yet
    asked = [f"lab0:{q}" for q in tasks.questions("lab0")]
    pending = {"reference": asked, "flawed": asked}
    assert samples.mismatches("lab0", tasks_, rows, pending) == []
    wrong = samples.mismatches("lab0", tasks_, rows, {"reference": asked, "untouched": asked})
    assert wrong[0].startswith("untouched/lab0: answers waiting for a TA ['q_")
    assert wrong[1].startswith("flawed/lab0: answers waiting for a TA [], expected ['q_")


@pytest.mark.parametrize(
    "lab, lost",
    [
        ("lab0", 2),  # one wrong sign, one missing 1/N
        (
            "lab1",
            3,
        ),  # fcann2's gradient ignores the ReLU (grad_W1, grad_b1), train_mb never shuffles
        ("lab3", 7),  # BPTT without the future, min_freq, no packing
    ],
)
def test_flawed_sample_loses_points_and_reference_does_not(graded, lab, lost):
    """Written answers are not in the totals until a TA grades them."""
    sheet = gradesheet(graded, [lab])
    bonus = sum(p for name, p in sheet.columns if name in sheet.bonus)
    waiting = tasks.written_points(lab)
    assert sheet.total("reference") == sheet.max + bonus - waiting
    assert sheet.total("untouched") == 0
    assert sheet.total("flawed") == sheet.max + bonus - waiting - lost
    assert sheet.waiting("reference") == (len(tasks.questions(lab)), waiting)


def test_bonus_tasks_are_extra_credit_in_the_gradebook(graded):
    """Lab 1's bonus (batch norm, 4 points) adds to the reference's score, not to the maximum:
    nbgrader's own totals say 33 of 40 (29 automatic + 11 written, still ungraded), and an
    untouched bonus costs nothing."""
    from nbgrader.api import Gradebook

    with Gradebook(graded.coursedir.db_url, graded.coursedir.course_id) as gb:
        reference = gb.find_submission_notebook("lab1", "lab1", "reference")
        grade = gb.find_grade("batchnorm", "lab1", "lab1", "reference")
        assert (reference.max_score, reference.score) == (40, 33)
        assert (grade.max_score, grade.auto_score, grade.extra_credit) == (0, 0, 4)
        untouched = gb.find_submission_notebook("lab1", "lab1", "untouched")
        assert (untouched.max_score, untouched.score) == (40, 0)
    sheet = gradesheet(graded, ["lab1"])
    assert (sheet.max, sheet.total("reference"), sheet._pct("reference")) == (40, 33, "82.5%")
    graded.feedback("lab1", "reference")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("reference", "lab1").read_text()))
    assert "(Score: 33.0 / 40.0)" in text and "batchnorm (bonus: 4.0 extra credit)" in text


def test_export_writes_one_row_per_student(graded, tmp_path):
    out = tmp_path / "grades.csv"
    assert main(["export", "--csv", str(out), "--course-dir", str(graded.root)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(out.read_text().splitlines())}
    assert set(rows) == {"reference", "untouched", "flawed"}
    assert rows["flawed"]["lab0:binlogreg_loss_grad"] == "2"
    expected = [samples.expected_scores(lab, graded.tasks(lab)) for lab in lab_ids()]
    for student in ("flawed", "reference"):  # every lab's columns count in the totals
        assert float(rows[student]["total"]) == sum(sum(e[student].values()) for e in expected)
    assert float(rows["reference"]["max"]) == sum(
        tasks.max_points(lab) + tasks.written_points(lab) for lab in lab_ids()
    )
    assert float(rows["reference"]["total"]) == sum(
        sum(tasks.points(lab).values()) for lab in lab_ids()
    )  # and every bonus; the written answers wait for a TA:
    assert rows["reference"]["lab0:q_gmm_failure (written)"] == ""
    assert "answers to grade by hand (formgrader): lab0" in rows["reference"]["status"]
    assert rows["untouched"]["lab0:q_gmm_failure (written)"] == "0"
    assert "by hand" not in rows["untouched"]["status"]


def test_lab1_feedback_names_the_wrong_fcann2_gradient(graded):
    graded.feedback("lab1", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab1").read_text()))
    assert "✗ grad_W1 [seed=1, N=6, D=2, H=5, C=3]: max abs error" in text
    assert "the first epoch visits the samples in their stored order" in text
    assert "check_fcann2_loss_grad(fcann2_loss_grad, seed=1011" not in text  # hidden source


def test_feedback_explains_failures_without_hidden_source(graded):
    graded.feedback("lab0", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab0").read_text()))
    assert "grad_w" in text and "max abs error" in text  # says what differs
    assert "BEGIN HIDDEN TESTS" not in text
    assert "seed=hidden(" not in text  # a hidden case's source line
    assert "✗ grad_w [hidden case 1]: fails: max abs error ~" in text  # what, not which sizes
    assert "N=37" not in text


def test_lab2_flawed_sample_is_told_both_mistakes(graded):
    """A transposed FC weight gradient and a softmax that overflows on large logits."""
    graded.feedback("lab2", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab2").read_text()))
    assert "grad_weights [seed=1, N=3, D=4, M=2]: yours has shape (4, 2), expected (2, 4)" in text
    assert "large_logits [seed=1, N=4, C=3, logits times 1000: loss]: yours has nan" in text
    # the hints the flawed sample's numbers give (dlcourse.check.diagnosis)
    assert "↳ yours is the expected matrix transposed: are rows and columns swapped" in text
    assert "↳ yours is inf or nan where the expected value is finite" in text


def test_flawed_samples_feedback_shows_the_hints(graded):
    """The demo's flawed samples get the hint of each flaw, worded for hidden cases too."""
    graded.feedback("lab0", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab0").read_text()))
    assert "↳ yours is exactly the expected value with the sign flipped" in text  # grad_w, λ = 0
    graded.feedback("lab3", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab3").read_text()))
    assert "↳ do your gradients miss what flows back from later time steps" in text
    assert "↳ your logits are right without padding but not with it" in text
    graded.feedback("lab4", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab4").read_text()))
    assert "↳ is the margin left out?" in text
