"""End to end: assign -> autograde the bundled samples -> the exact expected scores, CSV, feedback."""
from __future__ import annotations

import csv
import re
from html import unescape

import pytest

from autograder import samples
from autograder.cli import grade_folder, main
from autograder.course import Course, lab_ids
from autograder.gradesheet import gradesheet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("course"))
    for lab in lab_ids():
        course.assign(lab)
    grade_folder(course, samples.SAMPLES_DIR, lab_ids())
    return course


@pytest.mark.parametrize("lab", lab_ids())
def test_samples_get_exactly_their_expected_scores(graded, lab):
    assert samples.mismatches(lab, graded.tasks(lab), gradesheet(graded, [lab]).rows) == []


def test_mismatches_name_a_wrong_score():
    tasks = [("a", 2.0), ("b", 1.0)]
    rows = {"reference": {"toy:a": 2.0, "toy:b": 0.5}, "untouched": {"toy:a": 0.0, "toy:b": 0.0},
            "flawed": {"toy:a": 2.0}}  # a lab without flaws: flawed must score full marks too
    assert samples.mismatches("toy", tasks, rows) == ["reference/toy:b scored 0.5, expected 1",
                                                      "flawed/toy:b scored None, expected 1"]


def test_flawed_sample_loses_points_and_reference_does_not(graded):
    sheet = gradesheet(graded, ["lab0"])
    assert sheet.total("reference") == sheet.max
    assert sheet.total("untouched") == 0
    assert sheet.total("flawed") == sheet.max - 2  # one wrong sign, one missing 1/N


def test_export_writes_one_row_per_student(graded, tmp_path):
    out = tmp_path / "grades.csv"
    assert main(["export", "--csv", str(out), "--course-dir", str(graded.root)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(open(out))}
    assert set(rows) == {"reference", "untouched", "flawed"}
    flawed_total = sum(sum(samples.expected_scores(lab, graded.tasks(lab))["flawed"].values())
                       for lab in lab_ids())
    max_total = sum(points for lab in lab_ids() for _, points in graded.tasks(lab))
    assert rows["flawed"]["lab0:binlogreg_loss_grad"] == "2"
    assert rows["flawed"]["total"] == f"{flawed_total:g}" and rows["reference"]["max"] == f"{max_total:g}"


def test_feedback_explains_failures_without_hidden_source(graded):
    graded.feedback("lab0", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab0").read_text()))
    assert "grad_w" in text and "max abs error" in text  # says what differs
    assert "BEGIN HIDDEN TESTS" not in text
    assert "binlogreg_loss_grad, seed=1031" not in text  # a hidden case's source line


def test_lab2_flawed_sample_is_told_both_mistakes(graded):
    """A transposed FC weight gradient and a softmax that overflows on large logits."""
    graded.feedback("lab2", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab2").read_text()))
    assert "grad_weights [seed=1, N=3, D=4, M=2]: yours has shape (4, 2), expected (2, 4)" in text
    assert "large_logits [seed=1, N=4, C=3, logits times 1000: loss]: yours has nan" in text
