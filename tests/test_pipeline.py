"""End to end: assign -> autograde the bundled samples -> the exact expected scores, CSV, feedback."""
from __future__ import annotations

import csv
import re
from html import unescape

import nbformat
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


@pytest.mark.parametrize("lab", lab_ids())
def test_reference_samples_run_every_cell(graded, lab):
    """The solutions run end to end with grading budgets: no cell of the graded reference sample,
    experiments included, raised an error."""
    nb = nbformat.read(graded.root / "autograded" / "reference" / lab / f"{lab}.ipynb", as_version=4)
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, cell in enumerate(nb.cells)
              for o in cell.get("outputs", []) if o.output_type == "error"]
    assert errors == []


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
    # totals over every lab in solutions/ (each helper's lab adds its own)
    expected = [samples.expected_scores(lab, graded.tasks(lab)) for lab in lab_ids()]
    flawed_total = sum(sum(e["flawed"].values()) for e in expected)
    full = sum(sum(e["reference"].values()) for e in expected)
    assert rows["flawed"]["lab0:binlogreg_loss_grad"] == "2"
    assert float(rows["flawed"]["total"]) == flawed_total
    assert float(rows["reference"]["max"]) == full


def test_feedback_explains_failures_without_hidden_source(graded):
    graded.feedback("lab0", "flawed")
    text = unescape(re.sub(r"<[^>]+>", "", graded.feedback_file("flawed", "lab0").read_text()))
    assert "grad_w" in text and "max abs error" in text  # says what differs
    assert "BEGIN HIDDEN TESTS" not in text
    assert "binlogreg_loss_grad, seed=1031" not in text  # a hidden case's source line
