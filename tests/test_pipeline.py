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
    sheet = gradesheet(graded, [lab])
    expected = samples.expected_scores(lab, graded.tasks(lab))
    for student, tasks in expected.items():
        got = {task: sheet.rows[student][f"{lab}:{task}"] for task in tasks}
        assert got == tasks, student


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
    assert rows["flawed"]["lab0:binlogreg_loss_grad"] == "2" and rows["flawed"]["total"] == "25"
    assert rows["reference"]["max"] == "27"


def test_feedback_explains_failures_without_hidden_source(graded):
    graded.feedback("lab0", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab0").read_text()))
    assert "grad_w" in text and "max abs error" in text  # says what differs
    assert "BEGIN HIDDEN TESTS" not in text
    assert "binlogreg_loss_grad, seed=1031" not in text  # a hidden case's source line
